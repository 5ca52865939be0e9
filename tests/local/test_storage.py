"""LocalStorage through the CloudStorage protocol, and its signed URLs through urlserver."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from providers.base import CloudStorage
from providers.errors import (
    BucketNotFoundError,
    ConfigurationError,
    NotFoundError,
    UploadError,
)
from providers.local.provider import LocalProvider
from providers.local.storage import LocalStorage
from providers.local.urlserver import serve
from providers.registry import ProviderRegistry

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(provider: LocalProvider) -> CloudStorage:
    storage = provider.get_storage("bucket-a")
    assert isinstance(storage, CloudStorage)
    assert storage.create_bucket() is True  # a named bucket is made before use, as on a cloud
    return storage


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_registry_builds_local_provider_from_env(tmp_path: Path) -> None:
    provider = ProviderRegistry(discover=False).require("local")
    assert isinstance(provider, LocalProvider)
    assert provider.root == (tmp_path / "root").resolve()
    uri = provider.get_storage().upload(write(tmp_path, "a.txt", b"hi"), "a.txt")
    assert uri == (tmp_path / "root" / "storage" / "default" / "a.txt").resolve().as_uri()


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("plain.bin", os.urandom(300_000)),
        ("dir/sub dir/with spaces.txt", b"spaces in the key"),
        ("ünïcödé/日本語/файл.txt", "unicode ✓".encode()),
        ("empty/zero-bytes", b""),
    ],
)
def test_round_trip_with_checksums(
    store: CloudStorage, tmp_path: Path, key: str, data: bytes
) -> None:
    src = write(tmp_path, "input", data)
    uri = store.upload(src, key, metadata={"owner": "team-a"})
    assert uri == store.uri(key)
    head = store.head(key)
    assert (head.size, head.sha256, head.metadata) == (len(data), sha(data), {"owner": "team-a"})
    out = store.download(key, tmp_path / "out" / "copy")
    assert out.read_bytes() == data
    assert [o.key for o in store.list_objects()] == [key]
    with store.open_read(key) as fh:
        assert sha(fh.read()) == sha(data)
    assert store.delete(key) is True
    assert store.delete(key) is False
    assert list(store.list_objects()) == []
    with pytest.raises(NotFoundError):
        store.head(key)


def test_upload_stream_checks_size_and_sha(store: CloudStorage) -> None:
    data = b"streamed bytes"
    obj = store.upload_stream(io.BytesIO(data), "s/one", size=len(data), sha256=sha(data))
    assert (obj.key, obj.size, obj.sha256) == ("s/one", len(data), sha(data))
    assert obj.verified  # hashed on its way to disk
    with pytest.raises(UploadError, match="content check failed"):
        store.upload_stream(io.BytesIO(data), "s/two", size=len(data), sha256=sha(b"other"))
    assert [o.key for o in store.list_objects("s/")] == ["s/one"]


@pytest.mark.parametrize(
    "key", ["../escape.txt", "a/../../escape.txt", "/abs.txt", "a//b", "a/", ".specify/x"]
)
def test_bad_keys_are_rejected_with_nothing_written(
    provider: LocalProvider, tmp_path: Path, key: str
) -> None:
    store = provider.get_storage("bucket-a")
    store.create_bucket()
    src = write(tmp_path, "x", b"data")
    with pytest.raises(ConfigurationError):
        store.upload(src, key)
    assert [p for p in (tmp_path / "root").rglob("*") if p.is_file()] == []
    assert not (tmp_path / "escape.txt").exists() and not Path("/abs.txt").exists()
    with pytest.raises(ConfigurationError):
        store.get_url(key)


def test_bad_bucket_names_are_rejected(provider: LocalProvider) -> None:
    for name in ("../other", "a/b", ".."):
        with pytest.raises(ConfigurationError):
            provider.get_storage(name)


def test_pagination_over_more_than_1000_objects(provider: LocalProvider, tmp_path: Path) -> None:
    storage = provider.get_storage("many")
    storage.create_bucket()
    for i in range(1005):
        storage.upload_stream(io.BytesIO(b"x"), f"p/{i:05d}", size=1, sha256=sha(b"x"))
    storage.upload_stream(io.BytesIO(b"y"), "q/other", size=1, sha256=sha(b"y"))
    pages, token = [], None
    while True:
        page, token = storage.list_page("p/", token, page_size=400)
        pages.append([o.key for o in page])
        if token is None:
            break
    assert [len(p) for p in pages] == [400, 400, 205]
    keys = [k for p in pages for k in p]
    assert keys == [f"p/{i:05d}" for i in range(1005)]
    assert [o.key for o in storage.list_objects("p/")] == keys  # follows pages of 1000
    assert [o.key for o in storage.list_objects("q")] == ["q/other"]
    assert len(list(storage.list_objects())) == 1006


def test_versions_keep_earlier_content(provider: LocalProvider, tmp_path: Path) -> None:
    storage = provider.get_storage("versioned")
    storage.create_bucket()
    storage.set_versioning(True)
    for text in (b"v1", b"v2", b"v3"):
        storage.upload(write(tmp_path, "f", text), "doc.txt")
    versions = storage.list_versions("doc.txt")
    assert [v.is_latest for v in versions] == [True, False, False]  # newest first
    assert [storage.read_version("doc.txt", v.version_id) for v in versions] == [
        b"v3",
        b"v2",
        b"v1",
    ]
    assert versions[0].sha256 == sha(b"v3")
    assert storage.delete("doc.txt")
    assert len(storage.list_versions("doc.txt")) == 3  # the deleted one is kept as a version
    with pytest.raises(ConfigurationError):
        storage.read_version("doc.txt", "../../../../etc/passwd")


@pytest.fixture
def url_server(store: CloudStorage) -> Iterator[str]:
    assert isinstance(store, LocalStorage)
    server, base_url = serve(store)
    yield base_url
    server.shutdown()
    server.server_close()


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with NO_PROXY.open(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_signed_url_served_and_tampering_refused(
    store: CloudStorage, tmp_path: Path, url_server: str
) -> None:
    data = os.urandom(200_000)
    key = "reports/ünï code.bin"
    store.upload(write(tmp_path, "r", data), key)
    url = store.get_url(key, expires_in=60)
    assert url.startswith(url_server + "/")
    status, body = fetch(url)
    assert status == 200 and sha(body) == sha(data)

    other = store.get_url("reports/other.bin")  # signed, but never uploaded
    assert fetch(other)[0] == 404
    sig = parse_qs(urlsplit(url).query)["signature"][0]
    tampered_sig = with_query(url, signature=("0" if sig[0] != "0" else "1") + sig[1:])
    assert fetch(tampered_sig)[0] == 403
    longer = with_query(url, expires=str(int(parse_qs(urlsplit(url).query)["expires"][0]) + 999))
    assert fetch(longer)[0] == 403
    other_key = url.replace("reports/", "secret/", 1)
    assert fetch(other_key)[0] == 403
    assert fetch(url.split("?")[0])[0] == 403  # unsigned


def test_expired_url_refused(store: CloudStorage, tmp_path: Path, url_server: str) -> None:
    store.upload(write(tmp_path, "e", b"soon gone"), "e.txt")
    url = store.get_url("e.txt", expires_in=1)
    assert fetch(url) == (200, b"soon gone")
    import time

    time.sleep(2.1)
    status, body = fetch(url)
    assert status == 403 and b"expired" in body


def test_url_expiry_range(store: CloudStorage) -> None:
    for bad in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(ConfigurationError):
            store.get_url("k", expires_in=bad)


def test_a_store_on_a_path_makes_its_directory_on_first_write(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "new" / "dir")  # a place to copy into
    assert list(store.list_objects()) == [] and store.exists("k") is False
    assert not (tmp_path / "new").exists(), "reading makes nothing"
    store.upload_stream(io.BytesIO(b"x"), "k", size=1, sha256=sha(b"x"))
    assert (tmp_path / "new" / "dir" / "k").read_bytes() == b"x"


def test_a_named_bucket_must_be_created(provider: LocalProvider, tmp_path: Path) -> None:
    store = provider.get_storage("not-yet")
    with pytest.raises(BucketNotFoundError, match="create_bucket"):
        store.upload(write(tmp_path, "f", b"x"), "k")
    assert not (tmp_path / "root" / "storage" / "not-yet").exists()
    assert store.create_bucket() is True
    store.upload(write(tmp_path, "f", b"x"), "k")
    default = provider.get_storage()  # the provider's own bucket is made on first write
    default.upload(write(tmp_path, "g", b"y"), "k")
    assert default.head("k").size == 1
