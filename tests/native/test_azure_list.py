"""The lean Azure requests without the SDK: List Blobs (providers/native/azure_list), the
account read from a connection string (providers/native/azure_account), and a store that
never imports azure.storage.blob for what those cover.

Every field of a lean listing is compared with azure-storage-blob's own reading of the
same container on Azurite (which checks every signature); the connection-string reading
with the SDK client built from the same string; the signing order with the SDK's."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import string
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from providers.azure.storage import AzureBlobStorage
from providers.errors import BucketNotFoundError, CredentialsError
from providers.native import byte_path
from providers.native.azure_account import API_VERSION, AzureAccount
from providers.native.azure_list import parse_page
from providers.native.azure_put import USER_AGENT, _compare
from tests.emulators import AZURITE_ACCOUNT, AZURITE_KEY
from tests.fakes.faulty_proxy import FaultyProxy
from tests.native.azure_common import NATIVE, SDK, conn_string, sha

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- against the SDK itself
def test_the_api_version_is_the_one_the_sdk_sends() -> None:
    client = BlobServiceClient.from_connection_string(conn_string("http://127.0.0.1:1"))
    assert client.api_version == API_VERSION


def test_the_signing_order_is_the_sdks() -> None:
    from azure.storage.blob._shared.authentication import compare

    rng = random.Random(18)
    alphabet = string.ascii_letters + string.digits + "-_"
    names = ["x-ms-meta-a_b", "x-ms-meta-ab", "x-ms-meta-a-b", "x-ms-meta-AB", "x-ms-date"]
    names += ["x-ms-" + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
              for _ in range(300)]  # fmt: skip
    for a in names:
        for b in names[:40]:
            assert _compare(a, b) == compare(a, b), (a, b)


CONNECTION_STRINGS = [
    conn_string("http://127.0.0.1:10000"),
    f"DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey={AZURITE_KEY};"
    "EndpointSuffix=core.windows.net",
    f"AccountName=acct2;AccountKey={AZURITE_KEY}",
    f"DefaultEndpointsProtocol=https;AccountName=acct3;AccountKey={AZURITE_KEY};"
    "EndpointSuffix=core.chinacloudapi.cn;",
    "BlobEndpoint=https://acct4.blob.core.windows.net/;SharedAccessSignature=sv=2024-01-01&sig=abc%3D",
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=sv=1&sig=x",
]


@pytest.mark.parametrize("text", CONNECTION_STRINGS)
def test_a_connection_string_is_read_as_the_sdk_reads_it(text: str) -> None:
    lean = AzureAccount.from_connection_string(text)
    sdk = AzureAccount.from_client(BlobServiceClient.from_connection_string(text))
    assert lean is not None and sdk is not None
    assert lean == sdk
    assert (lean.key, lean.sas) == (sdk.key, sdk.sas)  # not compared by ==: repr=False only
    assert AZURITE_KEY not in repr(lean)


@pytest.mark.parametrize(
    "text",
    [
        "UseDevelopmentStorage=true",
        "AccountName=a",  # no key, no SAS
        "AccountName=a;AccountKey=not base64!",
        "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=1",  # no sig
        "garbage",
        f"AccountName=a;AccountKey={AZURITE_KEY};BlobSecondaryEndpoint=https://b",
    ],
)
def test_what_it_cannot_read_exactly_is_left_to_the_sdk(text: str) -> None:
    assert AzureAccount.from_connection_string(text) is None


def test_parse_page_reads_encoded_names_metadata_md5_and_the_marker() -> None:
    """An EnumerationResults answer of the shape the List Blobs reference documents (the
    Blob elements with Properties and Metadata; a Name percent-encoded when it carries
    characters XML 1.0 cannot; NextMarker empty after the last page)."""
    md5 = base64.b64encode(hashlib.md5(b"x", usedforsecurity=False).digest()).decode()
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://myaccount.blob.core.windows.net/"
    ContainerName="mycontainer">
  <Prefix>d/</Prefix><MaxResults>2</MaxResults>
  <Blobs>
    <Blob><Name>d/a &amp; b.txt</Name><VersionId>2026-01-01T00:00:00.0000000Z</VersionId>
      <Properties><Last-Modified>Wed, 09 Sep 2009 09:20:02 GMT</Last-Modified>
        <Etag>0x8CBFF45D8A29A19</Etag><Content-Length>100</Content-Length>
        <Content-Type>text/html</Content-Type><Content-MD5>{md5}</Content-MD5>
        <BlobType>BlockBlob</BlobType></Properties>
      <Metadata><sha256>abc</sha256><Color>blue</Color></Metadata></Blob>
    <Blob><Name Encoded="true">d/%EF%BF%BEodd</Name>
      <Properties><Last-Modified>Thu, 10 Sep 2009 09:20:02 GMT</Last-Modified>
        <Etag>"0x8CBFF45D8B4C212"</Etag><Content-Length>0</Content-Length>
        <Content-MD5 /></Properties></Blob>
  </Blobs>
  <NextMarker>2!64!bWFya2Vy</NextMarker>
</EnumerationResults>""".encode()
    entries, marker = parse_page(body)
    assert marker == "2!64!bWFya2Vy"
    first, second = entries
    assert first.name == "d/a & b.txt" and first.size == 100
    assert first.etag == "0x8CBFF45D8A29A19" and second.etag == "0x8CBFF45D8B4C212"
    assert first.content_md5 == hashlib.md5(b"x", usedforsecurity=False).digest()
    assert first.metadata == {"sha256": "abc", "Color": "blue"}
    assert first.last_modified == datetime(2009, 9, 9, 9, 20, 2, tzinfo=UTC)
    assert first.version_id == "2026-01-01T00:00:00.0000000Z"
    assert second.name == "d/\ufffeodd" and second.content_md5 is None and second.metadata == {}
    last = b"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"
    assert parse_page(last) == ([], None)


