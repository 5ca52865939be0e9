"""ReplicationOptions.key_range: a shard lists, plans, copies and deletes only its keys.

Shards [None, a), [a, b), ..., [z, None) run one after another onto one target must copy
every source key exactly once: none lost and none doubled at a boundary, including keys
that equal a boundary, keys that extend it ('b' vs 'b/x' vs 'b0') and non-ASCII keys.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from providers.errors import ConfigurationError
from providers.local.storage import LocalStorage
from providers.replication import KeyRange, ReplicationOptions, replicate_prefix
from tests.replicate.stores import CountingStorage

KEYS = [  # '-' < '.' < '/' < '0' in byte order: a directory sorts among its siblings
    "a/b",
    "a-b",
    "a.b",
    "a0",
    "b/x",
    "b/y/z",
    "b0",
    "bb",
    "c",
    "d e",
    "é",
    "名前",
    "z/last",
]


def _fill(root: Path, keys: list[str]) -> dict[str, bytes]:
    out = {}
    for i, key in enumerate(keys):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"{i}:{key}".encode()
        path.write_bytes(data)
        out[key] = data
    return out


def _tree(store: LocalStorage) -> dict[str, bytes]:
    return {o.key: (store.root / o.key).read_bytes() for o in store.list_objects()}


@pytest.mark.parametrize(
    "bounds",
    [
        ["b"],  # a boundary equal to a directory's name
        ["a0", "b/x", "bb", "é"],  # boundaries equal to keys
        ["a/", "b/", "b/y/", "c"],  # boundaries between a directory and its siblings
        ["0", "a.c", "b/xx", "d", "zz"],  # boundaries between keys
    ],
)
def test_shards_cover_every_key_exactly_once(tmp_path: Path, bounds: list[str]) -> None:
    content = _fill(tmp_path / "src", KEYS)
    source = LocalStorage(tmp_path / "src")
    target = CountingStorage(LocalStorage(tmp_path / "dst"))
    edges: list[str | None] = [None, *bounds, None]
    shards = [KeyRange(lo, hi) for lo, hi in itertools.pairwise(edges)]
    copied: list[str] = []
    for shard in shards:
        opts = ReplicationOptions(journal_dir=str(tmp_path / "state"), key_range=shard)
        (report,) = replicate_prefix(source, "", [(target, "")], opts)
        assert report.ok, report
        assert all(k in shard for k in report.copied_keys)
        copied.extend(report.copied_keys)
    assert sorted(copied) == sorted(content)  # none lost, none doubled
    assert all(n == 1 for n in target.writes.values()) and len(target.writes) == len(content)
    assert _tree(target.inner) == content  # type: ignore[arg-type]


def test_a_shard_never_deletes_outside_its_range(tmp_path: Path) -> None:
    _fill(tmp_path / "src", ["k1", "k2", "m1"])
    _fill(tmp_path / "dst", ["k1", "k2", "k9", "m1", "m9", "a9"])
    source, target = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    opts = ReplicationOptions(
        journal_dir=str(tmp_path / "state"),
        key_range=KeyRange("k", "l"),
        delete_extraneous=True,
    )
    (report,) = replicate_prefix(source, "", [(target, "")], opts)
    assert report.ok and report.deleted == 1
    left = set(_tree(target))
    assert "k9" not in left  # extraneous inside the range: deleted
    assert {"a9", "m9", "m1", "k1", "k2"} <= left  # outside the range: untouched


def test_a_shard_with_a_prefix_ranges_over_relative_keys(tmp_path: Path) -> None:
    _fill(tmp_path / "src", ["data/a", "data/b", "data/c", "other/b"])
    source, target = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    opts = ReplicationOptions(journal_dir=str(tmp_path / "state"), key_range=KeyRange("b", None))
    (report,) = replicate_prefix(source, "data/", [(target, "copy/")], opts)
    assert report.ok and report.copied_keys == ("b", "c")
    assert set(_tree(target)) == {"copy/b", "copy/c"}


def test_an_empty_key_range_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="key_range"):
        KeyRange("b", "a")
    with pytest.raises(ConfigurationError, match="key_range"):
        KeyRange("b", "b")
