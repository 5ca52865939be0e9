"""The replication journal: per source+target pair, verified copies and the source hash cache.

Two layouts (`ReplicationOptions.journal_layout`, `resolve_layout`):

- ``single-host``: the pair's one SQLite file in WAL mode, written by every process at
  once (SQLite serialises them). WAL keeps its index in shared memory (the ``-shm``
  file, mmap'ed), so every process must be on ONE host;
- ``segments``: for shards written at once from several hosts over a network mount
  (NFS, EFS, SMB/Azure Files), where WAL is not safe. The pair's main journal is read by
  the shards, never written by them: each shard attempt writes its own segment file
  (``journal-<pair>.d/<stamp>-<range>-<attempt>.sqlite``), rollback journal
  (``journal_mode=DELETE``), one writer per file, so no two hosts ever write one SQLite
  file. A shard reads the main journal plus every segment whose key range overlaps its
  own (`SegmentJournal`, a page at a time, merged by key, newest first), so a retry on
  another worker skips what a killed attempt finished. The one process holding the
  target's run lock merges finished segments into the main journal (`merge_segments`:
  at the end of the run, and leftovers of a crashed run before the next one writes),
  one transaction per segment that also names it in ``merged``, so a merge killed at any
  point is redone without losing or doubling anything.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

Layout = Literal["single-host", "segments"]
LAYOUTS = ("auto", "single-host", "segments")

#: /proc/mounts file system types whose files other hosts also write: WAL is not safe
#: there (and POSIX locks are the server's). fuse.* (s3fs, gcsfuse, blobfuse, sshfs...)
#: counts as remote too.
NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "gpfs",
     "afs", "ocfs2", "gfs2", "beegfs", "virtiofs"}
)  # fmt: skip


def _unescape(field: str) -> str:
    """A /proc/mounts field: spaces and tabs are written as octal escapes (\\040)."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def filesystem_type(path: Path, mounts: str = "/proc/mounts") -> str:
    """The type of the file system holding path (or that will hold it), from
    the longest mount point above it in /proc/mounts; "" when that cannot be read."""
    probe = Path(os.path.realpath(path))  # symlinks resolved; need not exist yet
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return ""
    best, kind = -1, ""
    text = str(probe)
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = _unescape(parts[1])
        inside = text == point or text.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), parts[2]
    return kind


def on_network_fs(path: Path, mounts: str = "/proc/mounts") -> bool:
    kind = filesystem_type(path, mounts)
    return kind in NETWORK_FS or kind.startswith("fuse.")


def resolve_layout(layout: str, state_dir: Path, remote_workers: bool = False) -> Layout:
    """``auto`` is ``segments`` when shards may run on other hosts (a remote Dask
    cluster) or the state directory is on a network file system, else ``single-host``."""
    if layout == "single-host":
        return "single-host"
    if layout == "segments":
        return "segments"
    if layout != "auto":
        from providers.errors import ConfigurationError

        raise ConfigurationError(
            f"journal_layout={layout!r} is not one of {', '.join(LAYOUTS)}",
            operation="replicate",
            hint="Use 'auto' (the default), 'single-host' or 'segments'",
        )
    return "segments" if remote_workers or on_network_fs(state_dir) else "single-host"


