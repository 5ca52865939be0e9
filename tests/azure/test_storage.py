"""AzureBlobStorage against Azurite: every method, checksums, SAS URLs and error mapping."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from providers.azure.storage import AzureBlobStorage
from providers.base import CloudStorage
from providers.errors import (
    ConfigurationError,
    CredentialsError,
    IntegrityError,
    NotFoundError,
    UploadError,
)
from providers.retry import RetryPolicy
from tests.fakes.azure_blob_versions import FakeVersionedBlobs
from tests.fakes.azure_https import FakeAzureServer

pytestmark = pytest.mark.emulators
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_is_a_cloud_storage(blob_storage: AzureBlobStorage) -> None:
    assert isinstance(blob_storage, CloudStorage)
    assert blob_storage.uri("a/b.txt") == f"az://{blob_storage.container}/a/b.txt"
    assert "AccountKey" not in repr(blob_storage)


def test_upload_records_sha256_and_content_md5(
    blob_storage: AzureBlobStorage, tmp_path: Path
) -> None:
    data = b"hello azure\n" * 100
    uri = blob_storage.upload(
        write(tmp_path / "f.txt", data),
        "dir/f.txt",
        metadata={"content-kind": "text", "specify:deployment-id": "dep-1"},
    )
    assert uri == f"az://{blob_storage.container}/dir/f.txt"
    obj = blob_storage.head("dir/f.txt")
    assert obj.size == len(data)
    assert obj.sha256 == hashlib.sha256(data).hexdigest()
    assert obj.metadata["content_kind"] == "text"
    assert obj.metadata["specify_deployment_id"] == "dep-1"  # metadata names are identifiers
    props = blob_storage.client.get_blob_client(blob_storage.container, "dir/f.txt")
    md5 = props.get_blob_properties().content_settings.content_md5
    assert bytes(md5) == hashlib.md5(data).digest()


def test_20mb_upload_in_blocks_and_download_verified(tmp_path: Path, container_name: str) -> None:
    storage = AzureBlobStorage(
        container_name,
        connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"],
        max_block_size=4 * 1024 * 1024,
        max_single_put_size=1024 * 1024,
        max_concurrency=4,
    )
    storage.ensure_container()
    try:
        data = os.urandom(20 * 1024 * 1024)
        src = write(tmp_path / "big.bin", data)
        started = time.perf_counter()
        storage.upload(src, "big.bin")
        up_s = time.perf_counter() - started
        blob = storage.client.get_blob_client(container_name, "big.bin")
        blocks = blob.get_block_list("committed")[0]
        assert len(blocks) == 5  # 20 MiB in 4 MiB blocks
        obj = storage.head("big.bin")
        assert obj.size == len(data)
        assert obj.sha256 == hashlib.sha256(data).hexdigest()
        started = time.perf_counter()
        out = storage.download("big.bin", tmp_path / "out" / "big.bin")
        down_s = time.perf_counter() - started
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
        assert not list(out.parent.glob(".*part"))
        print(f"20 MiB to Azurite: upload {up_s:.2f}s, download {down_s:.2f}s")
    finally:
        storage.client.delete_container(container_name)


def test_download_refuses_content_that_does_not_match_its_checksum(
    blob_storage: AzureBlobStorage, tmp_path: Path
) -> None:
    blob_storage.upload(write(tmp_path / "a", b"original"), "a")
    # rewrite the blob behind our back, keeping the old sha256 in metadata
    blob = blob_storage.client.get_blob_client(blob_storage.container, "a")
    blob.upload_blob(b"tampered", overwrite=True, metadata=blob.get_blob_properties().metadata)
    with pytest.raises(IntegrityError, match="sha256 expected"):
        blob_storage.download("a", tmp_path / "a.out")
    assert not (tmp_path / "a.out").exists()


def test_upload_stream_open_read_and_list(blob_storage: AzureBlobStorage) -> None:
    payloads = {f"p/{i:03d}.bin": os.urandom(1000 + i) for i in range(7)}
    for key, data in payloads.items():
        obj = blob_storage.upload_stream(
            io.BytesIO(data), key, size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        # one Put Blob: the service answered with the MD5 of what it stored
        assert obj.size == len(data) and obj.verified
    blob_storage.upload_stream(
        io.BytesIO(b"x"), "q/other", size=1, sha256=hashlib.sha256(b"x").hexdigest()
    )
    listed = list(blob_storage.list_objects("p/", page_size=3))  # three pages
    assert [o.key for o in listed] == sorted(payloads)
    assert all(o.sha256 == hashlib.sha256(payloads[o.key]).hexdigest() for o in listed)
    assert len(list(blob_storage.list_objects())) == 8
    with blob_storage.open_read("p/003.bin") as stream:
        assert stream.read(10) == payloads["p/003.bin"][:10]
        assert stream.read() == payloads["p/003.bin"][10:]


def test_delete(blob_storage: AzureBlobStorage, tmp_path: Path) -> None:
    blob_storage.upload(write(tmp_path / "d", b"x"), "d")
    assert blob_storage.delete("d") is True
    assert blob_storage.delete("d") is False
    with pytest.raises(NotFoundError) as info:
        blob_storage.head("d")
    assert blob_storage.container in str(info.value)


def test_list_versions_without_versioning(blob_storage: AzureBlobStorage, tmp_path: Path) -> None:
    blob_storage.upload(write(tmp_path / "v", b"one"), "v")
    versions = blob_storage.list_versions("v")
    assert len(versions) == 1 and versions[0].is_latest
    assert versions[0].sha256 == hashlib.sha256(b"one").hexdigest()


def test_sas_url_reads_without_credentials(blob_storage: AzureBlobStorage, tmp_path: Path) -> None:
    blob_storage.upload(write(tmp_path / "s", b"shared content"), "s")
    url = blob_storage.get_url("s", expires_in=300)
    assert "sp=r&" in url and "sig=" in url
    with NO_PROXY.open(url, timeout=10) as resp:
        assert resp.read() == b"shared content"
    # read-only: the same SAS cannot write
    req = urllib.request.Request(
        url, data=b"overwrite", method="PUT", headers={"x-ms-blob-type": "BlockBlob"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        NO_PROXY.open(req, timeout=10)
    assert info.value.code == 403


def test_expired_sas_is_refused(blob_storage: AzureBlobStorage, tmp_path: Path) -> None:
    blob_storage.upload(write(tmp_path / "e", b"soon gone"), "e")
    url = blob_storage.get_url("e", expires_in=1)
    time.sleep(2.2)
    with pytest.raises(urllib.error.HTTPError) as info:
        NO_PROXY.open(url, timeout=10)
    assert info.value.code == 403


def test_sas_expiry_is_bounded(blob_storage: AzureBlobStorage) -> None:
    with pytest.raises(ConfigurationError):
        blob_storage.get_url("x", expires_in=8 * 24 * 3600)
    with pytest.raises(ConfigurationError):
        blob_storage.get_url("x", expires_in=0)


def test_missing_container_maps_to_not_found(tmp_path: Path) -> None:
    storage = AzureBlobStorage(
        "no-such-container", connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    )
    with pytest.raises(NotFoundError) as info:
        storage.upload(write(tmp_path / "f", b"x"), "f")
    text = str(info.value)
    assert (
        "devstoreaccount1" in text and "no-such-container" in text and "ContainerNotFound" in text
    )


def test_wrong_key_maps_to_credentials_error(tmp_path: Path) -> None:
    conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    bad_key = base64.b64encode(b"not the key" * 6).decode()
    parts = [p for p in conn.split(";") if p and not p.startswith("AccountKey=")]
    storage = AzureBlobStorage(
        "wrong-key", connection_string=";".join([*parts, f"AccountKey={bad_key}"])
    )
    with pytest.raises(CredentialsError) as info:
        storage.upload(write(tmp_path / "f", b"x"), "f")
    assert bad_key not in str(info.value)


def test_dropped_connections_are_retried_then_fail(tmp_path: Path) -> None:
    # a listener that accepts and hangs up at once: each SDK attempt is one connection
    accepted: list[int] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        port = server.getsockname()[1]
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                accepted.append(1)
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        conn_str = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=" + base64.b64encode(b"k" * 64).decode() + ";"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
        storage = AzureBlobStorage("dropped", connection_string=conn_str, sdk_retries=0)
        storage.retry_policy = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)
        try:
            with pytest.raises(UploadError) as info:
                storage.upload(write(tmp_path / "f", b"x"), "f")
        finally:
            stop.set()
            thread.join()
    assert info.value.retryable
    assert "devstoreaccount1" in str(info.value)
    assert len(accepted) == 3


def test_bad_key_is_rejected(blob_storage: AzureBlobStorage, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        blob_storage.upload(write(tmp_path / "f", b"x"), "../escape")


def test_versions_and_encryption_scope_on_a_versioned_account(
    fake_server: FakeAzureServer, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    # Azurite keeps no versions and ignores encryption scopes: a fake account that does
    fake = FakeVersionedBlobs(fake_server)
    client = BlobServiceClient.from_connection_string(
        fake.connection_string, connection_verify=str(tls_files[0])
    )
    storage = AzureBlobStorage("docs", client=client, encryption_scope="team-scope")
    storage.upload(write(tmp_path / "v1", b"first"), "report.txt")
    storage.upload(write(tmp_path / "v2", b"second!"), "report.txt")
    puts = fake_server.of("PUT", "/docs/report.txt")
    assert [p.headers["x-ms-encryption-scope"] for p in puts] == ["team-scope"] * 2
    assert puts[0].headers["x-ms-meta-sha256"] == hashlib.sha256(b"first").hexdigest()
    assert (
        base64.b64decode(puts[0].headers["x-ms-blob-content-md5"]) == hashlib.md5(b"first").digest()
    )

    assert storage.versioning_enabled() is True
    versions = storage.list_versions("report.txt")
    assert [v.size for v in versions] == [7, 5]  # newest first
    assert [v.is_latest for v in versions] == [True, False]
    assert versions[1].sha256 == hashlib.sha256(b"first").hexdigest()
    old = storage.download("report.txt", tmp_path / "old.txt", version_id=versions[1].version_id)
    assert old.read_bytes() == b"first"
    assert storage.head("report.txt").version_id == versions[0].version_id


def test_upload_stream_in_blocks_is_verified_block_by_block(
    blob_storage: AzureBlobStorage, container_name: str
) -> None:
    small_puts = AzureBlobStorage(
        container_name,
        connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"],
        max_single_put_size=4096,
        max_block_size=4096,
    )
    data = os.urandom(10_000)
    digest = hashlib.sha256(data).hexdigest()
    obj = small_puts.upload_stream(io.BytesIO(data), "blocks", size=len(data), sha256=digest)
    # every Put Block carried a transactional MD5 the service checked; the whole MD5 is set
    # on the block list (a commit answers with no MD5 of the content itself)
    assert obj.verified and obj.evidence == "azure:block-md5"
    assert (
        bytes(
            small_puts.client.get_blob_client(container_name, "blocks")
            .get_blob_properties()
            .content_settings.content_md5
        )
        == hashlib.md5(data).digest()
    )
    head = small_puts.head("blocks")
    assert (head.size, head.sha256) == (len(data), digest)
