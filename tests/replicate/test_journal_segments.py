"""The segments journal layout: shards of ONE pair written at once by several hosts.

Hosts are separate processes here, each writing its own segment file; the state
directory is a real directory, the SQLite files real files, read back with sqlite3 itself.
What must hold (issue 17, with every guarantee of issue 13):

- no SQLite file under the state directory is ever in WAL mode (no -wal or -shm file
  ever appears, every segment and the main journal say `journal_mode` delete);
- two processes writing shards of one pair at once lose nothing: the merged journal
  names every object with the sha256 of the bytes the target holds;
- a later run cut at other boundaries, before or after the merge, copies nothing and
  reads nothing of the source;
- a SIGKILLed writer's segment is read by the retry (what it finished is not written
  again: same inode, same mtime) and merged by the next lock holder;
- the merge is idempotent and crash-safe: killed after a commit or inside a
  transaction, the next merge ends with exactly what main plus segments said.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from providers.journal import (
    Journal,
    SegmentJournal,
    filesystem_type,
    merge_segments,
    on_network_fs,
    resolve_layout,
    segment_files,
    segments_dir,
)
from providers.local.storage import LocalStorage
from providers.replication import KeyRange, ReplicationOptions, _uri, journal_path, replicate_prefix
from providers.shards import hold_target_locks, replicate_shard, split_key_ranges
from tests.replicate.stores import CountingStorage

CTX = multiprocessing.get_context("fork")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fill(root: Path, n: int, size: int = 300) -> dict[str, bytes]:
    files = {f"d{i % 7}/f{i:05d}": os.urandom(size + i % 50) for i in range(n)}
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return files


def segopts(state: Path, **kw: Any) -> ReplicationOptions:
    return ReplicationOptions(journal_dir=str(state), journal_layout="segments", transfers=2, **kw)


def main_journal(tmp: Path) -> Path:
    src, dst = LocalStorage(tmp / "src"), LocalStorage(tmp / "dst")
    return journal_path(_uri(src, ""), _uri(dst, ""), tmp / "state")


def mode_of(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def done_rows(path: Path) -> dict[str, tuple[int, str, str | None, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, size, sha256, src_tag, run_id FROM done").fetchall()
    return {k: (z, h, t, r) for k, z, h, t, r in rows}


class WalWatch:
    """Polls the state directory for -wal/-shm files while a test runs (a WAL database
    keeps both open as long as any connection is)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            for dirpath, _, names in os.walk(self.root):
                self.seen.update(
                    os.path.join(dirpath, n) for n in names if n.endswith(("-wal", "-shm"))
                )
            time.sleep(0.002)

    def __enter__(self) -> WalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _shards_in_a_process(
    barrier: Any, tmp: str, ranges: list[KeyRange], out: Any, layout: str = "segments"
) -> None:
    try:
        barrier.wait(timeout=60)
        base = Path(tmp)
        opts = ReplicationOptions(journal_dir=str(base / "state"), journal_layout=layout)
        results = []
        for r in ranges:
            (report,) = replicate_shard(
                LocalStorage(base / "src"), "", [(LocalStorage(base / "dst"), "")], opts, r
            )
            results.append((report.ok, report.copied, report.skipped))
        out.put(results)
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def run_two_hosts(tmp: Path, ranges: list[KeyRange]) -> list[Any]:
    """Host A takes the even ranges, host B the odd ones, both at the same moment."""
    barrier, out = CTX.Barrier(2), CTX.Queue()
    parts = [ranges[0::2], ranges[1::2]]
    procs = [
        CTX.Process(target=_shards_in_a_process, args=(barrier, str(tmp), part, out))
        for part in parts
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


def test_two_hosts_write_shards_of_one_pair_at_once_without_wal(tmp_path: Path) -> None:
    files = fill(tmp_path / "src", 1200)
    ranges = split_key_ranges(LocalStorage(tmp_path / "src"), "", 150)
    assert len(ranges) == 8
    main = main_journal(tmp_path)
    src, dst = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    seen_segments: set[str] = set()
    with (
        WalWatch(tmp_path / "state") as watch,
        hold_target_locks(src, "", [(dst, "")], segopts(tmp_path / "state")),
    ):
        assert mode_of(main) == "delete"  # prepared by the lock holder, for readers
        results = run_two_hosts(tmp_path, ranges)
        assert all(isinstance(r, list) for r in results), results
        assert sum(c for part in results for _, c, _ in part) == 1200
        segments = segment_files(main)
        seen_segments = {p.name for p in segments}
        assert len(segments) == 8  # one per shard attempt, none shared
        for seg in segments:
            assert mode_of(seg) == "delete", seg
        assert done_rows(main) == {}  # the shards never wrote the main journal
    # released: merged by the lock holder (still watched), the segments gone
    assert watch.seen == set(), watch.seen
    assert not segments_dir(main).exists() and len(seen_segments) == 8
    assert mode_of(main) == "delete"
    rows = done_rows(main)
    assert set(rows) == set(files)
    for key, data in files.items():
        assert (tmp_path / "dst" / key).read_bytes() == data
        assert rows[key][:2] == (len(data), sha(data)), key
    with sqlite3.connect(main) as db:
        # every attempt's run, merged; no segment name left to remember
        assert db.execute("SELECT count(*) FROM runs WHERE status='ok'").fetchone()[0] == 8
        assert db.execute("SELECT count(*) FROM merged").fetchone()[0] == 0


def test_a_later_run_cut_at_other_boundaries_reads_unmerged_segments(tmp_path: Path) -> None:
    """The flow's host died before merging: the segments stay, and a later run's shards,
    cut differently, still skip every verified copy without reading the source."""
    files = fill(tmp_path / "src", 600)
    ranges = split_key_ranges(LocalStorage(tmp_path / "src"), "", 100)
    with WalWatch(tmp_path / "state") as watch:
        results = run_two_hosts(tmp_path, ranges)  # no lock holder: nothing merges
        assert all(isinstance(r, list) for r in results), results
        main = main_journal(tmp_path)
        assert len(segment_files(main)) == len(ranges) and not main.exists()
        src = CountingStorage(LocalStorage(tmp_path / "src"))
        dst = CountingStorage(LocalStorage(tmp_path / "dst"))
        other = split_key_ranges(LocalStorage(tmp_path / "src"), "", 170)
        assert {r.lo for r in other} != {r.lo for r in ranges}
        for r in other:
            (report,) = replicate_shard(src, "", [(dst, "")], segopts(tmp_path / "state"), r)
            assert report.ok and report.copied == 0, report
        assert sum(src.reads.values()) == 0 and sum(dst.writes.values()) == 0
        # nothing new to record: the later run wrote no segment of its own
        assert len(segment_files(main)) == len(ranges)
        # the next lock holder merges them first, then a one-process run copies nothing
        (again,) = replicate_prefix(src, "", [(dst, "")], segopts(tmp_path / "state"))
        assert again.ok and again.copied == 0 and again.skipped == 600
        assert sum(src.reads.values()) == 0
    assert watch.seen == set()
    assert segment_files(main) == [] and set(done_rows(main)) == set(files)


def _slow_shard(tmp: str, r: KeyRange, out: Any) -> None:
    base = Path(tmp)
    opts = segopts(base / "state", bandwidth_limit=40_000)
    out.put(os.getpid())
    replicate_shard(LocalStorage(base / "src"), "", [(LocalStorage(base / "dst"), "")], opts, r)


def _killed_rows(main: Path) -> tuple[Path, dict[str, tuple[int, str, str | None, str]]] | None:
    for seg in segment_files(main):
        try:
            rows = done_rows(seg)
        except sqlite3.Error:
            continue
        if len(rows) >= 20:
            return seg, rows
    return None


def test_a_sigkilled_writers_segment_is_read_by_the_retry_and_merged(tmp_path: Path) -> None:
    files = fill(tmp_path / "src", 200, size=1500)
    main = main_journal(tmp_path)
    whole = KeyRange(None, None)
    out = CTX.Queue()
    proc = CTX.Process(target=_slow_shard, args=(str(tmp_path), whole, out))
    proc.start()
    pid = out.get(timeout=30)
    found = None
    deadline = time.monotonic() + 60
    while found is None and time.monotonic() < deadline:
        time.sleep(0.05)
        found = _killed_rows(main)
    os.kill(pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert found is not None, "the shard journaled nothing in time"
    time.sleep(0.1)
    seg, _ = found
    finished = done_rows(seg)  # what it committed before the kill
    assert 20 <= len(finished) < 200
    stamp = {k: (tmp_path / "dst" / k).stat() for k in finished}

    # the retry, "on another host": reads the killed attempt's segment
    dst = CountingStorage(LocalStorage(tmp_path / "dst"))
    (report,) = replicate_shard(
        LocalStorage(tmp_path / "src"), "", [(dst, "")], segopts(tmp_path / "state"), whole
    )
    assert report.ok and report.copied + report.skipped == 200
    assert report.copied <= 200 - len(finished)
    assert not set(dst.writes) & set(finished)
    for key, st in stamp.items():
        now = (tmp_path / "dst" / key).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), key

    # the next lock holder merges both segments; the killed run still owns its copies
    killed_run = next(iter(finished.values()))[3]
    src, plain = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    with hold_target_locks(src, "", [(plain, "")], segopts(tmp_path / "state")):
        assert segment_files(main) == []
    rows = done_rows(main)
    assert set(rows) == set(files)
    assert all(rows[k][3] == killed_run for k in finished)
    for key, data in files.items():
        assert rows[key][:2] == (len(data), sha(data))
        assert (tmp_path / "dst" / key).read_bytes() == data


# --------------------------------------------------------------------------- merge
def make_segment(main: Path, lo: str | None, hi: str | None, keys: list[str], run: str) -> Path:
    """A segment written the way a shard writes one (then closed, as at its end)."""
    view = SegmentJournal(main, "src://", "dst://", (lo, hi))
    view.start_run(run)
    for k in keys:
        view.record(k, len(k), sha(k.encode()), f"e-{k}", run, "test", f"t-{run}")
        view.cache_hash(k, len(k), f"t-{run}", sha(k.encode()))
    view.end_run(run, "ok")
    path = view.segment_path()
    view.close()
    assert path is not None
    return path


def everything(journal: Journal) -> tuple[list[Any], list[Any]]:
    done = journal.done_page("", 10**9)
    hashes = journal.hash_page("", 10**9)
    return done, hashes


def test_later_segments_win_records_tombstones_and_tags(tmp_path: Path) -> None:
    main = tmp_path / "journal-x.sqlite"
    j = Journal(main, "src://", "dst://", mode="delete")
    for k in ("a", "b", "c"):
        j.record(k, 1, "h-" + k, "e", "run0", "ev", "tag0")
    j.close()
    older = SegmentJournal(main, "src://", "dst://", (None, None))
    older.record("d", 2, "h-d", "e", "run1", "ev", "tag1")
    older.forget("a")
    older.close()
    newer = SegmentJournal(main, "src://", "dst://", ("b", None))
    newer.set_source_tag("b", "tag2")  # a record in the main journal: a tag delta
    newer.forget("d")  # the older segment's record
    newer.record("a", 3, "h-a2", "e2", "run2", "ev", "tag2")  # after its forget: back
    assert newer.finished("a") == (3, "h-a2", "e2")
    assert newer.finished("d") is None
    view = [(k, r.sha256, r.src_tag) for k, r in newer.done_page("", 2)]
    assert view == [("a", "h-a2", "tag2"), ("b", "h-b", "tag2")]  # exactly a page
    rest = [(k, r.sha256, r.src_tag) for k, r in newer.done_page("b\0", 100)]
    assert rest == [("c", "h-c", "tag0")]
    expected = everything(newer)
    newer.close()
    report = merge_segments(main)
    assert report.segments == 2 and segment_files(main) == []
    merged = Journal.open_existing(main)
    assert merged is not None
    assert everything(merged) == expected
    merged.close()


def _merge_then_die(main: str) -> None:
    def die(_seg: Path) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    merge_segments(Path(main), after_commit=die)


def _merge(main: str) -> None:
    merge_segments(Path(main))


def reference(main: Path) -> tuple[list[Any], list[Any]]:
    view = SegmentJournal(main, "", "", (None, None), read_only=True)
    try:
        return everything(view)
    finally:
        view.close()


def test_a_merge_killed_after_a_commit_is_finished_once_by_the_next(tmp_path: Path) -> None:
    main = tmp_path / "journal-x.sqlite"
    Journal(main, "src://", "dst://", mode="delete").close()
    make_segment(main, None, "m", [f"a{i:03d}" for i in range(300)], "r1")
    make_segment(main, "m", None, [f"n{i:03d}" for i in range(200)], "r1")
    make_segment(main, None, None, [f"a{i:03d}" for i in range(0, 300, 3)], "r2")  # retried
    expected = reference(main)
    proc = CTX.Process(target=_merge_then_die, args=(str(main),))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL
    # the first segment committed, its file still there
    assert len(segment_files(main)) == 3
    with sqlite3.connect(main) as db:
        assert db.execute("SELECT count(*) FROM merged").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM done").fetchone()[0] == 300
    assert reference(main) == expected  # a reader meanwhile sees the same
    again = merge_segments(main)
    assert again.segments == 3
    # the first segment's 600 rows (300 records, 300 hashes) were not applied again
    assert again.rows == 2 * 200 + 2 * 100
    journal = Journal.open_existing(main)
    assert journal is not None
    assert everything(journal) == expected
    journal.close()
    assert merge_segments(main).segments == 0  # nothing left: idempotent


def test_a_merge_killed_inside_its_transaction_loses_and_doubles_nothing(tmp_path: Path) -> None:
    main = tmp_path / "journal-x.sqlite"
    Journal(main, "src://", "dst://", mode="delete").close()
    make_segment(main, None, None, [f"k{i:06d}" for i in range(60_000)], "big")
    expected = reference(main)
    rollback = main.with_name(main.name + "-journal")
    proc = CTX.Process(target=_merge, args=(str(main),))
    proc.start()
    deadline = time.monotonic() + 60
    while not rollback.exists() and proc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.0005)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert rollback.exists(), "the kill did not land inside the merge's transaction"
    # the hot journal rolled back by the next opener: none of the segment applied
    assert len(segment_files(main)) == 1
    assert reference(main) == expected
    report = merge_segments(main)
    assert report.segments == 1 and report.rows == 120_000
    journal = Journal.open_existing(main)
    assert journal is not None
    assert everything(journal) == expected
    journal.close()