def _is_wal(path: Path) -> bool:
    """Whether a SQLite file is in WAL mode, from its header (bytes 18-19 are 2 for WAL),
    read without opening it (opening a WAL database creates its -shm file)."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except FileNotFoundError:
        return False
    return len(header) == 20 and header[18] == 2


# --------------------------------------------------------------------------- journal
def journal_path(source_uri: str, target_uri: str, state_dir: Path) -> Path:
    """Where the journal of one source->target pair lives."""
    digest = hashlib.sha256(f"{source_uri}\n{target_uri}".encode()).hexdigest()[:20]
    return state_dir / f"journal-{digest}.sqlite"


class Journal:
    """Per source+target pair: which target keys a run finished (verified), and when.

    SQLite in WAL mode. Records are written in batches (a transaction per FLUSH_RECORDS
    records or FLUSH_SECONDS, and at close), not one commit per object: SIGKILL loses at
    most the last fraction of a second of records, and those objects are then compared
    by sha256 on the next run (found equal and skipped, not copied again). Also caches
    source hashes computed by streaming, keyed by size and version tag. Planning reads
    both tables in key order, a page at a time (`done_page`, `hash_page`).
    """

    FLUSH_RECORDS = 500
    FLUSH_SECONDS = 0.25

    def __init__(
        self,
        path: Path,
        source_uri: str = "",
        target_uri: str = "",
        mode: Literal["wal", "delete", "auto"] | None = "auto",
        segment: tuple[str | None, str | None] | None = None,
    ) -> None:
        """mode: the SQLite journal mode to set ("auto": WAL unless the file is on a
        network file system; None: leave it, as a reader). segment: this file is a
        shard attempt's segment for keys in [lo, hi) (relative keys), rollback mode."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if segment is not None:
            mode = "delete"
        if mode == "auto":
            mode = "delete" if on_network_fs(path.parent) else "wal"
        if mode is not None:
            _set_mode(self._db, mode)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS merged (name TEXT PRIMARY KEY, at REAL);
            CREATE TABLE IF NOT EXISTS gone (key TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS tags (key TEXT PRIMARY KEY, src_tag TEXT);
            CREATE TABLE IF NOT EXISTS segment (
                lo TEXT, hi TEXT, host TEXT, pid INTEGER, created REAL);
            CREATE TABLE IF NOT EXISTS pair (source TEXT, target TEXT);
            CREATE TABLE IF NOT EXISTS done (
                key TEXT PRIMARY KEY, size INTEGER, sha256 TEXT, etag TEXT,
                run_id TEXT, finished REAL);
            CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY, started REAL, finished REAL, status TEXT);
            CREATE TABLE IF NOT EXISTS hashes (
                key TEXT PRIMARY KEY, size INTEGER, tag TEXT, sha256 TEXT);
            """
        )
        for column in ("evidence", "src_tag"):  # journals from before
            with contextlib.suppress(sqlite3.OperationalError):
                self._db.execute(f"ALTER TABLE done ADD COLUMN {column} TEXT")
        if source_uri and not self._db.execute("SELECT 1 FROM pair").fetchone():
            self._db.execute("INSERT INTO pair VALUES (?, ?)", (source_uri, target_uri))
        self.segment = segment
        if segment is not None and not self._db.execute("SELECT 1 FROM segment").fetchone():
            self._db.execute(
                "INSERT INTO segment VALUES (?, ?, ?, ?, ?)",
                (*segment, socket.gethostname(), os.getpid(), time.time()),
            )
        self._records: list[tuple[object, ...]] = []
        self._hashes: list[tuple[object, ...]] = []
        self._tags: list[tuple[object, ...]] = []
        self._forgets: list[tuple[object, ...]] = []
        self._flushed = time.monotonic()

    @classmethod
    def open_existing(cls, path: Path) -> Journal | None:
        """A reader (a dry run): the file's journal mode is left as it is."""
        return cls(path, mode=None) if path.is_file() else None

    def close(self) -> None:
        with self._lock:
            self._flush()
            self._db.close()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        """Write what is buffered in one transaction (the caller holds the lock)."""
        if not (self._records or self._hashes or self._tags or self._forgets):
            return
        self._db.execute("BEGIN")
        try:
            if self._records:
                self._db.executemany(
                    "INSERT OR REPLACE INTO done (key, size, sha256, etag, run_id, finished, "
                    "evidence, src_tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    self._records,
                )
            if self._hashes:
                self._db.executemany(
                    "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", self._hashes
                )
            if self._records and self.segment is not None:
                keys = [(r[0],) for r in self._records]
                self._db.executemany("DELETE FROM gone WHERE key=?", keys)
                self._db.executemany("DELETE FROM tags WHERE key=?", keys)
            if self._tags:
                self._db.executemany("UPDATE done SET src_tag=? WHERE key=?", self._tags)
                if self.segment is not None:  # the record is in the main journal: a delta
                    self._db.executemany(
                        "INSERT OR REPLACE INTO tags SELECT ?2, ?1 "
                        "WHERE NOT EXISTS (SELECT 1 FROM done WHERE key=?2)",
                        self._tags,
                    )
            if self._forgets:
                self._db.executemany("DELETE FROM done WHERE key=?", self._forgets)
                if self.segment is not None:  # a tombstone over the main journal's record
                    self._db.executemany("DELETE FROM tags WHERE key=?", self._forgets)
                    self._db.executemany("INSERT OR REPLACE INTO gone VALUES (?)", self._forgets)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._records, self._hashes, self._tags, self._forgets = [], [], [], []
        self._flushed = time.monotonic()

    def _maybe_flush(self) -> None:
        if (
            len(self._records) + len(self._hashes) + len(self._tags) + len(self._forgets)
            >= self.FLUSH_RECORDS
            or time.monotonic() - self._flushed >= self.FLUSH_SECONDS
        ):
            self._flush()

    def start_run(self, run_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, NULL, 'running')", (run_id, time.time())
            )

    def end_run(self, run_id: str, status: str) -> None:
        with self._lock:
            self._flush()
            self._db.execute(
                "UPDATE runs SET finished=?, status=? WHERE run_id=?", (time.time(), status, run_id)
            )

    def finished(self, key: str) -> tuple[int, str, str | None] | None:
        with self._lock:
            self._flush()
            row = self._db.execute(
                "SELECT size, sha256, etag FROM done WHERE key=?", (key,)
            ).fetchone()
        return (int(row[0]), str(row[1]), row[2]) if row else None

    def record(
        self,
        key: str,
        size: int,
        sha256: str,
        etag: str | None,
        run_id: str,
        evidence: str | None = None,
        src_tag: str | None = None,
    ) -> None:
        """A verified copy; evidence says what verified it (e.g. 's3:etag-md5'); src_tag
        the source's version as listed (size, etag, mtime) when it was read."""
        with self._lock:
            self._records.append((key, size, sha256, etag, run_id, time.time(), evidence, src_tag))
            self._maybe_flush()

    def set_source_tag(self, key: str, src_tag: str) -> None:
        """The source version a finished copy was checked against again (same sha256)."""
        with self._lock:
            self._tags.append((src_tag, key))
            self._maybe_flush()

    def evidence(self, key: str) -> str | None:
        with self._lock:
            self._flush()
            row = self._db.execute("SELECT evidence FROM done WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def forget(self, key: str) -> None:
        with self._lock:
            self._forgets.append((key,))
            self._maybe_flush()

    def keys_by_run(self) -> dict[str, list[str]]:
        """run_id -> target keys that run finished (for audits and the crash test)."""
        with self._lock:
            self._flush()
            rows = self._db.execute("SELECT run_id, key FROM done ORDER BY finished").fetchall()
        out: dict[str, list[str]] = {}
        for run_id, key in rows:
            out.setdefault(run_id, []).append(key)
        return out

    def runs(self) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT run_id, status FROM runs ORDER BY started").fetchall()
        return [(str(r), str(s)) for r, s in rows]

    def done_page(self, start: str, limit: int) -> list[tuple[str, DoneRow]]:
        """Up to limit finished keys from start on, in key order (one query a page)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, size, sha256, etag, src_tag FROM done WHERE key >= ? "
                "ORDER BY key LIMIT ?",
                (start, limit),
            ).fetchall()
        return [(str(k), DoneRow(int(z), str(h), e, t)) for k, z, h, e, t in rows]

    def hash_page(self, start: str, limit: int) -> list[tuple[str, tuple[int, str, str]]]:
        """Up to limit cached source hashes from start on: key -> (size, tag, sha256)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, size, tag, sha256 FROM hashes WHERE key >= ? ORDER BY key LIMIT ?",
                (start, limit),
            ).fetchall()
        return [(str(k), (int(z), str(t), str(h))) for k, z, t, h in rows]

    def cached_hash(self, key: str, size: int, tag: str) -> str | None:
        with self._lock:
            self._flush()
            row = self._db.execute(
                "SELECT sha256 FROM hashes WHERE key=? AND size=? AND tag=?", (key, size, tag)
            ).fetchone()
        return str(row[0]) if row else None

    def cache_hash(self, key: str, size: int, tag: str, sha256: str) -> None:
        with self._lock:
            self._hashes.append((key, size, tag, sha256))
            self._maybe_flush()