# ---------------------------------------------------------------- against Azurite
@pytest.fixture
def filled(emulators: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A container with blobs written by the SDK (metadata, Content-MD5) and by the lean
    writer, under two prefixes, with names that need quoting."""
    monkeypatch.setenv("SPECIFY_RETRY_WAIT", "0.01")
    name = f"list-{uuid.uuid4().hex[:12]}"
    sdk = AzureBlobStorage(
        name, connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"], data_plane=SDK
    )
    sdk.create_bucket()
    lean = AzureBlobStorage(
        name, connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"], data_plane=NATIVE
    )
    keys = [f"p/{i:02d}.bin" for i in range(7)] + ["p/sp ace/é😀.bin", "p/pct%25&x", "q/z"]
    for i, key in enumerate(keys):
        data = os.urandom(100 + i)
        store = sdk if i % 2 else lean
        store.upload_stream(io.BytesIO(data), key, size=len(data), sha256=sha(data),
                            metadata={"colour": f"c{i}"})  # fmt: skip
    yield name, sorted(keys)
    sdk.client.delete_container(name)


FIELDS = ("key", "size", "last_modified", "etag", "sha256", "metadata", "version_id", "hashes")


def fields(obj: object) -> tuple[object, ...]:
    return tuple(getattr(obj, f) for f in FIELDS)


@pytest.mark.emulators
def test_a_lean_listing_is_the_sdks_page_by_page(
    filled: tuple[str, list[str]], emulators: object
) -> None:
    name, keys = filled
    conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    with FaultyProxy(os.environ["SPECIFY_AZURITE_URL"], p503=0, pdrop=0) as proxy:
        lean = AzureBlobStorage(name, connection_string=conn_string(proxy.url), data_plane=NATIVE)
        sdk = AzureBlobStorage(name, connection_string=conn, data_plane=SDK)
        assert byte_path(lean) is not None and byte_path(lean).lister is not None  # type: ignore[union-attr]
        for prefix in ("", "p/", "p/sp ace/", "nothing/"):
            token_lean: str | None = None
            token_sdk: str | None = None
            pages = 0
            while True:
                got, token_lean = lean.list_page(prefix, token_lean, page_size=3)
                want, token_sdk = sdk.list_page(prefix, token_sdk, page_size=3)
                assert [fields(o) for o in got] == [fields(o) for o in want]
                assert token_lean == token_sdk
                pages += 1
                if token_lean is None:
                    break
            expected = [k for k in keys if k.startswith(prefix)]
            assert pages == max(1, -(-len(expected) // 3))
            assert [o.key for o in lean.list_objects(prefix)] == expected
        listed = {o.key: o for o in lean.list_objects()}
        assert listed["p/00.bin"].metadata == {"colour": "c0"}
        assert listed["p/00.bin"].sha256 and listed["p/00.bin"].hashes["md5"]
        # every listing request went through the lean client, signed (Azurite checks)
        gets = [(path, a) for m, path, a in proxy.agents if m == "GET"]
        assert gets and all(a == USER_AGENT for _, a in gets), gets
        assert all("comp=list" in path for path, _ in gets)


@pytest.mark.emulators
def test_a_refused_signature_is_a_clear_credentials_error(filled: tuple[str, list[str]]) -> None:
    name, _ = filled
    wrong = base64.b64encode(b"k" * 64).decode()
    store = AzureBlobStorage(
        name, connection_string=conn_string(os.environ["SPECIFY_AZURITE_URL"], wrong),
        data_plane=NATIVE,
    )  # fmt: skip
    with pytest.raises(CredentialsError) as caught:
        list(store.list_objects())
    text = str(caught.value)
    assert "not authorized" in text and "AZURE_STORAGE_CONNECTION_STRING" in caught.value.hint
    assert wrong not in text and wrong not in (caught.value.hint or "")


@pytest.mark.emulators
def test_a_missing_container_is_named(emulators: object) -> None:
    store = AzureBlobStorage(
        f"none-{uuid.uuid4().hex[:8]}",
        connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"],
        data_plane=NATIVE,
    )
    with pytest.raises(BucketNotFoundError, match="Create the container first"):
        list(store.list_objects())


@pytest.mark.emulators
def test_a_sas_lists_lean_and_a_sas_without_list_is_refused(filled: tuple[str, list[str]]) -> None:
    name, keys = filled
    url = os.environ["SPECIFY_AZURITE_URL"]

    def store(**perm: bool) -> AzureBlobStorage:
        sas = generate_container_sas(
            AZURITE_ACCOUNT, name, account_key=AZURITE_KEY,
            permission=ContainerSasPermissions(**perm),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )  # fmt: skip
        conn = f"BlobEndpoint={url}/{AZURITE_ACCOUNT};SharedAccessSignature={sas}"
        return AzureBlobStorage(name, connection_string=conn, data_plane=NATIVE)

    listing = store(read=True, list=True)
    assert byte_path(listing).lister.auth == "sas"  # type: ignore[union-attr]
    assert [o.key for o in listing.list_objects()] == keys
    with pytest.raises(CredentialsError):
        list(store(read=True).list_objects())


# ---------------------------------------------------------------- start-up
PROBE = """
import json, sys
from commands.main import main
sys.argv = ["specify", "cloud", "replicate", sys.argv[1], "--to", sys.argv[2], "--json"]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
heavy = [m for m in ("azure.storage.blob", "aiohttp", "google.cloud.storage") if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.emulators
def test_a_run_to_azure_with_an_account_key_never_imports_the_blob_sdk(
    emulators: object, tmp_path: Path
) -> None:
    name = f"boot-{uuid.uuid4().hex[:12]}"
    AzureBlobStorage(name, connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"],
                     data_plane=SDK).create_bucket()  # fmt: skip
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(5):
        (src / "d" / f"{i}.bin").write_bytes(os.urandom(1000 + i))
    env = {**os.environ, "PYTHONPATH": str(REPO), "SPECIFY_STATE_DIR": str(tmp_path / "st"),
           "SPECIFY_AUDIT_LOG": "off"}  # fmt: skip
    env.pop("SPECIFY_DATA_PLANE", None)

    def run() -> tuple[dict[str, object], dict[str, object]]:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, str(src), f"az://{name}"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        probe = json.loads(proc.stderr.strip().splitlines()[-1])
        return probe, json.loads(proc.stdout)

    probe, report = run()
    assert probe == {"code": 0, "heavy": []}, probe
    (target,) = report["targets"]  # type: ignore[misc]
    assert target["ok"] and target["copied"] == 5
    probe, report = run()  # the no-op run lists the container, lean too
    assert probe == {"code": 0, "heavy": []}, probe
    assert report["targets"][0]["skipped"] == 5  # type: ignore[index]
