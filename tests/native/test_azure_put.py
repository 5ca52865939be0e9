"""The lean Azure Put Blob writer (providers/native/azure_put) on the native data plane.

Its Shared Key signatures are checked three ways: the published examples of the Azure
Storage REST contract (tests/native/vectors, with provenance), azure-storage-blob's own
signing policy on the same requests, and Azurite, which verifies every signature. Which
client sent a write is told by its User-Agent as a proxy in front of Azurite saw it
(specify-native-azure/... for the lean writer, azsdk-python-storage-blob/... for the SDK),
and by the evidence the store reports for the write."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from providers.azure.storage import AzureBlobStorage
from providers.errors import CloudError, CredentialsError
from providers.native import DataPlaneSettings, byte_path, path_name
from providers.native.azure_put import (
    USER_AGENT,
    PutBlob,
    canonicalized_resource,
    plain_value,
    sign,
    string_to_sign,
)
from providers.retry import RetryPolicy
from tests.emulators import AZURITE_ACCOUNT, AZURITE_KEY
from tests.fakes.faulty_proxy import FaultyProxy
from tests.native.azure_common import NATIVE, conn_string, sha

VECTORS = json.loads((Path(__file__).parent / "vectors" / "shared_key.json").read_text())


# ---------------------------------------------------------------- the published contract
@pytest.mark.parametrize("case", VECTORS["string_to_sign"], ids=lambda c: c["name"])
def test_string_to_sign_is_the_published_example(case: dict[str, Any]) -> None:
    got = string_to_sign(
        case["account"], case["method"], case["path"], case["query"], case["headers"]
    )
    assert got == case["expected"]


@pytest.mark.parametrize("case", VECTORS["canonicalized_resource"], ids=lambda c: c["name"])
def test_canonicalized_resource_is_the_published_example(case: dict[str, Any]) -> None:
    assert canonicalized_resource(case["account"], case["path"], case["query"]) == case["expected"]


def test_a_zero_length_body_signs_an_empty_content_length() -> None:
    """Since version 2015-02-21 a zero Content-Length is an empty line, not '0'."""
    with_zero = string_to_sign("a", "PUT", "/c/b", (), {"Content-Length": "0"})
    assert with_zero.split("\n")[3] == ""
    assert string_to_sign("a", "PUT", "/c/b", (), {"Content-Length": "11"}).split("\n")[3] == "11"


KEYS = ["a.bin", "d/sp ace/é😀.bin", "pct%25?x&y#z", "tilde~x", "UPPER/lower"]


@pytest.mark.parametrize("key", KEYS)
def test_signature_is_the_one_the_azure_sdk_computes(key: str) -> None:
    """azure-storage-blob's SharedKeyCredentialPolicy signs the same request alike
    (metadata names with '_' and '-' order by the service's collation, not by ASCII)."""
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.pipeline.transport import HttpRequest
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    client = BlobServiceClient.from_connection_string(conn_string("http://127.0.0.1:9"))
    writer = PutBlob.from_client(client, "cont")
    assert writer is not None and writer.auth == "shared-key"
    body = os.urandom(100)
    meta = {"sha256": sha(body), "a_b": "1", "ab": "2", "a": "3", "owner_name": "x y"}
    target, headers = writer.request(key, body, hashlib.md5(body).digest(), meta)
    ours = headers.pop("Authorization")
    request = HttpRequest("PUT", f"http://127.0.0.1:9{target}", headers=headers)
    SharedKeyCredentialPolicy(AZURITE_ACCOUNT, AZURITE_KEY).on_request(
        PipelineRequest(request, PipelineContext(None))
    )
    assert request.headers["Authorization"] == ours
    assert ours.startswith(f"SharedKey {AZURITE_ACCOUNT}:")


def test_sign_is_hmac_sha256_of_the_decoded_key() -> None:
    import hmac

    key = base64.b64decode(AZURITE_KEY)
    expected = base64.b64encode(hmac.new(key, b"x\ny", hashlib.sha256).digest()).decode()
    assert sign(key, "x\ny") == expected


def test_plain_values_only() -> None:
    assert plain_value("abc def") and plain_value("") and plain_value("a=b;c/d")
    for bad in ("two  spaces", " lead", "trail ", "tab\tx", "new\nline", "é"):
        assert not plain_value(bad), bad


# ---------------------------------------------------------------- against Azurite


@pytest.fixture
def passthrough(emulators: object) -> Iterator[FaultyProxy]:
    with FaultyProxy(os.environ["SPECIFY_AZURITE_URL"], p503=0, pdrop=0) as proxy:
        yield proxy


@pytest.fixture
def container(emulators: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SPECIFY_RETRY_WAIT", "0.01")
    name = f"lean-{uuid.uuid4().hex[:12]}"
    direct = AzureBlobStorage(name, connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    direct.create_bucket()
    yield name
    direct.client.delete_container(name)


def direct_store(container: str) -> AzureBlobStorage:
    return AzureBlobStorage(
        container,
        connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"],
        data_plane=DataPlaneSettings("sdk"),
    )


def lean_puts(proxy: FaultyProxy) -> list[str]:
    return [path for m, path, a in proxy.agents if m == "PUT" and a == USER_AGENT]


@pytest.mark.emulators
def test_native_writes_are_one_lean_put_each(passthrough: FaultyProxy, container: str) -> None:
    store = AzureBlobStorage(container, connection_string=conn_string(passthrough.url),
                             data_plane=NATIVE)  # fmt: skip
    for i, key in enumerate(KEYS):
        data = os.urandom(50_000 + i)
        written = store.upload_stream(
            io.BytesIO(data), key, size=len(data), sha256=sha(data), metadata={"Owner-Name": "t"}
        )
        assert written.verified and written.evidence == "azure:native-put-blob-md5", key
        assert written.hashes == {"md5": hashlib.md5(data).hexdigest()}
        assert written.etag and written.last_modified
        # what the SDK sees of it: the bytes, the service's MD5, our sha256, the metadata
        head = direct_store(container).head(key)
        assert head.hashes["md5"] == hashlib.md5(data).hexdigest()
        assert head.sha256 == sha(data) and head.metadata == {"owner_name": "t"}
        assert head.etag == written.etag and head.size == len(data)
        props = direct_store(container)._container.get_blob_client(key).get_blob_properties()
        assert props.blob_type == "BlockBlob"
        assert props.content_settings.content_type == "application/octet-stream"
        with direct_store(container).open_read(key) as fh:
            assert fh.read() == data
    assert len(lean_puts(passthrough)) == len(KEYS)
    assert not [a for m, _, a in passthrough.agents if m == "PUT" and a != USER_AGENT]


@pytest.mark.emulators
def test_sdk_mode_never_uses_the_lean_writer(passthrough: FaultyProxy, container: str) -> None:
    store = AzureBlobStorage(container, connection_string=conn_string(passthrough.url),
                             data_plane=DataPlaneSettings("sdk"))  # fmt: skip
    data = os.urandom(40_000)
    written = store.upload_stream(io.BytesIO(data), "s.bin", size=len(data), sha256=sha(data))
    assert written.verified and written.evidence == "azure:put-blob-md5"
    assert lean_puts(passthrough) == []
    assert any(a.startswith("azsdk-python-storage-blob") for _, _, a in passthrough.agents)


@pytest.mark.emulators
def test_azurite_refuses_a_wrong_signature_and_nothing_is_written(container: str) -> None:
    """Azurite checks Shared Key signatures: a key that is not the account's is refused
    (so the passing writes above prove our signatures right), and nothing is stored."""
    wrong = base64.b64encode(b"not the key" * 6).decode()
    store = AzureBlobStorage(
        container,
        connection_string=conn_string(os.environ["SPECIFY_AZURITE_URL"], key=wrong),
        data_plane=NATIVE,
    )
    assert byte_path(store).writer is not None  # type: ignore[union-attr]
    data = os.urandom(20_000)
    with pytest.raises(CredentialsError):
        store.upload_stream(io.BytesIO(data), "w.bin", size=len(data), sha256=sha(data))
    assert not direct_store(container).exists("w.bin")


@pytest.mark.emulators
def test_a_flipped_byte_is_refused_by_the_service_and_resent(
    container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One byte of the Put Blob body flipped on the way: Azurite computes the MD5 of what
    it received, refuses it (Content-MD5 mismatch) before storing, and the store resends
    the body from memory; with no attempts left the old blob stays as it was."""
    old, new = os.urandom(60_000), os.urandom(60_000)
    direct_store(container).upload_stream(io.BytesIO(old), "f.bin", size=60_000, sha256=sha(old))
    with FaultyProxy(os.environ["SPECIFY_AZURITE_URL"], p503=0, pdrop=0,
                     schedule=["flip_request"]) as proxy:  # fmt: skip
        store = AzureBlobStorage(container, connection_string=conn_string(proxy.url),
                                 data_plane=NATIVE)  # fmt: skip
        written = store.upload_stream(io.BytesIO(new), "f.bin", size=60_000, sha256=sha(new))
        assert proxy.counts["flip_request"] == 1
        statuses = [status for m, _, status, _ in proxy.log if m == "PUT"]
        assert statuses == [400, 201], statuses
    assert written.verified and written.evidence == "azure:native-put-blob-md5"
    with direct_store(container).open_read("f.bin") as fh:
        assert fh.read() == new

    newer = os.urandom(60_000)
    with FaultyProxy(os.environ["SPECIFY_AZURITE_URL"], p503=0, pdrop=0,
                     schedule=["flip_request"]) as proxy:  # fmt: skip
        store = AzureBlobStorage(container, connection_string=conn_string(proxy.url),
                                 data_plane=NATIVE)  # fmt: skip
        store.retry_policy = RetryPolicy(attempts=1)  # no attempt left after the refusal
        with pytest.raises(CloudError, match="checksum mismatch"):
            store.upload_stream(io.BytesIO(newer), "f.bin", size=60_000, sha256=sha(newer))
    with direct_store(container).open_read("f.bin") as fh:
        assert fh.read() == new, "a refused body replaced the blob"


@pytest.mark.emulators
def test_a_sas_takes_the_lean_path(passthrough: FaultyProxy, container: str) -> None:
    """A connection string with a SAS (Azurite checks SAS signatures too): the lean writer
    carries the SAS; reads stay on the SDK (obstore is not given a SAS here)."""
    sas = generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    conn = f"BlobEndpoint={passthrough.url}/{AZURITE_ACCOUNT};SharedAccessSignature={sas}"
    store = AzureBlobStorage(container, connection_string=conn, data_plane=NATIVE)
    native = byte_path(store)
    assert native is not None and native.writer is not None and native.writer.auth == "sas"
    assert not native.reads and path_name(store) == "native"
    data = os.urandom(30_000)
    written = store.upload_stream(io.BytesIO(data), "sas.bin", size=len(data), sha256=sha(data))
    assert written.verified and written.evidence == "azure:native-put-blob-md5"
    with store.open_read("sas.bin") as fh:
        assert fh.read() == data
    assert len(lean_puts(passthrough)) == 1
    # a SAS without write permission is refused, and nothing is written
    read_only = generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    conn = f"BlobEndpoint={passthrough.url}/{AZURITE_ACCOUNT};SharedAccessSignature={read_only}"
    store = AzureBlobStorage(container, connection_string=conn, data_plane=NATIVE)
    with pytest.raises(CloudError):
        store.upload_stream(io.BytesIO(data), "ro.bin", size=len(data), sha256=sha(data))
    assert not direct_store(container).exists("ro.bin")


def test_a_token_credential_keeps_the_sdk_for_writes() -> None:
    class Token:
        def get_token(self, *scopes: str, **kw: Any) -> Any:  # never called here
            raise AssertionError("no token is needed to choose the path")

    client = BlobServiceClient("https://acct.blob.core.windows.net", credential=Token())
    store = AzureBlobStorage("cont", client=client, data_plane=NATIVE)
    native = byte_path(store)
    assert native is not None and native.reads and native.writer is None


@pytest.mark.emulators
def test_values_the_writer_cannot_sign_exactly_go_through_the_sdk(
    passthrough: FaultyProxy, container: str
) -> None:
    store = AzureBlobStorage(container, connection_string=conn_string(passthrough.url),
                             data_plane=NATIVE)  # fmt: skip
    data = os.urandom(33_000)
    written = store.upload_stream(
        io.BytesIO(data), "m.bin", size=len(data), sha256=sha(data), metadata={"a": "x  y"}
    )
    assert written.verified and written.evidence == "azure:put-blob-md5"
    assert lean_puts(passthrough) == []


@pytest.mark.emulators
def test_a_blob_over_the_single_shot_size_keeps_the_block_path(
    passthrough: FaultyProxy, container: str
) -> None:
    client = BlobServiceClient.from_connection_string(
        conn_string(passthrough.url), max_single_put_size=64 * 1024, max_block_size=64 * 1024
    )
    store = AzureBlobStorage(container, client=client, max_single_put_size=64 * 1024,
                             max_block_size=64 * 1024, data_plane=NATIVE)  # fmt: skip
    data = os.urandom(150_000)
    written = store.upload_stream(io.BytesIO(data), "big.bin", size=len(data), sha256=sha(data))
    assert written.evidence == "azure:block-md5"
    assert lean_puts(passthrough) == []


@pytest.mark.emulators
def test_the_lean_writer_goes_through_the_proxy_of_the_environment(
    passthrough: FaultyProxy, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", passthrough.url)
    azurite = os.environ["SPECIFY_AZURITE_URL"]
    store = AzureBlobStorage(container, connection_string=conn_string(azurite), data_plane=NATIVE)
    data = os.urandom(30_000)
    written = store.upload_stream(io.BytesIO(data), "p.bin", size=len(data), sha256=sha(data))
    assert written.evidence == "azure:native-put-blob-md5"
    sent = lean_puts(passthrough)
    # a forward proxy receives the absolute URL of the endpoint the client was given
    assert len(sent) == 1 and sent[0].startswith(f"{azurite}/{AZURITE_ACCOUNT}/"), sent
    # NO_PROXY naming the host: straight to Azurite
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    store = AzureBlobStorage(container, connection_string=conn_string(azurite), data_plane=NATIVE)
    store.upload_stream(io.BytesIO(data), "q.bin", size=len(data), sha256=sha(data))
    assert len(lean_puts(passthrough)) == 1
    assert direct_store(container).exists("q.bin")


@pytest.fixture
def tls_azurite(emulators: object, tmp_path: Path) -> Iterator[tuple[FaultyProxy, Path]]:
    """Azurite behind https with a certificate from a private CA (the test's own)."""
    import ssl

    from tests.native.test_data_plane import private_ca

    ca, cert, key = private_ca(tmp_path)
    proxy = FaultyProxy(os.environ["SPECIFY_AZURITE_URL"], p503=0, pdrop=0)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    proxy._server.socket = ctx.wrap_socket(proxy._server.socket, server_side=True)
    with proxy:
        yield proxy, ca


@pytest.mark.emulators
def test_the_lean_writer_trusts_the_clients_ca_bundle(
    tls_azurite: tuple[FaultyProxy, Path], container: str
) -> None:
    proxy, ca = tls_azurite
    url = proxy.url.replace("http://", "https://")
    conn = (
        f"DefaultEndpointsProtocol=https;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={url}/{AZURITE_ACCOUNT};"
    )
    client = BlobServiceClient.from_connection_string(conn, connection_verify=str(ca))
    store = AzureBlobStorage(container, client=client, data_plane=NATIVE)
    data = os.urandom(40_000)
    written = store.upload_stream(io.BytesIO(data), "t.bin", size=len(data), sha256=sha(data))
    assert written.evidence == "azure:native-put-blob-md5"
    assert len(lean_puts(proxy)) == 1
    # a client that trusts only the default roots is refused by the private certificate,
    # on the lean path too, and nothing is written
    system = AzureBlobStorage(
        container, client=BlobServiceClient.from_connection_string(conn), data_plane=NATIVE
    )
    with pytest.raises(CloudError, match=r"TLS|certificate|SSL"):
        system.upload_stream(io.BytesIO(data), "u.bin", size=len(data), sha256=sha(data))
    assert not direct_store(container).exists("u.bin")
    assert len(lean_puts(proxy)) == 1
