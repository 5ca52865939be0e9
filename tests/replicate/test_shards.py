"""providers.shards: the cut into key ranges, shard runs against every target, the
whole-source delete guards, and locks that let shards of one run go side by side.

The stores are real directories (LocalStorage), wrapped to count reads and writes per key
at the storage edge: a key lost at a boundary is missing from the target's directory, a key
doubled is written twice, and a second read of the source shows in the read count.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from providers.base import StorageObject
from providers.errors import ConfigurationError
from providers.local.storage import LocalStorage
from providers.replication import KeyRange, ReplicationOptions, replicate_prefix
from providers.shards import (
    DeleteCensus,
    check_deletes,
    delete_census,
    hold_target_locks,
    range_index,
    replicate_shard,
    split_key_ranges,
)
from tests.replicate.stores import CountingStorage, MemoryStorage

# '-' < '.' < '/' < '0': a directory's keys sort among its siblings' names
TRICKY = ["a-b", "a.b", "a/b", "a/c/d", "a0", "bb", "b/x", "b0", "d e", "z", "é", "名前/1"]


def fill(root: Path, keys: list[str], tag: str = "") -> dict[str, bytes]:
    out = {}
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"{key}:{tag}".encode() * 3
        path.write_bytes(data)
        out[key] = data
    return out


def tree(root: Path, prefix: str = "") -> dict[str, bytes]:
    store = LocalStorage(root)
    return {o.key[len(prefix) :]: (root / o.key).read_bytes() for o in store.list_objects(prefix)}


def assert_cover(ranges: list[KeyRange]) -> None:
    """Contiguous: first lo and last hi open, each hi the next lo, each range non-empty."""
    assert ranges[0].lo is None and ranges[-1].hi is None
    for a, b in itertools.pairwise(ranges):
        assert a.hi is not None and a.hi == b.lo
        assert a.lo is None or a.lo < a.hi


def owners(ranges: list[KeyRange], key: str) -> list[int]:
    return [i for i, r in enumerate(ranges) if key in r]


# --------------------------------------------------------------------------- the cut
@pytest.mark.parametrize("per_shard", [1, 2, 3, 5, 100])
def test_split_covers_every_key_once_in_shards_of_the_asked_size(
    tmp_path: Path, per_shard: int
) -> None:
    fill(tmp_path / "src", TRICKY)
    ranges = split_key_ranges(LocalStorage(tmp_path / "src"), "", per_shard)
    assert_cover(ranges)
    assert len(ranges) == -(-len(TRICKY) // per_shard)
    sizes = [0] * len(ranges)
    for key in TRICKY:
        (i,) = owners(ranges, key)
        assert range_index(ranges, key) == i
        sizes[i] += 1
    assert all(s == per_shard for s in sizes[:-1]) and 0 < sizes[-1] <= per_shard


def test_split_holds_boundaries_not_the_listing(tmp_path: Path) -> None:
    """A listing of 3,000 keys cut every 1,000: three ranges, the boundaries the 1,000th
    and 2,000th keys in the service's order, whatever the prefix."""
    keys = [f"p/{i:05d}" for i in range(3000)]
    store = MemoryStorage({k: b"x" for k in keys} | {"other/1": b"y"})
    ranges = split_key_ranges(store, "p", 1000)
    assert [(r.lo, r.hi) for r in ranges] == [(None, "01000"), ("01000", "02000"), ("02000", None)]
    assert split_key_ranges(store, "nothing/", 10) == [KeyRange(None, None)]


class Reversed(MemoryStorage):
    """A store that lists newest-first (not in key order)."""

    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        return reversed(list(super().list_objects(prefix)))


def test_a_store_listing_out_of_order_is_still_cut_exactly(tmp_path: Path) -> None:
    store = Reversed({k: b"x" for k in TRICKY})
    ranges = split_key_ranges(store, "", 4)
    assert_cover(ranges)
    assert [sum(1 for k in TRICKY if k in r) for r in ranges] == [4, 4, 4]


def test_bad_shard_size_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="objects_per_shard"):
        split_key_ranges(LocalStorage(tmp_path), "", 0)