# --------------------------------------------------------------------------- layout
MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
/dev/nvme0n1p1 / ext4 rw,relatime 0 0
fs-0123.efs.us-east-1.amazonaws.com:/ /mnt/efs nfs4 rw,relatime,vers=4.1,rsize=1048576 0 0
//acct.file.core.windows.net/share /mnt/azure\\040files cifs rw,relatime,vers=3.1.1 0 0
gcsfuse /mnt/gcs fuse.gcsfuse rw,nosuid,nodev,relatime,user_id=0,group_id=0 0 0
/dev/nvme1n1 /mnt/efs/local-cache xfs rw,relatime 0 0
"""


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "mounts"
    path.write_text(MOUNTS)
    yield str(path)


def test_network_file_systems_are_told_from_proc_mounts(mounts: str) -> None:
    assert filesystem_type(Path("/mnt/efs/state/replicate"), mounts) == "nfs4"
    assert filesystem_type(Path("/mnt/azure files/x"), mounts) == "cifs"
    assert filesystem_type(Path("/mnt/efs/local-cache/x"), mounts) == "xfs"  # the longest
    assert filesystem_type(Path("/mnt/efsx"), mounts) == "ext4"  # not under /mnt/efs
    assert on_network_fs(Path("/mnt/gcs/state"), mounts)
    assert not on_network_fs(Path("/home/me/.specify-cloud"), mounts)


def test_the_layout_is_chosen_explicitly_or_by_where_workers_are(tmp_path: Path) -> None:
    assert resolve_layout("segments", tmp_path) == "segments"
    assert resolve_layout("single-host", tmp_path, remote_workers=True) == "single-host"
    assert filesystem_type(tmp_path) not in {"nfs", "nfs4", "cifs"}
    assert resolve_layout("auto", tmp_path) == "single-host"
    assert resolve_layout("auto", tmp_path, remote_workers=True) == "segments"
    from providers.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="journal_layout='sharded'"):
        ReplicationOptions(journal_layout="sharded")


@pytest.mark.parametrize("seed", range(4))
def test_reading_main_and_segments_a_page_at_a_time_equals_applying_them(
    tmp_path: Path, seed: int
) -> None:
    """Random records, tombstones and tags over a main journal and five segments (some
    ranges overlapping, as after a run cut differently): pages of 7 from any start, and
    the merged file, say exactly what applying every write in order says."""
    import random

    rnd = random.Random(seed)
    keys = [f"k{i:03d}" for i in range(120)]
    main = tmp_path / "journal-x.sqlite"
    expected: dict[str, tuple[str, str | None]] = {}
    j = Journal(main, "s", "t", mode="delete")
    for k in rnd.sample(keys, 60):
        j.record(k, 1, f"main-{k}", "e", "r0", "ev", "tag0")
        expected[k] = (f"main-{k}", "tag0")
    j.close()
    for n in range(5):
        lo, hi = sorted(rnd.sample(keys, 2))
        r = (None if n == 0 else lo, None if n == 4 else hi)
        seg = SegmentJournal(main, "s", "t", r)
        inside = [k for k in keys if (r[0] is None or k >= r[0]) and (r[1] is None or k < r[1])]
        for k in rnd.sample(inside, min(len(inside), 25)):
            op = rnd.choice(["record", "forget", "tag"])
            if op == "record":
                seg.record(k, 1, f"s{n}-{k}", "e", f"r{n}", "ev", f"tag{n}")
                expected[k] = (f"s{n}-{k}", f"tag{n}")
            elif op == "forget":
                seg.forget(k)
                expected.pop(k, None)
            else:
                seg.set_source_tag(k, f"t{n}")
                if k in expected:
                    expected[k] = (expected[k][0], f"t{n}")
        seg.close()

    def scan(journal: Journal, start: str) -> dict[str, tuple[str, str | None]]:
        got: dict[str, tuple[str, str | None]] = {}
        while True:
            page = journal.done_page(start, 7)
            assert [k for k, _ in page] == sorted(k for k, _ in page)
            got.update((k, (row.sha256, row.src_tag)) for k, row in page)
            if len(page) < 7:
                return got
            start = page[-1][0] + "\0"

    view = SegmentJournal(main, "", "", (None, None), read_only=True)
    for start in ("", "k050", "k0505", "z"):
        assert scan(view, start) == {k: v for k, v in expected.items() if k >= start}
    view.close()
    assert merge_segments(main).segments == 5
    merged = Journal.open_existing(main)
    assert merged is not None
    assert scan(merged, "") == expected
    merged.close()


def test_leftover_segments_are_seen_by_a_dry_run_and_merged_first_by_any_lock_holder(
    tmp_path: Path,
) -> None:
    """A segments run died before its merge; the next run is single-host (one machine):
    its dry run already trusts the segments, and its lock holder merges them before any
    shard writes the WAL file (an old segment merged later would overwrite newer rows)."""
    files = fill(tmp_path / "src", 300)
    ranges = split_key_ranges(LocalStorage(tmp_path / "src"), "", 100)
    results = run_two_hosts(tmp_path, ranges)
    assert all(isinstance(r, list) for r in results), results
    main = main_journal(tmp_path)
    assert len(segment_files(main)) == 3
    src, dst = LocalStorage(tmp_path / "src"), LocalStorage(tmp_path / "dst")
    single = ReplicationOptions(journal_dir=str(tmp_path / "state"), journal_layout="single-host")
    (dry,) = replicate_prefix(src, "", [(dst, "")], replace(single, dry_run=True))
    assert dry.to_copy == 0 and dry.skipped == 300
    with hold_target_locks(src, "", [(dst, "")], single):
        assert segment_files(main) == [] and set(done_rows(main)) == set(files)
        assert mode_of(main) == "wal"
        for r in ranges:
            (report,) = replicate_shard(src, "", [(dst, "")], single, r)
            assert report.ok and report.copied == 0
