"""The native data plane (providers/native): who chooses, and that its requests use the
settings of the store's own SDK client (endpoint, CA bundle, proxy), against moto.

Which client sent a request is told by its User-Agent as the proxy in front of moto saw
it (object_store/... for obstore, Boto3/... for the SDK)."""

from __future__ import annotations

import hashlib
import io
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from providers.aws.adapter import client_config
from providers.aws.storage import S3Storage
from providers.errors import CloudError, ConfigurationError
from providers.local.storage import LocalStorage
from providers.native import DataPlaneSettings, byte_path, path_name
from tests.fakes.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.emulators

REPO = Path(__file__).resolve().parents[2]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def s3_client(endpoint: str, verify: str | bool | None = None, **config: Any) -> Any:
    merged = client_config("s3", custom_endpoint=True)
    if config:
        merged = merged.merge(Config(**config))
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=merged, verify=verify
    )


@pytest.fixture
def bucket() -> str:
    name = f"native-{uuid.uuid4().hex[:12]}"
    S3Storage(s3_client(os.environ["SPECIFY_MOTO_URL"]), name).create_bucket()
    return name


@pytest.fixture
def passthrough() -> Iterator[FaultyProxy]:
    """A proxy in front of moto that forwards everything unchanged and logs agents."""
    with FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0) as proxy:
        yield proxy


def object_store_requests(proxy: FaultyProxy, key: str) -> list[str]:
    return [m for m, path, a in proxy.agents if key in path and a.startswith("object_store")]


def test_unknown_setting_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="SPECIFY_DATA_PLANE"):
        DataPlaneSettings.from_env({"SPECIFY_DATA_PLANE": "fast"})
    assert DataPlaneSettings.from_env({}).mode == "auto"
    assert DataPlaneSettings.from_env({"SPECIFY_DATA_PLANE": " SDK "}).mode == "sdk"


def test_cli_exits_2_on_a_bad_setting_before_writing(tmp_path: Path, bucket: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"a" * 1000)
    env = {**os.environ, "SPECIFY_DATA_PLANE": "bogus", "PYTHONPATH": str(REPO),
           "SPECIFY_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    cmd = [sys.executable, "-m", "commands", "cloud", "replicate", str(src), "--to",
           f"s3://{bucket}"]  # fmt: skip
    run = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "SPECIFY_DATA_PLANE" in run.stderr and "auto, sdk, native" in run.stderr
    store = S3Storage(s3_client(os.environ["SPECIFY_MOTO_URL"]), bucket)
    assert list(store.list_objects()) == []


def test_one_place_chooses_per_store(bucket: str, tmp_path: Path) -> None:
    client = s3_client(os.environ["SPECIFY_MOTO_URL"])
    auto, sdk = DataPlaneSettings("auto"), DataPlaneSettings("sdk")
    assert path_name(S3Storage(client, bucket, data_plane=auto)) == "native"
    assert path_name(S3Storage(client, bucket, sse="AES256", data_plane=auto)) == "native"
    # under SSE-KMS the ETag is no MD5: nothing would verify a native write
    kms = S3Storage(client, bucket, sse="aws:kms", kms_key_id="k", data_plane=auto)
    assert path_name(kms) == "sdk"
    assert path_name(S3Storage(client, bucket, data_plane=sdk)) == "sdk"
    assert byte_path(LocalStorage(tmp_path / "x"), auto) is None


def test_sdk_mode_sends_nothing_through_obstore(passthrough: FaultyProxy, bucket: str) -> None:
    store = S3Storage(s3_client(passthrough.url), bucket, data_plane=DataPlaneSettings("sdk"))
    data = os.urandom(50_000)
    assert store.upload_stream(io.BytesIO(data), "k.bin", size=len(data), sha256=sha(data)).verified
    with store.open_read("k.bin") as fh:
        assert fh.read() == data
    assert object_store_requests(passthrough, "k.bin") == []
    assert any(agent.startswith("Boto3") for _, _, agent in passthrough.agents)