# --------------------------------------------------------------------------- shard runs
def run_all_shards(
    source: CountingStorage,
    targets: list[tuple[CountingStorage, str]],
    ranges: list[KeyRange],
    state: Path,
    parallel: bool,
) -> list[list[object]]:
    opts = ReplicationOptions(journal_dir=str(state), transfers=2)

    def one(r: KeyRange) -> list[object]:
        return list(replicate_shard(source, "data", targets, opts, r))

    if not parallel:
        return [one(r) for r in ranges]
    with ThreadPoolExecutor(len(ranges)) as pool:
        return list(pool.map(one, ranges))


@pytest.mark.parametrize("parallel", [False, True])
def test_no_key_lost_or_doubled_when_the_source_changes_after_the_cut(
    tmp_path: Path, parallel: bool
) -> None:
    """Keys added between the cut and the shard runs at, just below and just above every
    boundary, before the first and after the last key; keys removed, boundary keys among
    them: every target ends equal to the source as it is, each key written once per
    target, each source object read once for all targets."""
    src_root = tmp_path / "src"
    fill(src_root / "data", TRICKY)
    ranges = split_key_ranges(LocalStorage(src_root), "data", 3)
    assert len(ranges) == 4
    bounds = [r.lo for r in ranges[1:]]
    assert all(b is not None for b in bounds)
    added = ["!first", "\U0010ffff-last"]
    for b in bounds:
        assert b is not None
        added += [b + "~", b[:-1] + chr(ord(b[-1]) - 1) + "zz", b + " inside"]
    removed = [bounds[0], TRICKY[-1], "a.b"]
    fill(src_root / "data", added, "new")
    for key in removed:
        (src_root / "data" / key).unlink()
    (src_root / "data" / "bb").write_bytes(b"changed after the cut")  # a boundary changed

    source = CountingStorage(LocalStorage(src_root))
    targets = [
        (CountingStorage(LocalStorage(tmp_path / "t1")), "copy"),
        (CountingStorage(LocalStorage(tmp_path / "t2")), ""),
    ]
    runs = run_all_shards(source, targets, ranges, tmp_path / "state", parallel)
    want = tree(src_root, "data/")
    assert set(want) == (set(TRICKY) | set(added)) - set(removed)
    for (store, prefix), per_target in zip(targets, zip(*runs, strict=True), strict=True):
        assert all(r.ok for r in per_target)  # type: ignore[attr-defined]
        root = store.inner.root  # type: ignore[attr-defined]
        assert tree(root, f"{prefix}/" if prefix else "") == want
        assert sorted(store.writes.values()) == [1] * len(want)  # none doubled
        copied = [k for r in per_target for k in r.copied_keys]  # type: ignore[attr-defined]
        assert sorted(copied) == sorted(want)
    assert {k[len("data/") :]: n for k, n in source.reads.items()} == dict.fromkeys(want, 1)


def test_a_second_run_after_more_changes_copies_only_the_changes(tmp_path: Path) -> None:
    """The journal and hash cache are the pair's, not a shard's: a later run cut
    differently (other boundaries) skips everything finished."""
    fill(tmp_path / "src", [f"k{i:03d}" for i in range(40)])
    source = CountingStorage(LocalStorage(tmp_path / "src"))
    target = CountingStorage(LocalStorage(tmp_path / "dst"))
    opts = ReplicationOptions(journal_dir=str(tmp_path / "state"))
    for r in split_key_ranges(source, "", 7):
        replicate_shard(source, "", [(target, "")], opts, r)
    fill(tmp_path / "src", ["k100", "k005"], "again")
    target.writes.clear()
    source.reads.clear()
    reports = [
        replicate_shard(source, "", [(target, "")], opts, r)[0]
        for r in split_key_ranges(source, "", 11)
    ]
    assert sorted(k for r in reports for k in r.copied_keys) == ["k005", "k100"]
    assert sum(r.skipped for r in reports) == 40 - 1
    assert dict(target.writes) == {"k005": 1, "k100": 1}


def test_shards_of_one_run_never_block_each_other_but_another_run_is_refused(
    tmp_path: Path,
) -> None:
    fill(tmp_path / "src", [f"f{i:02d}" for i in range(12)])
    source, target = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    opts = ReplicationOptions(journal_dir=str(tmp_path / "state"), bandwidth_limit=2000)
    ranges = split_key_ranges(source, "", 3)
    with hold_target_locks(source, "", [(target, "")], opts, holder="flow-run-1"):
        # the command line (or a second flow) on the same target: refused, naming the holder
        with pytest.raises(ConfigurationError, match=r"another replication.*flow-run-1"):
            replicate_prefix(source, "", [(target, "")], opts)
        started = threading.Barrier(len(ranges))

        def one(r: KeyRange) -> bool:
            started.wait(timeout=10)  # all four at once, each holding its range's lock
            return replicate_shard(source, "", [(target, "")], opts, r)[0].ok

        with ThreadPoolExecutor(len(ranges)) as pool:
            assert all(pool.map(one, ranges))
    assert tree(tmp_path / "dst") == tree(tmp_path / "src")
    # lock released with the run: the command line may go again
    (report,) = replicate_prefix(source, "", [(target, "")], opts)
    assert report.ok and report.skipped == 12


