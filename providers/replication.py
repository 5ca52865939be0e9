"""The replication engine: make one or more target prefixes hold what a source prefix holds.

Works against the CloudStorage protocol only, so every provider pair works the same way:

1. list the source once and each target once (providers paginate);
2. plan per target by key, size and sha256 (from object metadata; from a hash cache, a
   `head` or by streaming the bytes when the listing does not carry it);
3. copy what differs with a thread pool. Each source object is read once and fed to every
   target that needs it: small objects (<= multipart_threshold) from one in-memory buffer,
   large ones straight through when one target needs them and their sha256 is known,
   otherwise through a temp-file spool. Memory stays under transfers x threshold;
4. verify each copy (from the write's response when the provider confirmed it, else with
   `head`: size and sha256) and record it in the target's journal
   (SQLite, committed per object) so that a killed run, run again, does not copy it again;
5. optionally delete extraneous target objects, refused above max_delete.

No Prefect here: flows/replicate.py and commands/replicate.py both call `replicate_prefix`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import os
import re
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Literal

from providers.base import (
    CloudStorage,
    RefinesReadCheck,
    StorageObject,
    TakesDigests,
    read_expectation,
)
from providers.errors import (
    CloudError,
    ConfigurationError,
    DownloadError,
    IntegrityError,
)
from providers.integrity import STRENGTH, CheckedReader, strongest_common
from providers.locations import check_key
from providers.retry import RetryPolicy

CHUNK = 1024 * 1024
DEFAULT_THRESHOLD = 8 * 1024 * 1024

Action = Literal["copy", "skip", "delete", "reject"]


# --------------------------------------------------------------------------- values
@dataclass(frozen=True)
class KeyRange:
    """A half-open range ``[lo, hi)`` of keys RELATIVE to the source (and target) prefix,
    compared as Python strings (code point order, which is the UTF-8 byte order that S3,
    GCS and Azure list in); ``None`` is unbounded. A shard of a replication."""

    lo: str | None = None
    hi: str | None = None

    def __post_init__(self) -> None:
        if self.lo is not None and self.hi is not None and not self.lo < self.hi:
            raise ConfigurationError(
                f"key_range [{self.lo!r}, {self.hi!r}) is empty",
                operation="replicate",
                hint="Give lo < hi, or None for an open end",
            )

    def __contains__(self, rel_key: object) -> bool:
        if not isinstance(rel_key, str):
            return False
        return (self.lo is None or rel_key >= self.lo) and (self.hi is None or rel_key < self.hi)


@dataclass(frozen=True)
class ReplicationOptions:
    """How to replicate. Plain values only, so flows can take it as parameters."""

    include: tuple[str, ...] = ()  # globs on the key relative to the prefix ('*' spans '/')
    exclude: tuple[str, ...] = ()
    dry_run: bool = False
    delete_extraneous: bool = False
    max_delete: int | None = None  # refuse all deletes of a target when more are planned
    # --delete refuses an empty source listing unless this is set (a typo'd prefix lists
    # nothing, and would otherwise empty the target)
    allow_empty_source: bool = False
    transfers: int = 8  # objects in flight at once
    bandwidth_limit: int | None = None  # bytes/s over all threads and targets
    multipart_threshold: int = DEFAULT_THRESHOLD  # above: streamed/spooled, never in memory
    # large objects in flight at once: each already moves in parallel parts inside the
    # provider, so more at once mostly adds part buffers (memory), not speed
    large_transfers: int = 1
    journal_dir: str | None = None  # state dir; default $SPECIFY_STATE_DIR or ~/.specify-cloud
    use_journal: bool = True
    attempts: int = 4  # per object and target, for transient failures (re-reads the source)
    spool_dir: str | None = None
    #: only keys in this range (relative to the prefixes) are listed, planned, copied and
    #: deleted, on the source and every target: a shard of a larger replication
    key_range: KeyRange | None = None

    def __post_init__(self) -> None:
        if self.transfers < 1 or self.large_transfers < 1:
            raise ConfigurationError("transfers must be at least 1", operation="replicate")
        if self.max_delete is not None and self.max_delete < 0:
            raise ConfigurationError("max_delete may not be negative", operation="replicate")
        if self.bandwidth_limit is not None and self.bandwidth_limit < 1:
            raise ConfigurationError(
                "--bwlimit must be at least 1 byte/s",
                operation="replicate",
                hint="Give e.g. 512K or 10M, or leave it out for no limit",
            )
        if self.multipart_threshold < 0:
            raise ConfigurationError("multipart_threshold may not be negative")

    def in_range(self, rel_key: str) -> bool:
        """Whether a key (relative to the prefix) is in key_range (always, without one)."""
        return self.key_range is None or rel_key in self.key_range

    def selects(self, rel_key: str) -> bool:
        """Whether the include/exclude globs select a key (relative to the prefix)."""
        if self.include and not any(fnmatch.fnmatchcase(rel_key, g) for g in self.include):
            return False
        return not any(fnmatch.fnmatchcase(rel_key, g) for g in self.exclude)

    def state_dir(self) -> Path:
        if self.journal_dir:
            return Path(self.journal_dir).expanduser()
        base = os.environ.get("SPECIFY_STATE_DIR")
        return (Path(base).expanduser() if base else Path.home() / ".specify-cloud") / "replicate"


@dataclass(frozen=True)
class PlanItem:
    """What to do with one key on one target, and why."""

    key: str  # relative to the source/target prefix
    action: Action
    reason: str
    size: int = 0
    source_key: str = ""
    target_key: str = ""
    sha256: str | None = None


@dataclass(frozen=True)
class Plan:
    """The plan for one target."""

    target: str  # the target's URI (with prefix)
    items: tuple[PlanItem, ...] = ()
    error: str | None = None  # the target could not be listed, or deletes were refused

    def count(self, action: Action) -> int:
        return sum(1 for i in self.items if i.action == action)

    @property
    def bytes_to_copy(self) -> int:
        return sum(i.size for i in self.items if i.action == "copy")


@dataclass(frozen=True)
class TargetReport:
    """The outcome for one target."""

    target: str
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    bytes_copied: int = 0
    errors: Mapping[str, str] = field(default_factory=dict)  # key -> error message
    error: str | None = None  # target-level failure (listing, refused deletes)
    dry_run: bool = False
    to_copy: int = 0  # planned
    to_delete: int = 0
    copied_keys: tuple[str, ...] = ()
    journal: str | None = None
    duration_s: float = 0.0
    # key -> what proved the copy good ("s3:etag-md5", "read-back:sha256"; "; read: md5"
    # says which service hash checked the source bytes)
    evidence: Mapping[str, str] = field(default_factory=dict)
    #: whether a later try may succeed: some failure was transient, or the target failed
    #: as a whole (a listing); False when every failed object failed for good
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.error is None

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "ok": self.ok,
            "copied": self.copied,
            "skipped": self.skipped,
            "failed": self.failed,
            "deleted": self.deleted,
            "bytes_copied": self.bytes_copied,
            "to_copy": self.to_copy,
            "to_delete": self.to_delete,
            "dry_run": self.dry_run,
            "errors": dict(self.errors),
            "error": self.error,
            "journal": self.journal,
            "duration_s": round(self.duration_s, 3),
            "verified_by": dict(self.evidence),
        }


@dataclass(frozen=True)
class ProgressEvent:
    """Sent to the progress callback (from worker threads)."""

    target: str
    event: Literal["planned", "bytes", "copied", "skipped", "failed", "deleted", "done"]
    key: str = ""
    nbytes: int = 0
    objects: int = 0  # with "planned": objects to copy


ProgressCallback = Callable[[ProgressEvent], None]
Target = tuple[CloudStorage, str]


@dataclass(frozen=True)
class VerifyReport:
    """`rclone check` for one target: what is missing, differs, matches, or is extra."""

    target: str
    missing: tuple[str, ...] = ()
    differ: tuple[str, ...] = ()
    match: int = 0
    extra: tuple[str, ...] = ()
    error: str | None = None
    # key -> the hash both sides had and that matched ("sha256", "md5", "crc32c", or
    # "download:sha256" when the bytes of both were read)
    compared_by: Mapping[str, str] = field(default_factory=dict)
    unchecked: tuple[str, ...] = ()  # same size, no hash to compare, not --download

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differ and self.error is None


# --------------------------------------------------------------------------- helpers
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)?\s*$", re.IGNORECASE)


def parse_size(text: str | int | None) -> int | None:
    """'10M' -> 10 MiB, like rclone (binary units); plain numbers are bytes; None/'' -> None."""
    if text is None or text == "" or text == "off":
        return None
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m:
        raise ConfigurationError(
            f"'{text}' is not a size", operation="parse size", hint="Use e.g. 512K, 10M, 1G"
        )
    power = " kmgt".index(m.group(2).lower() or " ")
    try:
        value = int(float(m.group(1)) * 1024**power)
    except (OverflowError, ValueError):
        value = -1
    if not 1 <= value <= 2**63:
        raise ConfigurationError(
            f"'{text[:40]}' is not a usable size (1 byte to 8 EiB)",
            operation="parse size",
            hint="Use e.g. 512K, 10M, 1G",
        )
    return value


def _norm_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _uri(storage: CloudStorage, prefix: str) -> str:
    try:
        return storage.uri(prefix)
    except Exception:  # a third-party storage with a picky uri(); a name still helps
        return f"{storage.provider_name}:{prefix}"


def _tag(obj: StorageObject) -> str | None:
    """What identifies one version of an object well enough to reuse its hash."""
    parts = (obj.etag, obj.version_id, obj.last_modified.isoformat() if obj.last_modified else None)
    return "|".join(p or "" for p in parts) if any(parts) else None


def sha256_stream(stream: BinaryIO) -> tuple[int, str]:
    digest = hashlib.sha256()
    total = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        total += len(chunk)
    return total, digest.hexdigest()


class TokenBucket:
    """A bandwidth limit shared by threads: rate bytes/s, bursts up to one second's worth."""

    def __init__(self, rate: int) -> None:
        self.rate = float(rate)
        self.capacity = float(max(rate, 1))
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        # reserve now, sleep off the debt outside the lock: threads queue fairly
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            debt = -self._tokens
        if debt > 0:
            time.sleep(debt / self.rate)