def test_native_bytes_go_to_the_clients_endpoint(passthrough: FaultyProxy, bucket: str) -> None:
    store = S3Storage(s3_client(passthrough.url), bucket, data_plane=DataPlaneSettings("native"))
    data = os.urandom(70_000)
    written = store.upload_stream(
        io.BytesIO(data), "d/k.bin", size=len(data), sha256=sha(data), metadata={"owner": "t"}
    )
    assert written.verified and written.evidence == "s3:etag-md5"
    assert written.hashes["md5"] == hashlib.md5(data).hexdigest()
    with store.open_read("d/k.bin") as fh:
        assert fh.read() == data
    assert sorted(object_store_requests(passthrough, "d/k.bin")) == ["GET", "PUT"]
    # what the SDK sees of the native write: same metadata, same sha256 record
    head = S3Storage(s3_client(os.environ["SPECIFY_MOTO_URL"]), bucket).head("d/k.bin")
    assert head.sha256 == sha(data) and head.metadata == {"owner": "t"}


def test_native_read_of_a_changed_object_is_refused(bucket: str, tmp_path: Path) -> None:
    """download pins the GET to the ETag it described: an overwrite in between is seen."""
    store = S3Storage(
        s3_client(os.environ["SPECIFY_MOTO_URL"]), bucket, data_plane=DataPlaneSettings("native")
    )
    old = store.upload_stream(io.BytesIO(b"o" * 1000), "c.bin", size=1000, sha256=sha(b"o" * 1000))
    store.upload_stream(io.BytesIO(b"n" * 1000), "c.bin", size=1000, sha256=sha(b"n" * 1000))
    native = byte_path(store)
    assert native is not None
    with pytest.raises(CloudError, match=r"412|changed|Precondition"):
        native.open("c.bin", if_match=old.etag, map_error=store.map_error).read()