# --------------------------------------------------------------------------- deletes
def census_of(
    tmp_path: Path, opts: ReplicationOptions, per_shard: int
) -> tuple[list[KeyRange], DeleteCensus]:
    source, target = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    ranges = split_key_ranges(source, "", per_shard)
    return ranges, delete_census(source, "", target, "", opts, ranges)


def test_max_delete_counts_the_whole_source_not_one_shard(tmp_path: Path) -> None:
    """Three shards deleting two each: every shard is under --max-delete 3, the run is
    not, and nothing is deleted."""
    keep = [f"k{i}" for i in range(6)]
    fill(tmp_path / "src", keep)
    fill(tmp_path / "dst", [*keep, "k0x", "k1x", "k2x", "k3x", "k4x", "k5x"])
    opts = ReplicationOptions(delete_extraneous=True, max_delete=3)
    ranges, census = census_of(tmp_path, opts, 2)
    assert len(ranges) == 3 and census.per_range == (2, 2, 2)
    assert (census.sources, census.target_objects, census.deletes) == (6, 12, 6)
    with pytest.raises(ConfigurationError, match=r"6 objects .* more than --max-delete 3"):
        check_deletes(census, "file:///src/", opts)
    check_deletes(census, "file:///src/", ReplicationOptions(delete_extraneous=True, max_delete=6))


def test_more_than_half_of_one_shard_is_not_more_than_half_of_the_target(
    tmp_path: Path,
) -> None:
    """The target's extra keys all sort after the source's: the last shard would delete 3
    of its 5 (a per-shard guard refuses: more than half); the whole source decides, 3 of 7,
    and the deletes run once every shard copied."""
    fill(tmp_path / "src", ["a1", "a2", "a3", "a4"])
    fill(tmp_path / "dst", ["a1", "a2", "a3", "a4", "a5", "a6", "a7"])
    opts = ReplicationOptions(delete_extraneous=True, journal_dir=str(tmp_path / "state"))
    ranges, census = census_of(tmp_path, opts, 2)
    assert census.per_range == (0, 3)
    check_deletes(census, "file:///src/", opts)  # not refused
    # the engine on the last range alone would refuse it
    with pytest.raises(ConfigurationError, match="more than half"):
        replicate_prefix(
            LocalStorage(tmp_path / "src"),
            "",
            [(LocalStorage(tmp_path / "dst"), "")],
            ReplicationOptions(
                delete_extraneous=True, key_range=ranges[1], journal_dir=str(tmp_path / "s2")
            ),
        )
    source, target = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    for r in ranges:
        (report,) = replicate_shard(source, "", [(target, "")], opts, r)  # copies, no deletes
        assert report.ok and report.deleted == 0
    for r, allowed in zip(ranges, census.per_range, strict=True):
        if allowed:
            (report,) = replicate_shard(
                source, "", [(target, "")], opts, r, allowed_deletes=allowed
            )
            assert report.ok and report.deleted == allowed
    assert set(tree(tmp_path / "dst")) == {"a1", "a2", "a3", "a4"}


def test_the_whole_source_guards_refuse_what_they_refuse_for_one_run(tmp_path: Path) -> None:
    fill(tmp_path / "dst", ["x1", "x2"])
    (tmp_path / "src").mkdir()
    opts = ReplicationOptions(delete_extraneous=True)
    _, census = census_of(tmp_path, opts, 10)
    with pytest.raises(ConfigurationError, match="lists no objects"):
        check_deletes(census, "file:///src/", opts)
    check_deletes(
        census,
        "file:///src/",
        ReplicationOptions(delete_extraneous=True, allow_empty_source=True, max_delete=2),
    )
    fill(tmp_path / "src", ["x1"])
    fill(tmp_path / "dst", ["x3", "x4"])
    _, census = census_of(tmp_path, opts, 10)
    with pytest.raises(ConfigurationError, match=r"3 of the 4 objects .*more than half"):
        check_deletes(census, "file:///src/", opts)