@dataclass(frozen=True)
class DoneRow:
    """A journal record of a verified copy, as planning reads it."""

    size: int
    sha256: str
    etag: str | None
    src_tag: str | None


def _set_mode(db: sqlite3.Connection, mode: Literal["wal", "delete"], attempts: int = 40) -> None:
    """Set the journal mode, and check it took: SQLite leaves a file's mode as it is
    (and says so) while another connection holds it, which would keep WAL on a file
    that other hosts are about to read."""
    for attempt in range(attempts):
        try:
            got = str(db.execute(f"PRAGMA journal_mode={mode.upper()}").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            got = ""
        if got == mode:
            break
        if attempt == attempts - 1:
            raise sqlite3.OperationalError(
                f"database is locked: the journal stays in {got} mode, not {mode} "
                "(another process holds it)"
            )
        time.sleep(min(0.05 * (attempt + 1), 1.0))
    # WAL: NORMAL is durable at checkpoints and never corrupts; rollback mode needs FULL
    db.execute("PRAGMA synchronous=NORMAL" if mode == "wal" else "PRAGMA synchronous=FULL")


# --------------------------------------------------------------------------- segments
def segments_dir(main: Path) -> Path:
    """Where the segments of a pair's journal live: journal-<pair>.d/ next to it."""
    return main.with_suffix(".d")


def segment_files(main: Path) -> list[Path]:
    """The pair's segment files, oldest first (their names start with a time stamp)."""
    d = segments_dir(main)
    try:
        names = sorted(p.name for p in d.iterdir() if p.name.endswith(".sqlite"))
    except FileNotFoundError:
        return []
    return [d / n for n in names]


def _overlaps(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> bool:
    """Whether half-open key ranges [lo, hi) meet (None: unbounded)."""
    (alo, ahi), (blo, bhi) = a, b
    return (ahi is None or blo is None or blo < ahi) and (bhi is None or alo is None or alo < bhi)


#: a segment's key range never changes: read once per process, not once per shard
_RANGES: dict[str, tuple[str | None, str | None]] = {}
_RANGES_LOCK = threading.Lock()


def _segment_range(path: Path) -> tuple[str | None, str | None] | None:
    with _RANGES_LOCK:
        if str(path) in _RANGES:
            return _RANGES[str(path)]
    try:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            row = db.execute("SELECT lo, hi FROM segment").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return None  # being created (no table yet) or gone: nothing of it to read yet
    if row is None:
        return None
    with _RANGES_LOCK:
        _RANGES[str(path)] = (row[0], row[1])
    return row[0], row[1]


_Row = tuple[int, DoneRow | str | None]  # kind (0 record, 1 forgotten, 2 new tag), value
_DONE = "SELECT key, size, sha256, etag, src_tag FROM done"


class _Source:
    """One file a SegmentJournal reads: the main journal or a segment (under a lock)."""

    def __init__(
        self, db: sqlite3.Connection, lock: threading.Lock, segment: bool, owned: bool = False
    ) -> None:
        self.db, self.lock, self.segment, self.owned = db, lock, segment, owned

    @classmethod
    def open(cls, path: Path, segment: bool) -> _Source | None:
        if _is_wal(path):
            raise sqlite3.OperationalError(
                f"{path} is in WAL mode, which other hosts cannot read safely: the "
                "segments layout needs the process holding the run lock to prepare it first"
            )
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.execute("SELECT 1 FROM done LIMIT 1").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None  # a segment still being created: it holds nothing yet
            raise
        return cls(db, threading.Lock(), segment)

    def done(self, start: str, strict: bool, limit: int) -> list[tuple[str, _Row]]:
        op = ">" if strict else ">="
        with self.lock:
            rows = self.db.execute(
                f"{_DONE} WHERE key {op} ? ORDER BY key LIMIT ?", (start, limit)
            ).fetchall()
            out: list[tuple[str, _Row]] = [
                (str(k), (0, DoneRow(int(z), str(h), e, t))) for k, z, h, e, t in rows
            ]
            if self.segment:
                more = self.db.execute(
                    f"SELECT key, 1, NULL FROM gone WHERE key {op} ? UNION ALL "
                    f"SELECT key, 2, src_tag FROM tags WHERE key {op} ? ORDER BY key LIMIT ?",
                    (start, start, limit),
                ).fetchall()
                if more:
                    out = sorted(out + [(str(k), (int(n), v)) for k, n, v in more])[:limit]
        return out

    def done_one(self, key: str) -> _Row | None:
        got = self.done(key, False, 1)
        return got[0][1] if got and got[0][0] == key else None

    def hashes(
        self, start: str, strict: bool, limit: int
    ) -> list[tuple[str, tuple[int, str, str]]]:
        op = ">" if strict else ">="
        with self.lock:
            rows = self.db.execute(
                f"SELECT key, size, tag, sha256 FROM hashes WHERE key {op} ? ORDER BY key LIMIT ?",
                (start, limit),
            ).fetchall()
        return [(str(k), (int(z), str(t), str(h))) for k, z, t, h in rows]

    def close(self) -> None:
        if not self.owned:
            with self.lock:
                self.db.close()


def _resolve(state: DoneRow | None, row: _Row) -> DoneRow | None:
    kind, value = row
    if kind == 0:
        return value  # type: ignore[return-value]
    if kind == 1:
        return None
    return replace(state, src_tag=value) if state is not None else None  # type: ignore[arg-type]


#: rows in key order, the index of the first one asked for, complete up to (None: all)
Page = tuple[list[tuple[str, object]], int, "str | None"]


class _Cursor:
    """One source's rows in key order for a forward merge: the last page is kept and
    answers later requests inside it (found by bisection, not copied), so a source whose
    keys lie ahead (another shard's segment) costs a query per page it contributes, not
    one per merged page."""

    def __init__(
        self, fetch: Callable[[str, bool, int], list[tuple[str, object]]], memo: bool = True
    ) -> None:
        self._fetch, self._memo = fetch, memo
        self._rows: list[tuple[str, object]] = []
        self._keys: list[str] = []
        self._from: tuple[str, bool] | None = None
        self._upto: str | None = None

    def page(self, start: str, strict: bool, limit: int) -> Page:
        if self._memo and self._from is not None:
            lo, lo_strict = self._from
            covered = lo < start or (lo == start and (strict or not lo_strict))
            if covered and (self._upto is None or start <= self._upto):
                find = bisect.bisect_right if strict else bisect.bisect_left
                i = find(self._keys, start)
                if i < len(self._rows) or self._upto is None:
                    return self._rows, i, self._upto
        rows = self._fetch(start, strict, limit)
        upto = rows[-1][0] if len(rows) >= limit else None
        self._rows, self._from, self._upto = rows, (start, strict), upto
        self._keys = [k for k, _ in rows] if self._memo else []
        return rows, 0, upto


def _merged(
    cursors: list[_Cursor],
    fold: Callable[[list[object]], object | None],
    start: str,
    limit: int,
) -> list[tuple[str, object]]:
    """Up to limit keys from start on, merged over sources (oldest first) by fold, in
    key order; fewer only when every source is exhausted (what `_Forward` relies on)."""
    out: list[tuple[str, object]] = []
    at, strict = start, False
    while True:
        pages = [c.page(at, strict, limit) for c in cursors]
        bounds = [upto for _, _, upto in pages if upto is not None]
        bound = min(bounds) if bounds else None
        by_key: dict[str, list[object]] = {}
        for rows, first, _ in pages:  # oldest source first: each key's values in that order
            for n in range(first, len(rows)):
                key, value = rows[n]
                if bound is not None and key > bound:
                    break
                by_key.setdefault(key, []).append(value)
        for key in sorted(by_key):
            value = fold(by_key[key])
            if value is not None:
                out.append((key, value))
        if bound is None or len(out) >= limit:
            return out[:limit]
        at, strict = bound, True


class SegmentJournal(Journal):
    """A shard attempt's journal in the segments layout: the Journal interface, reading
    the main journal plus every segment overlapping key_range (oldest first, later ones
    win: a record, a tombstone `forget` left, or a new source tag), writing only its own
    segment (created at its first write, so a shard with nothing to record leaves no file).
    """

    def __init__(
        self,
        main: Path,
        source_uri: str,
        target_uri: str,
        key_range: tuple[str | None, str | None],
        read_only: bool = False,
    ) -> None:
        self.path = main  # what reports name: the pair's journal
        self._source_uri, self._target_uri = source_uri, target_uri
        self._range = key_range
        self._read_only = read_only
        self._sources: list[_Source] = []
        self._stamp = 0
        if main.is_file():
            src = _Source.open(main, segment=False)
            if src is not None:
                self._sources.append(src)
        for seg in segment_files(main):
            r = _segment_range(seg)
            if r is None or not _overlaps(r, key_range):
                continue
            try:
                src = _Source.open(seg, segment=True)
            except sqlite3.DatabaseError:
                continue  # merged and deleted meanwhile: it is in the main journal now
            if src is not None:
                self._sources.append(src)
                self._stamp = max(self._stamp, int(seg.name.split("-", 1)[0]))
        self._own: Journal | None = None
        self._own_lock = threading.Lock()
        self._cursor_sets: dict[str, list[_Cursor]] = {}
        self._run: str | None = None

    # -- writes go to the own segment
    def _writer(self) -> Journal:
        with self._own_lock:
            if self._own is None:
                if self._read_only:
                    raise RuntimeError("a read-only journal view was written")
                d = segments_dir(self.path)
                d.mkdir(parents=True, exist_ok=True)
                # after every segment it read, whatever this host's clock says
                stamp = max(time.time_ns(), self._stamp + 1)
                lo, hi = self._range
                digest = hashlib.sha256(f"{lo!r}\n{hi!r}".encode()).hexdigest()[:12]
                path = d / f"{stamp:020d}-{digest}-{uuid.uuid4().hex[:8]}.sqlite"
                own = Journal(path, self._source_uri, self._target_uri, segment=self._range)
                self._sources.append(_Source(own._db, own._lock, segment=True, owned=True))
                if self._run is not None:
                    own.start_run(self._run)
                self._own = own
            return self._own

    def segment_path(self) -> Path | None:
        return self._own.path if self._own is not None else None

    def record(
        self,
        key: str,
        size: int,
        sha256: str,
        etag: str | None,
        run_id: str,
        evidence: str | None = None,
        src_tag: str | None = None,
    ) -> None:
        self._writer().record(key, size, sha256, etag, run_id, evidence, src_tag)

    def set_source_tag(self, key: str, src_tag: str) -> None:
        self._writer().set_source_tag(key, src_tag)

    def forget(self, key: str) -> None:
        self._writer().forget(key)

    def cache_hash(self, key: str, size: int, tag: str, sha256: str) -> None:
        self._writer().cache_hash(key, size, tag, sha256)

    def start_run(self, run_id: str) -> None:
        self._run = run_id
        if self._own is not None:
            self._own.start_run(run_id)

    def end_run(self, run_id: str, status: str) -> None:
        if self._own is not None:
            self._own.end_run(run_id, status)

    def flush(self) -> None:
        if self._own is not None:
            self._own.flush()

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
        for src in self._sources:
            src.close()

    # -- reads: every source, merged by key
    def _cursors(self, table: str) -> list[_Cursor]:
        cursors = self._cursor_sets.get(table)
        if cursors is None or len(cursors) != len(self._sources):  # the own segment began
            cursors = [
                _Cursor(s.done if table == "done" else s.hashes, memo=not s.owned)  # type: ignore[arg-type]
                for s in self._sources
            ]
            self._cursor_sets[table] = cursors
        return cursors

    def done_page(self, start: str, limit: int) -> list[tuple[str, DoneRow]]:
        self.flush()

        def fold(rows: list[object]) -> DoneRow | None:
            state: DoneRow | None = None
            for row in rows:
                state = _resolve(state, row)  # type: ignore[arg-type]
            return state

        return _merged(self._cursors("done"), fold, start, limit)  # type: ignore[return-value]

    def hash_page(self, start: str, limit: int) -> list[tuple[str, tuple[int, str, str]]]:
        self.flush()
        return _merged(self._cursors("hashes"), lambda rows: rows[-1], start, limit)  # type: ignore[return-value]

    def _done_row(self, key: str) -> DoneRow | None:
        self.flush()
        state: DoneRow | None = None
        for src in self._sources:
            row = src.done_one(key)
            if row is not None:
                state = _resolve(state, row)
        return state

    def finished(self, key: str) -> tuple[int, str, str | None] | None:
        row = self._done_row(key)
        return (row.size, row.sha256, row.etag) if row else None

    def evidence(self, key: str) -> str | None:
        self.flush()
        for src in reversed(self._sources):
            with src.lock:
                got = src.db.execute("SELECT evidence FROM done WHERE key=?", (key,)).fetchone()
            if got is not None:
                return str(got[0]) if got[0] else None
        return None

    def cached_hash(self, key: str, size: int, tag: str) -> str | None:
        self.flush()
        for src in reversed(self._sources):
            with src.lock:
                got = src.db.execute(
                    "SELECT sha256 FROM hashes WHERE key=? AND size=? AND tag=?", (key, size, tag)
                ).fetchone()
            if got is not None:
                return str(got[0])
        return None

    def keys_by_run(self) -> dict[str, list[str]]:
        self.flush()
        rows: list[tuple[float, str, str]] = []
        for src in self._sources:
            with src.lock:
                rows += src.db.execute("SELECT finished, run_id, key FROM done").fetchall()
        out: dict[str, list[str]] = {}
        for _, run_id, key in sorted(rows):
            out.setdefault(run_id, []).append(key)
        return out

    def runs(self) -> list[tuple[str, str]]:
        self.flush()
        rows: list[tuple[float, str, str]] = []
        for src in self._sources:
            with src.lock:
                rows += src.db.execute("SELECT started, run_id, status FROM runs").fetchall()
        return [(str(r), str(s)) for _, r, s in sorted(rows)]


# --------------------------------------------------------------------------- merge
@dataclass(frozen=True)
class MergeReport:
    segments: int  # segment files merged (or found merged already) and deleted
    rows: int  # records, tombstones, tags and hashes applied
    seconds: float


def merge_segments(
    main: Path,
    source_uri: str = "",
    target_uri: str = "",
    mode: Literal["wal", "delete", "auto"] = "delete",
    after_commit: Callable[[Path], None] | None = None,
) -> MergeReport:
    """Fold every segment of a pair into its main journal, oldest first, then delete it.

    Only the process holding the pair's run lock may call this (one writer). Each segment
    is applied in one transaction that also records its name in ``merged``: killed before
    the commit, nothing of it is applied (SQLite rolls back) and the file is still there;
    killed after, the next merge finds the name and only deletes the file. So nothing is
    lost or applied twice, and the result is the same as reading main plus segments.
    """
    started = time.perf_counter()
    files = segment_files(main)
    if not files:
        return MergeReport(0, 0, 0.0)
    journal = Journal(main, source_uri, target_uri, mode=mode)
    db = journal._db
    applied = merged = 0
    try:
        with journal._lock:
            journal._flush()
            for seg in files:
                applied += _merge_one(db, seg)
                if after_commit is not None:
                    after_commit(seg)
                for extra in (seg, seg.with_name(seg.name + "-journal")):
                    with contextlib.suppress(FileNotFoundError):
                        extra.unlink()
                with _RANGES_LOCK:
                    _RANGES.pop(str(seg), None)
                merged += 1
            # names of segments now deleted are needed no more
            gone = [(p.name,) for p in files]
            db.executemany("DELETE FROM merged WHERE name=?", gone)
    finally:
        journal.close()
    with contextlib.suppress(OSError):
        segments_dir(main).rmdir()  # empty: nothing left of the run
    return MergeReport(merged, applied, time.perf_counter() - started)


def _merge_one(db: sqlite3.Connection, seg: Path) -> int:
    """Apply one segment in one transaction; 0 when it was applied before."""
    name = seg.name
    if db.execute("SELECT 1 FROM merged WHERE name=?", (name,)).fetchone():
        return 0
    # the writer, killed mid-commit, may have left a hot journal: opening it for writing
    # (this process holds the run lock: no writer of it is alive) rolls that back first
    with contextlib.closing(sqlite3.connect(seg, isolation_level=None)) as probe:
        try:
            probe.execute("SELECT 1 FROM done LIMIT 1").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return 0  # created but never written: nothing to apply
    db.execute("ATTACH DATABASE ? AS seg", (str(seg),))
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            n = 0
            cols = "key, size, sha256, etag, run_id, finished, evidence, src_tag"
            n += db.execute(
                f"INSERT OR REPLACE INTO main.done ({cols}) SELECT {cols} FROM seg.done"
            ).rowcount
            n += db.execute(
                "DELETE FROM main.done WHERE key IN (SELECT key FROM seg.gone)"
            ).rowcount
            n += db.execute(
                "UPDATE main.done SET src_tag = (SELECT src_tag FROM seg.tags t "
                "WHERE t.key = main.done.key) WHERE key IN (SELECT key FROM seg.tags)"
            ).rowcount
            n += db.execute(
                "INSERT OR REPLACE INTO main.hashes (key, size, tag, sha256) "
                "SELECT key, size, tag, sha256 FROM seg.hashes"
            ).rowcount
            db.execute(
                "INSERT OR REPLACE INTO main.runs (run_id, started, finished, status) "
                "SELECT run_id, started, finished, status FROM seg.runs"
            )
            db.execute("INSERT INTO main.merged VALUES (?, ?)", (name, time.time()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute("DETACH DATABASE seg")
    return n


def open_for_run(main: Path, source_uri: str, target_uri: str, layout: Layout) -> Journal:
    """The main journal for the process that holds the pair's run lock: leftover
    segments of a crashed sharded run merged first (so nothing newer is overwritten by
    them later), then opened in the layout's mode (segments: rollback, for other hosts)."""
    mode: Literal["delete", "auto"] = "delete" if layout == "segments" else "auto"
    merge_segments(main, source_uri, target_uri, mode=mode)
    return Journal(main, source_uri, target_uri, mode=mode)


def open_reader(main: Path) -> Journal | None:
    """A dry run's view of a pair: the main journal as it is, or, with segments of a
    crashed sharded run still unmerged, the main journal and all of them."""
    if segment_files(main) and not _is_wal(main):
        return SegmentJournal(main, "", "", (None, None), read_only=True)
    return Journal.open_existing(main)