def private_ca(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) as PEM files: a private CA and a
    leaf for 127.0.0.1 it signed (rustls, like browsers, refuses a CA as a server cert)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: str, key: Any, signer: Any, ca: bool) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            b = b.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return b.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1()
    )
    ca = build("test CA", "test CA", ca_key, ca_key, True)
    leaf = build("127.0.0.1", "test CA", leaf_key, ca_key, False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return private_ca(tmp_path)


@pytest.fixture
def tls_moto(tls_files: tuple[Path, Path, Path]) -> Iterator[FaultyProxy]:
    """moto behind https with a certificate from a private CA (the test's own)."""
    _, cert, key = tls_files
    proxy = FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    proxy._server.socket = ctx.wrap_socket(proxy._server.socket, server_side=True)
    with proxy:
        yield proxy


def test_native_trusts_the_clients_ca_bundle(
    tls_moto: FaultyProxy, tls_files: tuple[Path, Path, Path], bucket: str
) -> None:
    url = tls_moto.url.replace("http://", "https://")
    native = DataPlaneSettings("native")
    store = S3Storage(s3_client(url, verify=str(tls_files[0])), bucket, data_plane=native)
    data = os.urandom(40_000)
    assert store.upload_stream(io.BytesIO(data), "t.bin", size=len(data), sha256=sha(data)).verified
    with store.open_read("t.bin") as fh:
        assert fh.read() == data
    assert sorted(object_store_requests(tls_moto, "t.bin")) == ["GET", "PUT"]
    # a client that trusts only the system roots is refused by the private certificate
    # on the native path too, and nothing is written
    system = S3Storage(s3_client(url, verify=True), bucket, data_plane=native)
    with pytest.raises(CloudError):
        system.upload_stream(io.BytesIO(data), "u.bin", size=len(data), sha256=sha(data))
    direct = S3Storage(s3_client(os.environ["SPECIFY_MOTO_URL"]), bucket)
    assert not direct.exists("u.bin")


def test_native_goes_through_the_clients_proxy(
    passthrough: FaultyProxy, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    client = s3_client(os.environ["SPECIFY_MOTO_URL"], proxies={"http": passthrough.url})
    store = S3Storage(client, bucket, data_plane=DataPlaneSettings("native"))
    data = os.urandom(30_000)
    assert store.upload_stream(io.BytesIO(data), "p.bin", size=len(data), sha256=sha(data)).verified
    with store.open_read("p.bin") as fh:
        assert fh.read() == data
    # a forward proxy receives the absolute URL of the endpoint the client was given
    sent = [(m, path) for m, path, a in passthrough.agents if a.startswith("object_store")]
    assert sorted(m for m, _ in sent) == ["GET", "PUT"]
    assert all(path.startswith(os.environ["SPECIFY_MOTO_URL"]) for _, path in sent), sent


def test_keys_object_store_cannot_address_keep_the_sdk(
    passthrough: FaultyProxy, bucket: str
) -> None:
    """object_store drops a trailing '/' ('folder/' would be read as 'folder') and refuses
    empty segments and control characters: those keys go through the SDK, the rest
    (spaces, '%', '#', '?', unicode, ...) natively, and every one round-trips exactly."""
    store = S3Storage(s3_client(passthrough.url), bucket, data_plane=DataPlaneSettings("native"))
    sdk_keys = ["folder/", "a//b", "ctl\x01x"]
    native_keys = ["sp ace/x", "pct%25/q?x&y=1#h", "uni/é😀", "folder"]
    for i, key in enumerate(sdk_keys + native_keys):
        data = bytes([i]) * (1000 + i)
        store.upload_stream(io.BytesIO(data), key, size=len(data), sha256=sha(data))
    for i, key in enumerate(sdk_keys + native_keys):
        with store.open_read(key) as fh:
            assert fh.read() == bytes([i]) * (1000 + i), key
    listed = {o.key: o.size for o in store.list_objects()}
    assert listed == {k: 1000 + i for i, k in enumerate(sdk_keys + native_keys)}
    by_obstore = [a.startswith("object_store") for m, _, a in passthrough.agents if m == "PUT"]
    assert by_obstore == [False] * len(sdk_keys) + [True] * len(native_keys)


def test_native_download_of_an_older_version(
    passthrough: FaultyProxy, bucket: str, tmp_path: Path
) -> None:
    store = S3Storage(s3_client(passthrough.url), bucket, data_plane=DataPlaneSettings("native"))
    store.set_versioning(True)
    first, second = os.urandom(20_000), os.urandom(20_000)
    v1 = store.upload_stream(io.BytesIO(first), "v.bin", size=20_000, sha256=sha(first))
    store.upload_stream(io.BytesIO(second), "v.bin", size=20_000, sha256=sha(second))
    assert v1.version_id
    out = store.download("v.bin", tmp_path / "v1.bin", version_id=v1.version_id)
    assert out.read_bytes() == first
    assert store.download("v.bin", tmp_path / "v2.bin").read_bytes() == second
    gets = [p for m, p, a in passthrough.agents if m == "GET" and a.startswith("object_store")]
    assert any(f"versionId={v1.version_id}" in p for p in gets), gets


def test_a_certificate_only_the_sdk_accepts_moves_the_bytes_through_the_sdk(
    tmp_path: Path, bucket: str
) -> None:
    """rustls refuses a CA certificate served as the server's own (CaUsedAsEndEntity),
    which OpenSSL accepts: the store then keeps to its SDK, and nothing fails."""
    from tests.fakes.azure_https import self_signed_cert

    cert, key = self_signed_cert(tmp_path)
    proxy = FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    proxy._server.socket = ctx.wrap_socket(proxy._server.socket, server_side=True)
    with proxy:
        url = proxy.url.replace("http://", "https://")
        store = S3Storage(
            s3_client(url, verify=str(cert)), bucket, data_plane=DataPlaneSettings("native")
        )
        data = os.urandom(30_000)
        written = store.upload_stream(io.BytesIO(data), "s.bin", size=len(data), sha256=sha(data))
        assert written.verified
        with store.open_read("s.bin") as fh:
            assert fh.read() == data
        assert path_name(store) == "native" and byte_path(store).refused  # type: ignore[union-attr]
        agents = [a for m, p, a in proxy.agents if "s.bin" in p]
        assert agents and not any(a.startswith("object_store") for a in agents), agents