class _Reader(io.RawIOBase):
    """Wraps a (checked) source stream: counts and throttles the bytes that pass through."""

    def __init__(
        self,
        raw: BinaryIO,
        bucket: TokenBucket | None,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        self._raw = raw
        self._bucket = bucket
        self._on_bytes = on_bytes
        self.count = 0

    def readable(self) -> bool:
        return True

    @property
    def expected(self) -> Mapping[str, str]:
        """The hashes the stream under this one checks (see integrity.checks_sha256)."""
        inner = getattr(self._raw, "expected", None)
        return inner if isinstance(inner, Mapping) else {}

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:  # read-all, as some SDKs ask for small bodies
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        data = self._raw.read(size)
        if data:
            if self._bucket:
                self._bucket.take(len(data))
            self.count += len(data)
            if self._on_bytes:
                self._on_bytes(len(data))
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._raw.close()
        super().close()


class _Checked(io.BytesIO):
    """Bytes already checked against their sha256 (integrity.checks_sha256 sees it)."""

    def __init__(self, data: bytes, sha256: str) -> None:
        super().__init__(data)
        self.expected = {"sha256": sha256}


class _FdReader(io.RawIOBase):
    """An independent reader over an open (unlinked) spool file: one per attempt/target."""

    def __init__(self, fd: int, sha256: str | None = None) -> None:
        self._fd = fd
        self._pos = 0
        # the spool was checked against the source's hashes as it was filled
        self.expected = {"sha256": sha256} if sha256 else {}

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = os.pread(self._fd, len(buffer), self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def checked(
    storage: CloudStorage,
    obj: StorageObject,
    *,
    sha256: str | None = None,
    extra: tuple[str, ...] = (),
) -> CheckedReader:
    """A fresh stream of obj, checked against the service's hashes (and sha256 when known)."""
    # a listing may not say (an S3 multipart object): the store knows where to look
    expected = (
        storage.read_hashes(obj) if isinstance(storage, RefinesReadCheck) else read_expectation(obj)
    )
    if sha256:
        expected.setdefault("sha256", sha256)
    mapper = getattr(storage, "map_error", None)

    def map_error(exc: Exception) -> CloudError:
        if mapper is None:
            return DownloadError(f"{type(exc).__name__}: {exc}", resource=obj.key, retryable=True)
        return mapper(exc, operation="read", resource=obj.key, kind=DownloadError)  # type: ignore[no-any-return]

    return CheckedReader(
        storage.open_read(obj.key),
        size=obj.size,
        expected=expected,
        map_error=map_error,
        label=_uri(storage, obj.key),
        provider=storage.provider_name,
        extra=extra,
    )


def read_check(obj: StorageObject, sha256: str | None = None) -> str:
    """Which hash checks a read of obj: the strongest the service (or our record) gives."""
    expected = read_expectation(obj)
    if sha256:
        expected.setdefault("sha256", sha256)
    return strongest_common(expected, dict.fromkeys(STRENGTH, "")) or "service hash via head"


# --------------------------------------------------------------------------- journal
def journal_path(source_uri: str, target_uri: str, state_dir: Path) -> Path:
    """Where the journal of one source->target pair lives."""
    digest = hashlib.sha256(f"{source_uri}\n{target_uri}".encode()).hexdigest()[:20]
    return state_dir / f"journal-{digest}.sqlite"


class Journal:
    """Per source+target pair: which target keys a run finished (verified), and when.

    SQLite in WAL mode, committed per object, so SIGKILL loses at most the objects in
    flight. Also caches source hashes computed by streaming, keyed by size and version tag.
    """

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
        with contextlib.suppress(sqlite3.OperationalError):  # journals from before
            self._db.execute("ALTER TABLE done ADD COLUMN evidence TEXT")
        if source_uri and not self._db.execute("SELECT 1 FROM pair").fetchone():
            self._db.execute("INSERT INTO pair VALUES (?, ?)", (source_uri, target_uri))

    @classmethod
    def open_existing(cls, path: Path) -> Journal | None:
        return cls(path) if path.is_file() else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def start_run(self, run_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, NULL, 'running')", (run_id, time.time())
            )

    def end_run(self, run_id: str, status: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET finished=?, status=? WHERE run_id=?", (time.time(), status, run_id)
            )

    def finished(self, key: str) -> tuple[int, str, str | None] | None:
        with self._lock:
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
    ) -> None:
        """A verified copy; evidence says what verified it (e.g. 's3:etag-md5')."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO done (key, size, sha256, etag, run_id, finished, "
                "evidence) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, size, sha256, etag, run_id, time.time(), evidence),
            )

    def evidence(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT evidence FROM done WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def forget(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM done WHERE key=?", (key,))

    def keys_by_run(self) -> dict[str, list[str]]:
        """run_id -> target keys that run finished (for audits and the crash test)."""
        with self._lock:
            rows = self._db.execute("SELECT run_id, key FROM done ORDER BY finished").fetchall()
        out: dict[str, list[str]] = {}
        for run_id, key in rows:
            out.setdefault(run_id, []).append(key)
        return out

    def runs(self) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT run_id, status FROM runs ORDER BY started").fetchall()
        return [(str(r), str(s)) for r, s in rows]

    def cached_hash(self, key: str, size: int, tag: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sha256 FROM hashes WHERE key=? AND size=? AND tag=?", (key, size, tag)
            ).fetchone()
        return str(row[0]) if row else None

    def cache_hash(self, key: str, size: int, tag: str, sha256: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", (key, size, tag, sha256)
            )


# --------------------------------------------------------------------------- engine
@dataclass
class _TargetState:
    storage: CloudStorage
    prefix: str
    uri: str
    listing: dict[str, StorageObject] = field(default_factory=dict)
    plan: Plan | None = None
    journal: Journal | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    copied: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    skipped: int = 0
    deleted: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    #: whether any failure may pass on a later try (a transient error that outlived the
    #: engine's retries); False when every failure is permanent, so no level retries it
    retryable: bool = False
    error: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    lock_fd: int | None = None


class Replicator:
    """One replication run: a source prefix to several targets."""

    def __init__(
        self,
        source: CloudStorage,
        source_prefix: str,
        targets: Sequence[Target],
        options: ReplicationOptions | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.source = source
        self.source_prefix = _norm_prefix(source_prefix)
        self.options = options or ReplicationOptions()
        self.progress = progress
        self.source_uri = _uri(source, self.source_prefix)
        self.targets = [
            _TargetState(s, _norm_prefix(p), _uri(s, _norm_prefix(p))) for s, p in targets
        ]
        self._check_overlaps()
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        limit = self.options.bandwidth_limit
        self._bucket = TokenBucket(limit) if limit else None
        self._retry = RetryPolicy(attempts=self.options.attempts, initial_wait=0.2, max_wait=4.0)
        self._hash_journal: Journal | None = None
        self._source_sha: dict[str, str] = {}
        self._sha_lock = threading.Lock()
        self._large = threading.BoundedSemaphore(self.options.large_transfers)

    def _check_overlaps(self) -> None:
        """Refuse a target inside the source (or around it) and the same target twice."""

        def inside(a: str, b: str) -> bool:
            a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
            return a.startswith(b)

        seen: set[str] = set()
        for t in self.targets:
            if inside(t.uri, self.source_uri) or inside(self.source_uri, t.uri):
                raise ConfigurationError(
                    f"target {t.uri} overlaps the source {self.source_uri}",
                    operation="replicate",
                    hint="Choose a target outside the source (and the source outside it)",
                )
            if t.uri in seen:
                raise ConfigurationError(
                    f"target {t.uri} is given twice", operation="replicate", hint="List it once"
                )
            seen.add(t.uri)

    # ------------------------------------------------------------------ events
    def _emit(
        self, target: str, event: str, key: str = "", nbytes: int = 0, objects: int = 0
    ) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(target, event, key, nbytes, objects))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ journals
    def _open_journals(self, trust_journal: bool) -> None:
        if not (self.options.use_journal and trust_journal):
            return
        state = self.options.state_dir()
        try:
            if not self.options.dry_run:
                state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the state directory {state} ({exc.strerror or exc})",
                operation="replicate",
                hint="Pass --state-dir with a directory you can write, or set SPECIFY_STATE_DIR",
            ) from exc
        for t in self.targets:
            path = journal_path(self.source_uri, t.uri, state)
            if self.options.dry_run:
                t.journal = Journal.open_existing(path)
            else:
                self._lock_target(t, path.with_suffix(".lock"))
                t.journal = Journal(path, self.source_uri, t.uri)
        self._hash_journal = next((t.journal for t in self.targets if t.journal), None)

    def _lock_target(self, t: _TargetState, path: Path) -> None:
        """One run per target and state directory: a second run names who holds it."""
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another run"
            os.close(fd)
            self._unlock_all()
            raise ConfigurationError(
                f"another replication to {t.uri} is running ({holder})",
                operation="replicate",
                hint="Wait for it to finish; two runs on one target would both copy "
                "everything and trip over each other",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, run {self.run_id}".encode(), 0)
        t.lock_fd = fd

    def _unlock_all(self) -> None:
        for t in self.targets:
            if t.lock_fd is not None:
                os.close(t.lock_fd)  # closing releases the flock
                t.lock_fd = None

    def _close_journals(self, status: str) -> None:
        self._unlock_all()
        for t in self.targets:
            if t.journal is not None:
                if not self.options.dry_run:
                    t.journal.end_run(self.run_id, status)
                t.journal.close()

    # ------------------------------------------------------------------ listing
    def _list_source(self) -> dict[str, StorageObject]:
        out: dict[str, StorageObject] = {}
        for obj in self.source.list_objects(self.source_prefix):
            rel = obj.key[len(self.source_prefix) :]
            # a key ending in '/' with content is an object like any other (copied, or
            # reported where the target cannot hold it); empty ones are folder markers
            if (
                rel
                and (obj.size or not rel.endswith("/"))
                and self.options.in_range(rel)
                and self.options.selects(rel)
            ):
                out[rel] = obj
        return out

    def _list_all(self) -> dict[str, StorageObject]:
        """List the source and every target at once (each listing waits on its server)."""
        with ThreadPoolExecutor(max(1, len(self.targets))) as pool:
            # a target's listing failure is recorded in t.error; anything else is a bug
            targets = [pool.submit(self._list_target, t) for t in self.targets]
            source = self._list_source()
            for fut in targets:
                fut.result()
        return source

    def _list_target(self, t: _TargetState) -> None:
        try:
            for obj in t.storage.list_objects(t.prefix):
                rel = obj.key[len(t.prefix) :]
                if rel and (obj.size or not rel.endswith("/")) and self.options.in_range(rel):
                    t.listing[rel] = obj
        except CloudError as exc:
            t.error = f"listing failed: {exc}"

    # ------------------------------------------------------------------ hashes
    def source_sha256(self, rel: str, obj: StorageObject) -> str:
        """The source object's sha256: listing, cache, head, or streaming its bytes."""
        with self._sha_lock:
            known = self._source_sha.get(rel) or obj.sha256
        if known:
            return known
        tag = _tag(obj)
        journal = self._hash_journal
        sha = journal.cached_hash(rel, obj.size, tag) if journal and tag else None
        if sha is None:
            sha = self._head_sha(self.source, obj)
        if sha is None:
            sha = self._retry.call(lambda: self._hash_read(self.source, obj))
        self._remember_sha(rel, obj, sha)
        return sha

    @staticmethod
    def _read_back(storage: CloudStorage, obj: StorageObject) -> str:
        """sha256 of what a target stored, read back (its records are not evidence)."""
        with CheckedReader(
            storage.open_read(obj.key), size=obj.size, provider=storage.provider_name
        ) as fh:
            while fh.read(CHUNK):
                pass
            return fh.hasher.value("sha256") or ""

    @staticmethod
    def _hash_read(storage: CloudStorage, obj: StorageObject) -> str:
        """sha256 of obj's bytes, read through the check against the service's hashes."""
        with checked(storage, obj) as fh:
            while fh.read(CHUNK):
                pass
            return fh.hasher.value("sha256") or ""

    def _remember_sha(self, rel: str, obj: StorageObject, sha: str) -> None:
        """Keep a hash computed from the bytes, so the next run need not read them again."""
        with self._sha_lock:
            self._source_sha[rel] = sha
        tag = _tag(obj)
        journal = self._hash_journal
        if obj.sha256 is None and journal and tag and not self.options.dry_run:
            journal.cache_hash(rel, obj.size, tag, sha)

    @staticmethod
    def _head_sha(storage: CloudStorage, obj: StorageObject) -> str | None:
        head = storage.head(obj.key)
        return head.sha256 if head.size == obj.size else None

    def _target_sha256(self, t: _TargetState, obj: StorageObject) -> str:
        sha = self._head_sha(t.storage, obj)
        if sha is None:
            sha = self._retry.call(lambda: self._hash_read(t.storage, obj))
        return sha

    # ------------------------------------------------------------------ planning
    @staticmethod
    def _copy_item(t: _TargetState, rel: str, src: StorageObject, reason: str) -> PlanItem:
        return PlanItem(rel, "copy", reason, src.size, src.key, t.prefix + rel, src.sha256)

    def _decide_by_listing(self, t: _TargetState, rel: str, src: StorageObject) -> PlanItem | None:
        """What the listings alone settle: bad keys, missing objects, size changes.

        None: the sizes match, and only checksums can tell.
        """
        base = self._copy_item(t, rel, src, "")
        try:
            check_key(rel)
            check_key(t.prefix + rel)
        except ConfigurationError as exc:
            return replace(base, action="reject", reason=str(exc))
        dst = t.listing.get(rel)
        if dst is None:
            return replace(base, reason="missing on target")
        if dst.size != src.size:
            return replace(base, reason=f"size differs ({src.size} != {dst.size})")
        return None

    def _decide_by_checksum(
        self, t: _TargetState, rel: str, src: StorageObject, trust_journal: bool
    ) -> PlanItem:
        """Same size: compare checksums, cheapest evidence first (may read objects)."""
        item = self._copy_item(t, rel, src, "sha256 differs")
        dst = t.listing[rel]
        if trust_journal and t.journal is not None and dst.sha256 is None:
            done = t.journal.finished(t.prefix + rel)
            if done and done[0] == dst.size and (done[2] is None or done[2] == dst.etag):
                src_sha = src.sha256 or self.source_sha256(rel, src)
                if done[1] == src_sha:
                    return replace(item, action="skip", reason="journal", sha256=src_sha)
        src_sha = self.source_sha256(rel, src)
        dst_sha = dst.sha256 or self._target_sha256(t, dst)
        if src_sha == dst_sha:
            return replace(item, action="skip", reason="same sha256", sha256=src_sha)
        return replace(item, sha256=src_sha)

    def plan(self, source_listing: dict[str, StorageObject], trust_journal: bool = True) -> None:
        """Fill each target's plan (the hashing it needs runs on the thread pool)."""
        keys = sorted(source_listing)
        with ThreadPoolExecutor(self.options.transfers) as pool:
            for t in self.targets:
                if t.error:
                    t.plan = Plan(t.uri, (), t.error)
                    continue
                # the listings settle most keys here; only same-size pairs need hashing,
                # which may read objects, so only they go to the pool
                settled = {k: self._decide_by_listing(t, k, source_listing[k]) for k in keys}
                pending = {
                    k: pool.submit(self._decide_by_checksum, t, k, source_listing[k], trust_journal)
                    for k, item in settled.items()
                    if item is None
                }
                items: list[PlanItem] = []
                for k, item in settled.items():
                    if item is not None:
                        items.append(item)
                        continue
                    try:
                        items.append(pending[k].result())
                    except CloudError as exc:
                        src = source_listing[k]
                        items.append(
                            PlanItem(k, "reject", f"could not compare: {exc}", src.size, src.key)
                        )
                error = None
                if self.options.delete_extraneous:
                    extra = [
                        PlanItem(rel, "delete", "not in source", o.size, "", o.key)
                        for rel, o in sorted(t.listing.items())
                        if rel not in source_listing and self.options.selects(rel)
                    ]
                    self._check_deletes(t, len(source_listing), len(extra))
                    items.extend(extra)
                t.plan = Plan(t.uri, tuple(items), error)

    def _check_deletes(self, t: _TargetState, sources: int, deletes: int) -> None:
        """--delete safety: refuse (exit 2, naming the option) before anything is written."""
        if not deletes:
            return
        opts = self.options
        if sources == 0 and not opts.allow_empty_source:
            raise ConfigurationError(
                f"refusing --delete: the source {self.source_uri} lists no objects (a "
                f"mistyped or missing prefix?), so all {deletes} objects under {t.uri} "
                "would be deleted; nothing was copied or deleted",
                operation="replicate",
                hint="Check the source; if emptying the target is intended, add "
                "--allow-empty-source",
            )
        if opts.max_delete is not None:
            if deletes > opts.max_delete:
                raise ConfigurationError(
                    f"refusing --delete: {deletes} objects under {t.uri} would be deleted, "
                    f"more than --max-delete {opts.max_delete}; nothing was copied or deleted",
                    operation="replicate",
                    hint=f"Raise --max-delete to at least {deletes} if that is intended",
                )
            return
        if deletes * 2 > len(t.listing):
            raise ConfigurationError(
                f"refusing --delete: {deletes} of the {len(t.listing)} objects under "
                f"{t.uri} would be deleted (more than half); nothing was copied or deleted",
                operation="replicate",
                hint=f"If that is intended, allow it with --max-delete {deletes}",
            )

    # ------------------------------------------------------------------ copying
    def _on_bytes(self, t: _TargetState, key: str) -> Callable[[int], None]:
        def cb(n: int) -> None:
            self._emit(t.uri, "bytes", key, n)

        return cb

    def _put(
        self,
        t: _TargetState,
        item: PlanItem,
        open_stream: Callable[[], BinaryIO],
        size: int,
        sha256: str,
        digests: Mapping[str, str] | None = None,
        read_by: str = "",
    ) -> None:
        """Upload one object to one target from a fresh stream per attempt, then verify.

        This level owns the retries of a write: it can reopen the source (or the spool),
        which no store can. Verification is the service's own answer to the write
        (`verified`: its checksum of what it stored matched the bytes sent) or, where a
        service gives nothing comparable, reading the object back and hashing it.
        """

        def attempt() -> tuple[StorageObject, str]:
            reader = _Reader(open_stream(), self._bucket, self._on_bytes(t, item.key))
            with contextlib.closing(reader):
                kw: dict[str, object] = {}
                if digests and isinstance(t.storage, TakesDigests):
                    kw["digests"] = digests
                written = t.storage.upload_stream(
                    reader,  # type: ignore[arg-type]
                    item.target_key,
                    size=size,
                    sha256=sha256,
                    metadata={"sha256": sha256},
                    **kw,
                )
            if written.verified and written.size == size:
                return written, written.evidence or f"{t.storage.provider_name}:write-response"
            # nothing from the service to compare: read it back, hashing (not holding) it
            head = t.storage.head(item.target_key)
            if head.size != size:
                raise IntegrityError(
                    f"verification failed: target has {head.size} bytes, expected {size}",
                    provider=t.storage.provider_name,
                    operation="verify",
                    resource=item.target_key,
                )
            got = self._retry.call(lambda: self._read_back(t.storage, head))
            if got != sha256:
                raise IntegrityError(
                    f"verification failed: read back sha256 {got[:12]}, expected {sha256[:12]}",
                    provider=t.storage.provider_name,
                    operation="verify",
                    resource=item.target_key,
                )
            return head, "read-back:sha256"

        try:
            head, evidence = self._retry.call(attempt)
        except CloudError as exc:
            self._fail(t, item, str(exc), retryable=exc.retryable)
            return
        except Exception as exc:  # one odd object must not end a run of millions
            self._fail(t, item, f"{type(exc).__name__}: {exc}")
            return
        if read_by:
            evidence = f"{evidence}; read: {read_by}"
        if t.journal is not None:
            t.journal.record(item.target_key, size, sha256, head.etag, self.run_id, evidence)
        with t.lock:
            t.copied.append(item.key)
            t.bytes_copied += size
            t.evidence[item.key] = evidence
        self._emit(t.uri, "copied", item.key, 0, 1)

    def _fail(
        self, t: _TargetState, item: PlanItem, message: str, *, retryable: bool = False
    ) -> None:
        with t.lock:
            t.errors[item.key] = message
            t.retryable = t.retryable or retryable
        self._emit(t.uri, "failed", item.key)

    def _copy_object(
        self, rel: str, src: StorageObject, jobs: list[tuple[_TargetState, PlanItem]]
    ) -> None:
        """Read the source object once, checked against the service's own hash of it (or
        our sha256 record), and feed every target in jobs. Nothing read is written to a
        target before the check passed: the checked reader withholds the last bytes."""
        sha = src.sha256 or self._source_sha.get(rel)
        size = src.size
        try:
            if size <= self.options.multipart_threshold:

                def read_all() -> tuple[bytes, str]:
                    with checked(self.source, src, sha256=sha) as fh:
                        data = fh.read()
                        return data, fh.hasher.value("sha256") or ""

                by = read_check(src, sha)  # what checks the read (before it is known)
                data, got_sha = self._retry.call(read_all)
                if sha is None:
                    sha = got_sha
                    self._remember_sha(rel, src, sha)
                for t, item in jobs:
                    self._put(t, item, lambda d=data: _Checked(d, sha), len(data), sha, None, by)  # type: ignore[misc]
                return
            with self._large:
                self._copy_large(rel, src, sha, jobs)
        except Exception as exc:  # recorded per key; the other objects go on
            for t, item in jobs:
                self._fail(
                    t,
                    item,
                    f"reading the source failed: {exc}",
                    retryable=isinstance(exc, CloudError) and exc.retryable,
                )

    def _copy_large(
        self,
        rel: str,
        src: StorageObject,
        sha: str | None,
        jobs: list[tuple[_TargetState, PlanItem]],
    ) -> None:
        """Stream straight through when one target needs it, else spool to a temp file once."""
        if sha is None and len(jobs) == 1 and self.source.provider_name == "local":
            # reading a local file twice (hash, then stream) beats writing a spool copy
            sha = self.source_sha256(rel, src)
        if sha is not None and len(jobs) == 1:
            t, item = jobs[0]
            known = {a: v for a, v in src.hashes.items() if a in ("md5", "crc32c")}
            self._put(
                t,
                item,
                lambda: checked(self.source, src, sha256=sha),  # type: ignore[arg-type,return-value]
                src.size,
                sha,
                known or None,
                read_check(src, sha),
            )
            return
        with self._spool(src, sha) as (fd, spooled_size, spooled):
            if sha is None:
                self._remember_sha(rel, src, spooled["sha256"])
            for t, item in jobs:
                self._put(
                    t,
                    item,
                    lambda: _FdReader(fd, spooled["sha256"]),  # type: ignore[arg-type,return-value]
                    spooled_size,
                    spooled["sha256"],
                    {a: spooled[a] for a in ("md5", "crc32c")},
                    read_check(src, sha),
                )

    @contextlib.contextmanager
    def _spool(
        self, src: StorageObject, sha: str | None
    ) -> Iterator[tuple[int, int, dict[str, str]]]:
        """Copy a large source object once to an unlinked temp file (a crash cannot leave
        it behind), checked against the service's hashes and digested on the way."""
        with tempfile.TemporaryFile(prefix="specify-spool-", dir=self.options.spool_dir) as out:

            def fill() -> dict[str, str]:
                out.seek(0)
                out.truncate()
                with checked(self.source, src, sha256=sha, extra=("md5", "crc32c")) as fh:
                    while chunk := fh.read(CHUNK):
                        out.write(chunk)
                    out.flush()
                    return fh.hasher.digests()

            digests = self._retry.call(fill)
            yield out.fileno(), src.size, digests

    def _delete(self, t: _TargetState, item: PlanItem) -> None:
        try:
            t.storage.delete(item.target_key)
        except CloudError as exc:
            self._fail(t, item, f"delete failed: {exc}", retryable=exc.retryable)
            return
        if t.journal is not None:
            t.journal.forget(item.target_key)
        with t.lock:
            t.deleted += 1
        self._emit(t.uri, "deleted", item.key)

    # ------------------------------------------------------------------ run
    def run(self) -> list[TargetReport]:
        started = time.perf_counter()
        self._open_journals(trust_journal=True)
        status = "failed"
        try:
            source_listing = self._list_all()
            self.plan(source_listing)
            for t in self.targets:
                assert t.plan is not None
                self._emit(
                    t.uri, "planned", nbytes=t.plan.bytes_to_copy, objects=t.plan.count("copy")
                )
                if t.journal is not None and not self.options.dry_run:
                    t.journal.start_run(self.run_id)
            if not self.options.dry_run:
                self._execute(source_listing)
            reports = [self._report(t, time.perf_counter() - started) for t in self.targets]
            status = "ok" if all(r.ok for r in reports) else "failed"
            return reports
        finally:
            self._close_journals(status)

    def _execute(self, source_listing: dict[str, StorageObject]) -> None:
        by_key: dict[str, list[tuple[_TargetState, PlanItem]]] = {}
        for t in self.targets:
            assert t.plan is not None
            for item in t.plan.items:
                if item.action == "copy":
                    by_key.setdefault(item.key, []).append((t, item))
                elif item.action == "skip":
                    t.skipped += 1
                    self._emit(t.uri, "skipped", item.key)
                elif item.action == "reject":
                    self._fail(t, item, item.reason)
        with ThreadPoolExecutor(self.options.transfers) as pool:
            futures = [
                pool.submit(self._copy_object, rel, source_listing[rel], jobs)
                for rel, jobs in by_key.items()
            ]
            for fut in futures:
                fut.result()
            # deletes after copies, and only where every copy succeeded (like rclone's
            # "not deleting files as there were IO errors"): a failed run never leaves a
            # target emptier than before
            for t in self.targets:
                if t.errors and t.plan and t.plan.count("delete"):
                    t.error = (
                        f"not deleting {t.plan.count('delete')} objects: {len(t.errors)} "
                        "copies failed"
                    )
            deletes = [
                pool.submit(self._delete, t, item)
                for t in self.targets
                if not t.errors
                for item in (t.plan.items if t.plan else ())
                if item.action == "delete"
            ]
            for fut in deletes:
                fut.result()
        for t in self.targets:
            self._emit(t.uri, "done")

    def _report(self, t: _TargetState, duration: float) -> TargetReport:
        plan = t.plan or Plan(t.uri)
        dry = self.options.dry_run
        return TargetReport(
            target=t.uri,
            copied=len(t.copied),
            skipped=plan.count("skip") if dry else t.skipped,
            failed=(plan.count("reject") if dry else len(t.errors)),
            deleted=t.deleted,
            bytes_copied=t.bytes_copied,
            errors=(
                {i.key: i.reason for i in plan.items if i.action == "reject"} if dry else t.errors
            ),
            error=t.error or plan.error,
            dry_run=dry,
            to_copy=plan.count("copy"),
            to_delete=plan.count("delete"),
            copied_keys=tuple(sorted(t.copied)),
            journal=str(t.journal.path) if t.journal else None,
            duration_s=duration,
            evidence=dict(sorted(t.evidence.items())),
            retryable=t.retryable or (t.error is not None and not t.errors),
        )

    def verify(self, download: bool = False) -> list[VerifyReport]:
        """Compare by the strongest hash both sides have, trusting no journal: missing /
        differ / match / extra, and per object which hash decided. Objects with no hash
        in common are read on both sides with download=True (`rclone check --download`),
        else listed as unchecked."""
        source_listing = self._list_all()
        keys = sorted(source_listing)
        out = []
        with ThreadPoolExecutor(self.options.transfers) as pool:
            for t in self.targets:
                if t.error:
                    out.append(VerifyReport(t.uri, error=t.error))
                    continue
                missing, differ, unchecked = [], [], []
                compared: dict[str, str] = {}
                same_size = []
                for k in keys:
                    dst = t.listing.get(k)
                    if dst is None:
                        missing.append(k)
                    elif dst.size != source_listing[k].size:
                        differ.append(k)
                    else:
                        same_size.append(k)
                futures = {
                    k: pool.submit(self._compare, t, source_listing[k], t.listing[k], download)
                    for k in same_size
                }
                for k in same_size:
                    try:
                        verdict, how = futures[k].result()
                    except CloudError:
                        verdict, how = False, "error"
                    if verdict is None:
                        unchecked.append(k)
                    elif verdict:
                        compared[k] = how
                    else:
                        differ.append(k)
                extra = tuple(sorted(k for k in t.listing if k not in source_listing))
                out.append(
                    VerifyReport(
                        t.uri,
                        tuple(missing),
                        tuple(sorted(differ)),
                        len(compared),
                        extra,
                        None,
                        compared,
                        tuple(unchecked),
                    )
                )
        return out

    def _compare(
        self, t: _TargetState, src: StorageObject, dst: StorageObject, download: bool
    ) -> tuple[bool | None, str]:
        """(same?, by what): the strongest hash both sides have (a sha256 record, or the
        services' md5/crc32c); then the services' own hashes must agree too, since a damaged
        object may carry a correct record. No common hash: the bytes, with download."""
        a, b = read_expectation(src), read_expectation(dst)
        if "sha256" not in a:  # listings without metadata (S3): head has the record
            with contextlib.suppress(CloudError):
                a = read_expectation(self.source.head(src.key)) | a
        if "sha256" not in b:
            with contextlib.suppress(CloudError):
                b = read_expectation(t.storage.head(dst.key)) | b
        alg = strongest_common(a, b)
        if alg is not None:
            if a[alg] != b[alg]:
                return False, alg
            # a sha256 record is ours; where the services' own hashes are comparable too,
            # they must agree as well (a damaged object may carry a correct record)
            for other in ("md5", "crc32c"):
                if other in a and other in b and a[other] != b[other]:
                    return False, other
            return True, alg
        local = "local" in (self.source.provider_name, t.storage.provider_name)
        if not (download or local):  # a local side is read anyway: its bytes are here
            return None, ""
        sa = self._retry.call(lambda: self._hash_read(self.source, src))
        sb = self._retry.call(lambda: self._hash_read(t.storage, dst))
        return sa == sb, "download:sha256"


