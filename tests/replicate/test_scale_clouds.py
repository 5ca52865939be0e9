"""Range listings on the emulators: every cloud lists in UTF-8 byte order, list_range
starts and stops where asked (S3 StartAfter, GCS startOffset/endOffset, Azure by
filtering), and shards of a cloud source cover every key exactly once."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from providers.local.storage import LocalStorage
from providers.replication import KeyRange, ReplicationOptions, replicate_prefix
from tests.replicate.test_pairs import KINDS, new_store, seed

pytestmark = pytest.mark.emulators

KEYS = ["p/a-b", "p/a.b", "p/a/b", "p/a/b/c", "p/a0", "p/B", "p/b", "p/é", "p/z", "p/名前", "q/x"]
CLOUDS = [k for k in KINDS if k != "local"]


@pytest.mark.parametrize("kind", CLOUDS)
def test_cloud_range_listing_order_and_bounds(kind: str, tmp_path: Path) -> None:
    store = new_store(kind, tmp_path)
    seed(store, tmp_path, {k: k.encode() for k in KEYS})
    by_bytes = sorted((k for k in KEYS if k.startswith("p/")), key=lambda k: k.encode())
    assert [o.key for o in store.list_range("p/")] == by_bytes
    for start, end in [("p/a/", "p/b"), ("p/a0", None), (None, "p/a/b/c"), ("p/é", "p/名")]:
        want = [k for k in by_bytes if (start is None or k >= start) and (end is None or k < end)]
        assert [o.key for o in store.list_range("p/", start, end)] == want, (start, end)


@pytest.mark.parametrize("kind", CLOUDS)
def test_shards_of_a_cloud_source_copy_each_key_once(kind: str, tmp_path: Path) -> None:
    source = new_store(kind, tmp_path)
    # (a directory cannot hold both 'a/b' and 'a/b/c')
    content = {k: k.encode() * 3 for k in KEYS if k != "p/a/b/c"}
    seed(source, tmp_path, content)
    target = LocalStorage(tmp_path / "dst")
    edges: list[str | None] = [None, "a/", "a0", "b", "é", None]
    copied: list[str] = []
    for lo, hi in itertools.pairwise(edges):
        opts = ReplicationOptions(journal_dir=str(tmp_path / "state"), key_range=KeyRange(lo, hi))
        (report,) = replicate_prefix(source, "p/", [(target, "")], opts)
        assert report.ok, report.errors
        copied += report.copied_keys
    want = sorted(k.removeprefix("p/") for k in content if k.startswith("p/"))
    assert sorted(copied) == want
    assert {o.key: (target.root / o.key).read_bytes() for o in target.list_objects()} == {
        k.removeprefix("p/"): v for k, v in content.items() if k.startswith("p/")
    }


def test_checksum_against_s3_compares_the_etag_md5_without_a_head(tmp_path: Path) -> None:
    """Objects put on S3 by another tool (no sha256 metadata, no journal): --checksum
    compares the md5 S3 computed (single-part ETag, in the listing) with the local
    source's, as rclone does: no HEAD per object; a same-size change is copied."""
    from tests.replicate.stores import CountingStorage

    root = tmp_path / "src"
    root.mkdir()
    content = {f"k{i:02d}": f"object {i:02d}".encode() for i in range(12)}
    for key, data in content.items():
        (root / key).write_bytes(data)
    s3 = new_store("s3", tmp_path)
    for key, data in content.items():
        body = b"object XX" if key == "k05" else data  # same size, other bytes
        s3.client.put_object(Bucket=s3.bucket, Key=key, Body=body)
    target = CountingStorage(s3)
    opts = ReplicationOptions(journal_dir=str(tmp_path / "state"), checksum=True)
    (report,) = replicate_prefix(LocalStorage(root), "", [(target, "")], opts)
    assert report.ok and report.copied_keys == ("k05",) and report.skipped == 11
    assert sum(target.heads.values()) == 0
    got = s3.client.get_object(Bucket=s3.bucket, Key="k05")["Body"].read()
    assert got == content["k05"]
