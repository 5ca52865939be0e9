"""The storage contract, written once (in the manner of fsspec's tests/abstract).

Each abstract class below holds tests for one part of the contract of
`providers.base.CloudStorage` and its optional capabilities. A concrete test class per
store (test_local.py, test_s3.py, test_gcs.py, test_azure.py) mixes them in and provides
the fixtures they need:

    store          an empty store whose bucket exists
    missing_store  a store on a bucket that does not exist (never created)
    versioned      (VersionsContract) an empty store whose bucket keeps versions
    fetch_url      (SignedURLContract) a function GET-ting a URL -> (status, body)

Nothing in these tests knows which store it talks to: every expectation holds for all.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from providers.base import (
    CloudStorage,
    ObjectVersion,
    StorageObject,
    SupportsBuckets,
    SupportsSignedURLs,
    SupportsVersions,
)
from providers.errors import (
    BucketExistsError,
    BucketNotFoundError,
    ConfigurationError,
    NotFoundError,
    ObjectNotFoundError,
    StorageError,
)

#: keys every store refuses (providers.locations.check_key), each for its own reason
BAD_KEYS = ("", "/abs", "..", "a/../b", ".", "a/./b", "a\\b", "a\x00b")
#: metadata whose names survive every store unchanged (lower case, identifier-like)
METADATA = {"owner": "team_a", "purpose": "contract test"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(store: Any, key: str, data: bytes, tmp: Path, **kw: Any) -> str:
    src = tmp / f"src-{sha(key.encode())[:12]}"
    src.write_bytes(data)
    uri: str = store.upload(src, key, **kw)
    return uri


def key_calls(tmp: Path) -> dict[str, Callable[[Any, str], object]]:
    """Every entry point that takes a key, called with that key."""
    src = tmp / "key-src"
    src.write_bytes(b"x")
    return {
        "upload": lambda s, k: s.upload(src, k),
        "upload_stream": lambda s, k: s.upload_stream(
            io.BytesIO(b"x"), k, size=1, sha256=sha(b"x")
        ),
        "download": lambda s, k: s.download(k, tmp / "key-dest"),
        "head": lambda s, k: s.head(k),
        "exists": lambda s, k: s.exists(k),
        "open_read": lambda s, k: s.open_read(k).close(),
        "delete": lambda s, k: s.delete(k),
    }


class BucketContract:
    """create_bucket / bucket_exists: one name and one meaning on every store."""

    def test_store_has_the_bucket_capability(self, store: CloudStorage) -> None:
        assert isinstance(store, CloudStorage)
        assert isinstance(store, SupportsBuckets)

    def test_create_bucket_true_once_then_false(self, missing_store: Any) -> None:
        assert missing_store.bucket_exists() is False
        assert missing_store.create_bucket() is True
        assert missing_store.bucket_exists() is True
        assert missing_store.create_bucket() is False  # exist_ok=True by default
        assert missing_store.create_bucket(exist_ok=True) is False
        with pytest.raises(BucketExistsError):
            missing_store.create_bucket(exist_ok=False)
        assert list(missing_store.list_objects()) == []

    def test_existing_bucket(self, store: Any) -> None:
        assert store.bucket_exists() is True
        with pytest.raises(BucketExistsError) as info:
            store.create_bucket(exist_ok=False)
        assert isinstance(info.value, StorageError)


class ObjectContract:
    """upload, upload_stream, download, head, exists, list_objects, delete, metadata."""

    def test_round_trip(self, store: Any, tmp_path: Path) -> None:
        data = os.urandom(70_000)
        key = "reports/2026/ünï code.bin"
        assert put(store, key, data, tmp_path) == store.uri(key)
        dest = tmp_path / "out" / "copy.bin"
        assert store.download(key, dest) == dest
        assert dest.read_bytes() == data
        assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"], "no temp file left"
        head = store.head(key)
        assert isinstance(head, StorageObject)
        assert (head.key, head.size, head.sha256) == (key, len(data), sha(data))
        assert isinstance(head.last_modified, datetime) and head.last_modified.tzinfo
        with store.open_read(key) as stream:
            assert stream.read() == data
        assert store.exists(key) is True

    def test_overwrite_replaces(self, store: Any, tmp_path: Path) -> None:
        put(store, "doc.txt", b"first version", tmp_path)
        put(store, "doc.txt", b"second", tmp_path)
        head = store.head("doc.txt")
        assert (head.size, head.sha256) == (6, sha(b"second"))
        assert [o.key for o in store.list_objects()] == ["doc.txt"]

    def test_upload_stream(self, store: Any) -> None:
        data = os.urandom(10_000)
        obj = store.upload_stream(
            io.BytesIO(data), "s/stream.bin", size=len(data), sha256=sha(data)
        )
        assert isinstance(obj, StorageObject)
        assert (obj.key, obj.size, obj.sha256) == ("s/stream.bin", len(data), sha(data))
        head = store.head("s/stream.bin")
        assert (head.size, head.sha256) == (len(data), sha(data))

    def test_empty_object(self, store: Any, tmp_path: Path) -> None:
        put(store, "empty", b"", tmp_path)
        assert (store.head("empty").size, store.head("empty").sha256) == (0, sha(b""))
        assert store.download("empty", tmp_path / "e").read_bytes() == b""

    def test_metadata_round_trip(self, store: Any, tmp_path: Path) -> None:
        put(store, "m/file", b"with metadata", tmp_path, metadata=METADATA)
        assert dict(store.head("m/file").metadata) == METADATA
        data = b"streamed"
        store.upload_stream(
            io.BytesIO(data), "m/stream", size=len(data), sha256=sha(data), metadata=METADATA
        )
        assert dict(store.head("m/stream").metadata) == METADATA
        put(store, "m/none", b"no metadata", tmp_path)
        assert dict(store.head("m/none").metadata) == {}, "sha256 is not user metadata"
        put(store, "m/upper", b"names are case-insensitive", tmp_path, metadata={"Team": "X"})
        assert dict(store.head("m/upper").metadata) == {"team": "X"}, "names in lower case"

    def test_list_in_key_order_with_string_prefix(self, store: Any, tmp_path: Path) -> None:
        keys = ["b/2", "a/x/deep", "a/1", "ab", "a/10", "c"]
        for i, key in enumerate(keys):
            put(store, key, b"x" * i, tmp_path)
        listed = list(store.list_objects())
        assert all(isinstance(o, StorageObject) for o in listed)
        assert [o.key for o in listed] == sorted(keys)
        assert {o.key: o.size for o in listed} == {k: i for i, k in enumerate(keys)}
        assert [o.key for o in store.list_objects("a/")] == ["a/1", "a/10", "a/x/deep"]
        assert [o.key for o in store.list_objects("a")] == ["a/1", "a/10", "a/x/deep", "ab"]
        assert [o.key for o in store.list_objects("a/1")] == ["a/1", "a/10"]
        assert list(store.list_objects("zzz")) == []

    def test_delete(self, store: Any, tmp_path: Path) -> None:
        put(store, "gone/soon", b"bye", tmp_path)
        put(store, "gone/stays", b"hi", tmp_path)
        assert store.delete("gone/soon") is True
        assert store.exists("gone/soon") is False
        assert store.delete("gone/soon") is False
        assert [o.key for o in store.list_objects()] == ["gone/stays"]


class MissingContract:
    """The same exception types for a missing object and a missing bucket."""

    def test_missing_object(self, store: Any, tmp_path: Path) -> None:
        put(store, "present", b"x", tmp_path)
        for name, call in {
            "head": lambda: store.head("absent"),
            "download": lambda: store.download("absent", tmp_path / "sub" / "never"),
            "open_read": lambda: store.open_read("absent").read(),
        }.items():
            with pytest.raises(ObjectNotFoundError) as info:
                call()
            err = info.value
            assert isinstance(err, NotFoundError) and isinstance(err, StorageError), name
            assert not isinstance(err, BucketNotFoundError), name
            assert "absent" in str(err), f"{name}: the message names the key"
        assert not (tmp_path / "sub").exists(), "a failed download makes nothing"
        assert store.exists("absent") is False
        assert store.delete("absent") is False

    def test_missing_bucket(self, missing_store: Any, tmp_path: Path) -> None:
        src = tmp_path / "src"
        src.write_bytes(b"data")
        calls: dict[str, Callable[[], object]] = {
            "head": lambda: missing_store.head("k"),
            "exists": lambda: missing_store.exists("k"),
            "download": lambda: missing_store.download("k", tmp_path / "sub" / "never"),
            "open_read": lambda: missing_store.open_read("k").read(),
            "list_objects": lambda: list(missing_store.list_objects()),
            "list_objects(prefix)": lambda: list(missing_store.list_objects("p/")),
            "delete": lambda: missing_store.delete("k"),
            "upload": lambda: missing_store.upload(src, "k"),
            "upload_stream": lambda: missing_store.upload_stream(
                io.BytesIO(b"data"), "k", size=4, sha256=sha(b"data")
            ),
        }
        if isinstance(missing_store, SupportsVersions):
            calls["list_versions"] = lambda: missing_store.list_versions("k")
        for name, call in calls.items():
            with pytest.raises(BucketNotFoundError) as info:
                call()
            assert isinstance(info.value, NotFoundError) and isinstance(info.value, StorageError), (
                name
            )
            assert not isinstance(info.value, ObjectNotFoundError), name
        assert not (tmp_path / "sub").exists(), "a failed download makes nothing"
        assert missing_store.bucket_exists() is False, "nothing created the bucket"


class KeyCheckContract:
    """Every entry point that takes a key refuses a bad one before doing anything."""

    def test_bad_key_refused_everywhere(self, store: Any, tmp_path: Path) -> None:
        calls = key_calls(tmp_path)
        if isinstance(store, SupportsSignedURLs):
            calls["get_url"] = lambda s, k: s.get_url(k)
        if isinstance(store, SupportsVersions):
            calls["list_versions"] = lambda s, k: s.list_versions(k)
        for bad in BAD_KEYS:
            for name, call in calls.items():
                with pytest.raises(ConfigurationError) as info:
                    call(store, bad)
                assert "key" in str(info.value), f"{name}({bad!r}): the error names the key"
        assert list(store.list_objects()) == [], "nothing was written"
        assert not (tmp_path / "key-dest").exists()

    def test_bad_key_refused_on_a_missing_bucket_too(
        self, missing_store: Any, tmp_path: Path
    ) -> None:
        # the key is checked first: bad input is a ConfigurationError, not a NotFoundError
        for name, call in key_calls(tmp_path).items():
            with pytest.raises(ConfigurationError):
                call(missing_store, "../escape")
            assert name


class VersionsContract:
    """list_versions: argument (one exact key), order (newest first), return type."""

    def test_store_has_the_versions_capability(self, versioned: Any) -> None:
        assert isinstance(versioned, SupportsVersions)
        assert versioned.versioning_enabled() is True

    def test_versions_newest_first(self, versioned: Any, tmp_path: Path) -> None:
        contents = [b"v1", b"version 2", b"third v"]
        for data in contents:
            put(versioned, "doc.txt", data, tmp_path)
        put(versioned, "doc.txt.bak", b"a sibling with the key as prefix", tmp_path)
        versions = versioned.list_versions("doc.txt")
        assert isinstance(versions, list)
        assert all(isinstance(v, ObjectVersion) for v in versions)
        assert {v.key for v in versions} == {"doc.txt"}, "the exact key, not a prefix"
        assert [v.size for v in versions] == [7, 9, 2], "newest first"
        assert [v.is_latest for v in versions] == [True, False, False]
        assert all(isinstance(v.version_id, str) and v.version_id for v in versions)
        assert len({v.version_id for v in versions}) == 3
        assert versions[0].version_id == versioned.head("doc.txt").version_id
        assert versions[0].sha256 == sha(b"third v")
        stamps = [v.last_modified for v in versions]
        assert all(isinstance(t, datetime) for t in stamps)
        assert stamps == sorted(stamps, reverse=True)  # type: ignore[type-var]

    def test_versions_of_a_missing_key(self, versioned: Any, tmp_path: Path) -> None:
        put(versioned, "other", b"x", tmp_path)
        assert versioned.list_versions("absent") == []


class UnversionedContract:
    """Without versioning, list_versions answers the live object alone."""

    def test_one_version_when_versioning_is_off(self, store: Any, tmp_path: Path) -> None:
        assert isinstance(store, SupportsVersions)
        assert store.versioning_enabled() is False
        put(store, "doc.txt", b"one", tmp_path)
        put(store, "doc.txt", b"two!", tmp_path)
        put(store, "doc.txt2", b"sibling", tmp_path)
        versions = store.list_versions("doc.txt")
        assert isinstance(versions, list) and len(versions) == 1
        (only,) = versions
        assert isinstance(only, ObjectVersion)
        assert (only.key, only.size, only.is_latest) == ("doc.txt", 4, True)
        assert isinstance(only.version_id, str)
        assert store.list_versions("absent") == []


class SignedURLContract:
    """get_url: a URL that reads the object with no credentials, within 1 s .. 7 days."""

    def test_signed_url_reads_the_object(
        self, store: Any, tmp_path: Path, fetch_url: Callable[[str], tuple[int, bytes]]
    ) -> None:
        assert isinstance(store, SupportsSignedURLs)
        data = os.urandom(5000)
        put(store, "share/page.bin", data, tmp_path)
        url = store.get_url("share/page.bin", expires_in=600)
        assert isinstance(url, str) and url.startswith("http")
        assert fetch_url(url) == (200, data)

    @pytest.mark.parametrize("expires_in", [0, -5, 7 * 24 * 3600 + 1])
    def test_expiry_out_of_range(self, store: Any, expires_in: int) -> None:
        with pytest.raises(ConfigurationError):
            store.get_url("share/page.bin", expires_in=expires_in)

    def test_longest_expiry_allowed(self, store: Any) -> None:
        assert store.get_url("share/page.bin", expires_in=7 * 24 * 3600)


class StorageContract(
    BucketContract, ObjectContract, MissingContract, KeyCheckContract, UnversionedContract
):
    """Everything every store must do."""