def replicate_prefix(
    source: CloudStorage,
    source_prefix: str,
    targets: Sequence[Target],
    options: ReplicationOptions | None = None,
    progress: ProgressCallback | None = None,
) -> list[TargetReport]:
    """Make each (target, prefix) hold what source_prefix holds; one report per target."""
    return Replicator(source, source_prefix, targets, options, progress).run()


def plan_replication(
    source: CloudStorage,
    source_prefix: str,
    targets: Sequence[Target],
    options: ReplicationOptions | None = None,
) -> list[Plan]:
    """The plan alone (no journal writes, nothing copied)."""
    opts = replace(options or ReplicationOptions(), dry_run=True)
    rep = Replicator(source, source_prefix, targets, opts)
    rep._open_journals(trust_journal=True)
    try:
        listing = rep._list_source()
        for t in rep.targets:
            rep._list_target(t)
        rep.plan(listing)
    finally:
        rep._close_journals("planned")
    return [t.plan or Plan(t.uri) for t in rep.targets]


def verify_prefix(
    source: CloudStorage,
    source_prefix: str,
    targets: Sequence[Target],
    options: ReplicationOptions | None = None,
    download: bool = False,
) -> list[VerifyReport]:
    """Like `rclone check`: per target, which keys are missing, differ, match, or are extra;
    download=True reads both sides where no hash can be compared (`--download`)."""
    opts = replace(options or ReplicationOptions(), dry_run=True, use_journal=False)
    return Replicator(source, source_prefix, targets, opts).verify(download)
