"""GCSStorage against gcp-storage-emulator (wiped per test), and a fake for failure paths."""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from google.auth.credentials import AnonymousCredentials

from providers.base import SHA256_METADATA_KEY, CloudStorage
from providers.errors import (
    ConfigurationError,
    CredentialsError,
    IntegrityError,
    NotFoundError,
    UploadError,
)
from providers.gcp import GCPProvider
from providers.gcp.storage import GCSStorage, file_digests
from tests.emulators import Emulators, free_port
from tests.fakes.gcs import FakeGCS
from tests.fakes.recording_proxy import RecordingProxy
from tests.gcp.conftest import FAST_RETRY

pytestmark = pytest.mark.emulators
MIB = 1024 * 1024


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_is_a_cloud_storage(gcs: GCSStorage) -> None:
    assert isinstance(gcs, CloudStorage)
    assert gcs.uri("a/b.txt") == f"gs://{gcs.bucket_name}/a/b.txt"


def test_upload_records_sha256_and_service_checksums_match(gcs: GCSStorage, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    src = write(tmp_path / "a.bin", data)
    uri = gcs.upload(src, "dir/a.bin", {"owner": "tests"})
    assert uri == f"gs://{gcs.bucket_name}/dir/a.bin"

    head = gcs.head("dir/a.bin")
    assert head.size == len(data)
    assert head.sha256 == hashlib.sha256(data).hexdigest()
    assert head.metadata["owner"] == "tests"
    assert head.version_id and head.version_id.isdigit()
    # what the emulator computed from the bytes it received equals our local digests
    blob = gcs.client.bucket(gcs.bucket_name).get_blob("dir/a.bin")
    digests = file_digests(src)
    assert (blob.md5_hash, blob.crc32c) == (digests.md5, digests.crc32c)


def test_download_streams_verifies_and_leaves_no_temp_file(gcs: GCSStorage, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    gcs.upload(write(tmp_path / "src.bin", data), "k/src.bin")
    out = gcs.download("k/src.bin", tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == data
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.bin"]


def test_download_rejects_content_that_does_not_match_recorded_sha256(
    gcs: GCSStorage, tmp_path: Path
) -> None:
    # written by Google's client directly with a wrong sha256, as a corrupt copy would be
    blob = gcs.client.bucket(gcs.bucket_name).blob("bad.bin")
    blob.metadata = {SHA256_METADATA_KEY: "0" * 64}
    blob.upload_from_string(b"hello")
    with pytest.raises(IntegrityError, match="sha256 expected 0000"):
        gcs.download("bad.bin", tmp_path / "out" / "bad.bin")
    assert list((tmp_path / "out").iterdir()) == []


def test_list_with_prefix_and_delete(gcs: GCSStorage, tmp_path: Path) -> None:
    src = write(tmp_path / "f", b"x" * 10)
    for key in ("logs/2024/a", "logs/2024/b", "logs/2025/c", "other/d"):
        gcs.upload(src, key)
    assert sorted(o.key for o in gcs.list_objects("logs/")) == [
        "logs/2024/a",
        "logs/2024/b",
        "logs/2025/c",
    ]
    every = list(gcs.list_objects())
    assert len(every) == 4 and all(o.sha256 == hashlib.sha256(b"x" * 10).hexdigest() for o in every)
    assert gcs.delete("logs/2024/a") is True
    assert gcs.delete("logs/2024/a") is False
    assert sorted(o.key for o in gcs.list_objects("logs/2024/")) == ["logs/2024/b"]


def test_missing_object_and_bucket_are_not_found(gcs: GCSStorage, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no object 'nope'"):
        gcs.head("nope")
    with pytest.raises(NotFoundError):
        gcs.download("nope", tmp_path / "x")
    with pytest.raises(NotFoundError):
        gcs.open_read("nope")
    provider = GCPProvider(bucket="no-such-bucket-here")
    other = provider.get_storage()
    with pytest.raises(NotFoundError) as info:
        other.upload(write(tmp_path / "f", b"1"), "k")
    assert "bucket no-such-bucket-here" in str(info.value)


def test_keys_that_escape_are_refused(gcs: GCSStorage, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        gcs.upload(write(tmp_path / "f", b"1"), "../etc/passwd")


def test_upload_stream_checks_size_and_sha256(gcs: GCSStorage, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    src = write(tmp_path / "s", data)
    with src.open("rb") as fh:
        obj = gcs.upload_stream(fh, "s", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert obj.size == len(data) and obj.sha256 == hashlib.sha256(data).hexdigest()
    assert obj.verified  # the md5 the service computed matched the bytes read
    with src.open("rb") as fh, pytest.raises(IntegrityError, match="nothing was written"):
        gcs.upload_stream(fh, "wrong", size=len(data), sha256="f" * 64)
    with pytest.raises(NotFoundError):
        gcs.head("wrong")


def test_open_read_streams_in_chunks(gcs_provider: GCPProvider, tmp_path: Path) -> None:
    gcs_provider.chunk_size = 256 * 1024
    store = gcs_provider.get_storage()
    store.create_bucket()
    data = os.urandom(700_000)  # three ranged reads of 256 KiB
    store.upload(write(tmp_path / "r", data), "r")
    with store.open_read("r") as stream:
        first = stream.read(1000)
        rest = stream.read()
    assert first + rest == data


def test_generations(gcs: GCSStorage, tmp_path: Path) -> None:
    gcs.upload(write(tmp_path / "v", b"one"), "v")
    first = gcs.head("v").version_id
    time.sleep(0.01)  # the emulator numbers generations by clock
    gcs.upload(write(tmp_path / "v", b"two"), "v")
    second = gcs.head("v").version_id
    assert first and second and int(second) > int(first)
    versions = gcs.list_versions("v")
    assert versions[0].version_id == second and versions[0].is_latest
    assert versions[0].sha256 == hashlib.sha256(b"two").hexdigest()
    out = gcs.download("v", tmp_path / "v.out", version_id=second)
    assert out.read_bytes() == b"two"


def test_twenty_megabyte_resumable_upload(emulators: Emulators, tmp_path: Path) -> None:
    emulators.reset_gcs()
    data = os.urandom(20 * 1024 * 1024)
    src = write(tmp_path / "big.bin", data)
    # through a recording proxy, to see the chunks the SDK sent to the emulator
    with RecordingProxy(emulators.url("gcs")) as proxy:
        provider = GCPProvider(
            "specify-test",
            bucket="big-bucket",
            credentials=AnonymousCredentials(),
            endpoints={"storage": proxy.url},
            chunk_size=4 * 1024 * 1024,
        )
        store = provider.get_storage()
        store.create_bucket()
        started = time.perf_counter()
        store.upload(src, "big/big.bin")
        upload_s = time.perf_counter() - started
        ranges = [r for m, _, r in proxy.seen if m == "PUT"]
        assert ranges == [
            f"bytes {i * 4 * MIB}-{min((i + 1) * 4 * MIB, 20 * MIB) - 1}/{20 * MIB}"
            for i in range(5)
        ]
        # a small file goes in one multipart request
        proxy.seen.clear()
        store.upload(write(tmp_path / "small", b"s" * 1000), "small")
        assert [(m, r) for m, _, r in proxy.seen if m in ("POST", "PUT")] == [("POST", None)]
        # a lower threshold sends a 3 MiB file through a resumable session too
        low = GCSStorage(
            "big-bucket",
            client=store.client,
            project="specify-test",
            chunk_size=1 * MIB,
            resumable_threshold=2 * MIB,
        )
        proxy.seen.clear()
        low.upload(write(tmp_path / "mid", os.urandom(3 * MIB)), "mid")
        # (below 8 MiB the SDK is handed no size, so the session ends with a size-only PUT)
        assert [r for m, _, r in proxy.seen if m == "PUT"] == [
            f"bytes {i * MIB}-{(i + 1) * MIB - 1}/*" for i in range(3)
        ] + [f"bytes */{3 * MIB}"]

        blob = store.client.bucket("big-bucket").get_blob("big/big.bin")
        digests = file_digests(src)
        assert blob.size == len(data)
        assert (blob.md5_hash, blob.crc32c) == (digests.md5, digests.crc32c)
        assert blob.metadata[SHA256_METADATA_KEY] == hashlib.sha256(data).hexdigest()
        started = time.perf_counter()
        out = store.download("big/big.bin", tmp_path / "big.out")
        download_s = time.perf_counter() - started
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digests.sha256
    print(f"20 MiB resumable upload {upload_s:.2f} s, download {download_s:.2f} s")


def test_signed_url_v4_is_fetched_with_urllib(
    gcs: GCSStorage, tmp_path: Path, sa_info: dict[str, Any]
) -> None:
    gcs.upload(write(tmp_path / "page.html", b"<h1>hi</h1>"), "site/page.html")
    url = gcs.get_url("site/page.html", expires_in=600)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert url.startswith(os.environ["STORAGE_EMULATOR_HOST"])
    assert parts.path == f"/{gcs.bucket_name}/site/page.html"
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert query["X-Goog-Expires"] == ["600"]
    assert query["X-Goog-Credential"][0].startswith(sa_info["client_email"] + "/")
    assert len(query["X-Goog-Signature"][0]) == 512  # hex of a 2048-bit RSA signature
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"<h1>hi</h1>"
    for bad in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(ConfigurationError, match="seven days"):
            gcs.get_url("site/page.html", expires_in=bad)


def test_signed_url_needs_signing_credentials(gcs: GCSStorage) -> None:
    unsigned = GCSStorage(gcs.bucket_name, client=gcs.client, project=gcs.project)
    with pytest.raises(ConfigurationError, match="cannot sign"):
        unsigned.get_url("x")


def test_chunk_size_must_be_a_multiple_of_256_kib(gcs: GCSStorage) -> None:
    with pytest.raises(ConfigurationError, match="256 KiB"):
        GCSStorage("b", client=gcs.client, project="p", chunk_size=1000)


# ----------------------------------------------------------------- failure paths (fake)
def fake_provider(url: str, **kw: Any) -> GCPProvider:
    return GCPProvider(
        "proj-x",
        bucket="bucket-x",
        credentials=AnonymousCredentials(),
        endpoints={"storage": url},
        **kw,
    )


def test_unreachable_endpoint_is_retried_then_mapped(tmp_path: Path) -> None:
    store = fake_provider(f"http://127.0.0.1:{free_port()}").get_storage()
    store.retry_policy = FAST_RETRY
    with pytest.raises(UploadError) as info:
        store.upload(write(tmp_path / "f", b"1"), "k")
    assert info.value.retryable
    assert "project proj-x, bucket bucket-x" in str(info.value)


def test_auth_failure_is_a_credentials_error_and_not_retried() -> None:
    with FakeGCS() as fake:
        fake.statuses = [401, 401, 401]
        store = fake_provider(fake.url).get_storage()
        store.retry_policy = FAST_RETRY
        with pytest.raises(CredentialsError, match="GOOGLE_APPLICATION_CREDENTIALS"):
            store.head("k")
        assert len(fake.calls("GET", r".*/o/k")) == 1


def test_unavailable_is_retried_until_it_works() -> None:
    with FakeGCS() as fake:
        fake.statuses = [503, 429]
        fake.objects["k"] = {"name": "k", "bucket": "bucket-x", "size": "3", "generation": "7"}
        store = fake_provider(fake.url).get_storage()
        store.retry_policy = FAST_RETRY
        obj = store.head("k")
        assert (obj.key, obj.size, obj.version_id) == ("k", 3, "7")
        assert len(fake.calls("GET", r".*/o/k")) == 3
        fake.assert_clean()


def test_listing_follows_pages_and_retries_one_page() -> None:
    with FakeGCS() as fake:
        for i in range(5):
            fake.objects[f"p/{i}"] = {"name": f"p/{i}", "bucket": "bucket-x", "size": str(i)}
        fake.objects["q/x"] = {"name": "q/x", "bucket": "bucket-x", "size": "1"}
        store = fake_provider(fake.url).get_storage()
        store.retry_policy = FAST_RETRY
        objects, token = store.list_page("p/", page_size=2)
        assert [o.key for o in objects] == ["p/0", "p/1"] and token == "2"
        fake.statuses = [503]  # the next page fails once and is tried again alone
        rest, token = store.list_page("p/", token, page_size=2)
        assert [o.key for o in rest] == ["p/2", "p/3"]
        assert [o.key for o in store.list_objects("p/")] == [f"p/{i}" for i in range(5)]
        assert [r.arg("pageToken") for r in fake.calls("GET", r".*/b/bucket-x/o")][:3] == [
            None,
            "2",
            "2",
        ]
        fake.assert_clean()


def test_cmek_key_is_sent_with_the_upload(tmp_path: Path) -> None:
    key = "projects/proj-x/locations/us/keyRings/r/cryptoKeys/k"
    with FakeGCS() as fake:
        store = fake_provider(fake.url, kms_key_name=key).get_storage()
        store.upload(write(tmp_path / "f", b"secret-ish"), "enc")
        assert fake.objects["enc"]["kmsKeyName"] == key
        assert fake.objects["enc"]["metadata"][SHA256_METADATA_KEY] == (
            hashlib.sha256(b"secret-ish").hexdigest()
        )
        fake.assert_clean()


def test_audit_records_mutations_without_secrets(
    gcs: GCSStorage, tmp_path: Path, _audit_log: Path, sa_info: dict[str, Any]
) -> None:
    gcs.upload(write(tmp_path / "f", b"1"), "audited")
    gcs.delete("audited")
    records = [json.loads(line) for line in _audit_log.read_text().splitlines()]
    assert [r["what"] for r in records][-2:] == ["gcp.gcs.upload", "gcp.gcs.delete"]
    assert records[-1]["resource"] == "audited" and records[-1]["result"] == "ok"
    assert sa_info["private_key_id"] not in _audit_log.read_text()