def test_include_and_exclude_bound_the_census_as_they_bound_deletes(tmp_path: Path) -> None:
    fill(tmp_path / "src", ["a.csv"])
    fill(tmp_path / "dst", ["a.csv", "b.csv", "c.tmp", "d.tmp"])
    opts = ReplicationOptions(delete_extraneous=True, include=("*.csv",), max_delete=10)
    _, census = census_of(tmp_path, opts, 10)
    assert census.deletes == 1  # b.csv; the .tmp keys are not selected


def test_a_source_losing_objects_after_the_census_deletes_no_more_than_allowed(
    tmp_path: Path,
) -> None:
    fill(tmp_path / "src", ["a", "b", "c", "d"])
    fill(tmp_path / "dst", ["a", "b", "c", "d", "e"])
    opts = ReplicationOptions(delete_extraneous=True, journal_dir=str(tmp_path / "state"))
    ranges, census = census_of(tmp_path, opts, 10)
    assert census.per_range == (1,)
    for key in ("a", "b", "c"):  # the source loses three more
        (tmp_path / "src" / key).unlink()
    source, target = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    with pytest.raises(ConfigurationError, match="source changed since the deletes were checked"):
        replicate_shard(source, "", [(target, "")], opts, ranges[0], allowed_deletes=1)
    assert set(tree(tmp_path / "dst")) == {"a", "b", "c", "d", "e"}  # nothing deleted


def test_objects_are_the_same_bytes_the_source_has(tmp_path: Path) -> None:
    """Independent of our records: the target files hash as the source files."""
    content = fill(tmp_path / "src", TRICKY)
    source, target = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    opts = ReplicationOptions(journal_dir=str(tmp_path / "state"))
    for r in split_key_ranges(source, "", 5):
        replicate_shard(source, "", [(target, "")], opts, r)
    for key, data in content.items():
        got = (tmp_path / "dst" / key).read_bytes()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def _shard_in_a_process(
    barrier: Any, src: str, dst: str, state: str, r: KeyRange, out: Any
) -> None:
    barrier.wait(timeout=60)
    try:
        opts = ReplicationOptions(journal_dir=state)
        (report,) = replicate_shard(LocalStorage(src), "", [(LocalStorage(dst), "")], opts, r)
        out.put("ok" if report.ok else str(report.errors))
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("round_", range(2))
def test_shards_starting_together_on_a_fresh_journal(tmp_path: Path, round_: int) -> None:
    """Eight worker processes open the pair's new journal at the same moment (SQLite's
    switch to WAL wants the file to itself): none fails with 'database is locked'."""
    import multiprocessing

    fill(tmp_path / "src", [f"f{i:02d}" for i in range(16)])
    ranges = split_key_ranges(LocalStorage(tmp_path / "src"), "", 2)
    assert len(ranges) == 8
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(len(ranges)), ctx.Queue()
    args = (str(tmp_path / "src"), str(tmp_path / "dst"), str(tmp_path / f"state-{round_}"))
    procs = [ctx.Process(target=_shard_in_a_process, args=(barrier, *args, r, out)) for r in ranges]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * len(ranges)
    assert tree(tmp_path / "dst") == tree(tmp_path / "src")


def _prepare_in_a_process(barrier: Any, state: str, out: Any) -> None:
    from providers.replication import Replicator
    from providers.shards import prepare_journals

    rep = Replicator(MemoryStorage(), "src", [(MemoryStorage(), "dst")],
                     ReplicationOptions(journal_dir=state))  # fmt: skip
    barrier.wait(timeout=60)
    try:
        prepare_journals(rep)
        out.put("ok")
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def test_a_fresh_journal_opened_by_eight_processes_at_once(tmp_path: Path) -> None:
    """The race itself, ten times over: a bare open of a new journal by eight processes at
    once fails now and then with 'database is locked'; prepare_journals waits it out."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):
        barrier, out = ctx.Barrier(8), ctx.Queue()
        state = str(tmp_path / f"state-{round_}")
        procs = [ctx.Process(target=_prepare_in_a_process, args=(barrier, state, out))
                 for _ in range(8)]  # fmt: skip
        for p in procs:
            p.start()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert results == ["ok"] * 8, results
