"""The replication journal: per source+target pair, verified copies and the source hash cache."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


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

    def __init__(self, path: Path, source_uri: str = "", target_uri: str = "") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            """
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
        self._records: list[tuple[object, ...]] = []
        self._hashes: list[tuple[object, ...]] = []
        self._tags: list[tuple[object, ...]] = []
        self._forgets: list[tuple[object, ...]] = []
        self._flushed = time.monotonic()

    @classmethod
    def open_existing(cls, path: Path) -> Journal | None:
        return cls(path) if path.is_file() else None

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
            if self._tags:
                self._db.executemany("UPDATE done SET src_tag=? WHERE key=?", self._tags)
            if self._forgets:
                self._db.executemany("DELETE FROM done WHERE key=?", self._forgets)
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
