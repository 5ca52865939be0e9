"""Planning at scale: a merge-join of listings in key order, in bounded memory.

- the plan does not depend on the order a store lists in (stores that promise no order
  are sorted through temp files; a store that promises order and breaks it fails loudly,
  deleting nothing);
- the local store lists in UTF-8 byte order (the clouds' order), from any start key;
- planning 250,000 local objects needs no more memory than planning 25,000;
- the no-op trusts the journal's record of a verified copy (no object read, no head),
  and --checksum compares hashes instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import providers.replication as replication
from providers.base import StorageObject
from providers.errors import StorageError
from providers.local.storage import LocalStorage
from providers.replication import (
    Plan,
    ReplicationOptions,
    plan_replication,
    replicate_prefix,
)
from tests.replicate.stores import CountingStorage, MemoryStorage
from tests.replicate.trees import hard_link_tree, run_json

TRICKY = ["a-b", "a.b", "a/b", "a/b/c", "a0", "a", "b", "B", "é", "z", "名前", "~x", "a b"]


class Named(MemoryStorage):
    """A MemoryStorage with a bucket name of its own (two of them do not overlap)."""

    def __init__(self, objects: dict[str, bytes], name: str) -> None:
        super().__init__(objects)
        self.name = name

    def uri(self, remote_key: str = "") -> str:
        return f"mem://{self.name}/{remote_key}"


class ShuffledStorage(Named):
    """A store that promises no listing order (list_objects only), like a third-party
    store: yields its keys in a seeded random order."""

    def __init__(self, objects: dict[str, bytes], name: str, seed: int) -> None:
        super().__init__(objects, name)
        self.seed = seed

    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        keys = [k for k in self.objects if k.startswith(prefix)]
        random.Random(self.seed).shuffle(keys)
        for key in keys:
            yield self._describe(key)


class BrokenOrderStorage(Named):
    """A store that claims ordered range listings (list_range) and breaks the promise."""

    def list_range(
        self,
        prefix: str = "",
        start: str | None = None,
        end: str | None = None,
        *,
        page_size: int = 1000,
    ) -> Iterator[StorageObject]:
        keys = sorted(k for k in self.objects if k.startswith(prefix))
        keys[0], keys[-1] = keys[-1], keys[0]
        for key in keys:
            yield self._describe(key)


def _objects(n: int, seed: int = 0) -> dict[str, bytes]:
    rnd = random.Random(seed)
    keys = {f"k/{rnd.randrange(10**6):06d}" for _ in range(n)} | set(TRICKY[5:])
    return {k: f"{k}:{rnd.random()}".encode() for k in keys}


def _summary(plans: list[Plan]) -> list[list[tuple[str, str, str]]]:
    return [[(i.key, i.action, i.reason) for i in p.items] for p in plans]


@pytest.mark.parametrize("spill_run", [10**6, 7])  # in memory; through temp-file runs
def test_the_plan_does_not_depend_on_listing_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spill_run: int
) -> None:
    monkeypatch.setattr(replication, "SPILL_RUN", spill_run)
    src = _objects(300, seed=1)
    dst = dict(list(src.items())[::2])  # half there already
    dst.update({k: b"changed" + v[7:] for k, v in list(src.items())[1:40:3]})  # same size
    dst.update({"k/zz-extra": b"x", "k/aa-extra": b"y"})  # only on the target
    opts = ReplicationOptions(use_journal=False, delete_extraneous=True, max_delete=10)
    expected = None
    for seed in range(4):
        plans = plan_replication(
            ShuffledStorage(src, "src", seed),
            "",
            [(ShuffledStorage(dst, "dst", seed + 100), "")],
            opts,
        )
        got = _summary(plans)
        if expected is None:
            expected = got
            actions = [a for _, a, _ in got[0]]
            assert actions.count("delete") == 2 and actions.count("copy") > 0
            assert actions.count("skip") > 0
        assert got == expected
    # the same plan from stores that list in order
    ordered = plan_replication(Named(src, "src"), "", [(Named(dst, "dst"), "")], opts)
    assert _summary(ordered) == expected


def test_a_store_that_breaks_its_order_fails_and_deletes_nothing(tmp_path: Path) -> None:
    src = BrokenOrderStorage({"a": b"1", "m": b"2", "z": b"3"}, "src")
    target = Named({"b": b"old", "y": b"old"}, "dst")
    opts = ReplicationOptions(
        journal_dir=str(tmp_path / "state"), delete_extraneous=True, max_delete=5
    )
    with pytest.raises(StorageError, match="not in key order"):
        replicate_prefix(src, "", [(target, "")], opts)
    assert {"b", "y"} <= set(target.objects)


def test_local_listing_is_in_utf8_byte_order_from_any_start(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "b")
    keys = [k for k in TRICKY if k not in ("a", "a/b")]  # 'a' and 'a/b' are directories
    for k in keys:
        data = k.encode()
        sha = hashlib.sha256(data).hexdigest()
        store.upload_stream(io.BytesIO(data), k, size=len(data), sha256=sha)
    by_bytes = sorted(keys, key=lambda k: k.encode())  # the order S3, GCS and Azure list in
    assert [o.key for o in store.list_range()] == by_bytes
    assert [o.key for o in store.list_objects()] == by_bytes
    for start in ["a", "a/", "a/b/", "a/b/d", "a0", "é", "\U0010ffff"]:
        for end in [None, "a/b/c", "b", "é"]:
            want = [k for k in by_bytes if k >= start and (end is None or k < end)]
            assert [o.key for o in store.list_range("", start, end)] == want, (start, end)
    assert [o.key for o in store.list_range("a/", "a/b/c")] == ["a/b/c"]
    # pages resume after their token, in the same order
    page, token = store.list_page("", None, page_size=4)
    rest: list[str] = []
    while token:
        more, token = store.list_page("", token, page_size=4)
        rest += [o.key for o in more]
    assert [o.key for o in page] + rest == by_bytes


def test_a_no_op_reads_and_heads_nothing_and_checksum_compares(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for i in range(30):
        path = root / f"d{i % 3}" / f"{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100 + i))
    source = CountingStorage(LocalStorage(root))
    target = CountingStorage(LocalStorage(tmp_path / "dst"))
    opts = ReplicationOptions(journal_dir=str(tmp_path / "state"))
    (first,) = replicate_prefix(source, "", [(target, "")], opts)
    assert first.ok and first.copied == 30
    source.reads.clear()
    (again,) = replicate_prefix(source, "", [(target, "")], opts)
    assert again.ok and again.skipped == 30 and again.copied == 0
    assert sum(source.reads.values()) == 0 and sum(target.heads.values()) == 0
    # a file rewritten in place with the same size: its mtime (the stat etag) changed,
    # so the journal is not trusted for it and the bytes are compared
    victim = tmp_path / "dst" / "d1" / "4.bin"
    victim.write_bytes(os.urandom(104))
    (fixed,) = replicate_prefix(source, "", [(target, "")], opts)
    assert fixed.copied_keys == ("d1/4.bin",)
    assert victim.read_bytes() == (root / "d1" / "4.bin").read_bytes()
    # --checksum compares the sha256 records of every pair instead of trusting the journal
    target.heads.clear()
    (checked,) = replicate_prefix(
        source, "", [(target, "")], ReplicationOptions(journal_dir=opts.journal_dir, checksum=True)
    )
    assert checked.skipped == 30 and sum(target.heads.values()) == 30


PLAN = textwrap.dedent(
    """
    import json, sys
    from providers.local.storage import LocalStorage
    from providers.replication import KeyRange, ReplicationOptions, replicate_prefix
    hi = sys.argv[3] or None
    opts = ReplicationOptions(dry_run=True, journal_dir=sys.argv[4], key_range=KeyRange(None, hi))
    (r,) = replicate_prefix(LocalStorage(sys.argv[1]), "", [(LocalStorage(sys.argv[2]), "")], opts)
    print(json.dumps({"to_copy": r.to_copy, "skipped": r.skipped, "rss_mib": peak_rss_mib()}))
    """
)


def test_planning_memory_is_flat_at_250k_objects(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    hard_link_tree(src, 250_000)
    hard_link_tree(dst, 10_000)  # the first ten directories already there, same size

    def plan(hi: str) -> dict[str, float]:
        return run_json(PLAN, str(src), str(dst), hi, str(tmp_path / "state"), timeout=120)

    small = plan("d0025")  # a shard of the first 25,000 keys
    large = plan("")  # all 250,000
    assert small["to_copy"] + small["skipped"] == 25_000
    assert large["to_copy"] + large["skipped"] == 250_000
    # 10x the objects, (nearly) the same peak: nothing per object is held
    assert large["rss_mib"] < small["rss_mib"] + 16, (small, large)
    assert large["rss_mib"] < 150, large
