"""The replication engine: make one or more target prefixes hold what a source prefix holds.

Works against the CloudStorage protocol only, so every provider pair works the same way:

1. list the source once and each target once, page by page in key order, and merge-join
   the listings (and each target's journal) by key as they stream: memory does not grow
   with the number of objects (`ReplicationOptions.key_range` limits a run to a shard);
2. plan per target by key, size and what the journal recorded of a verified copy (size,
   etag, the source's version): unchanged pairs are skipped without reading anything;
   others by sha256 (from object metadata; from a hash cache, a `head`, the service's
   md5 against a local source, or by streaming the bytes); `checksum=True` always
   compares hashes;
3. copy what differs with a thread pool, in batches of keys. Each source object is read
   once and fed to every target that needs it: small objects (<= multipart_threshold)
   from one in-memory buffer, large ones straight through when one target needs them
   and their sha256 is known, otherwise through a temp-file spool;
4. verify each copy (from the write's response when the provider confirmed it, else with
   `head`: size and sha256) and record it in the target's journal (SQLite, committed in
   batches) so that a killed run, run again, does not copy it again;
5. optionally delete extraneous target objects, refused above max_delete.

No Prefect here: flows/replicate.py and commands/replicate.py both call `replicate_prefix`.
"""

from __future__ import annotations

import bisect
import contextlib
import fnmatch
import functools
import hashlib
import heapq
import io
import json
import os
import pickle
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Generic, Literal, Protocol, TypeVar, cast, runtime_checkable

from providers.base import (
    CloudStorage,
    InProcess,
    ListsRange,
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
    StorageError,
)
from providers.integrity import STRENGTH, CheckedReader, strongest_common
from providers.journal import (
    LAYOUTS,
    DoneRow,
    Journal,
    journal_path,
    open_for_run,
    open_reader,
    resolve_layout,
)
from providers.locations import check_key
from providers.retry import RetryPolicy

CHUNK = 1024 * 1024
DEFAULT_THRESHOLD = 8 * 1024 * 1024
#: transfer threads when every store is a directory (InProcess)
LOCAL_WORKERS = 4
#: keys per task on the transfer threads (one hand-off per batch, not per object)
BATCH = 64
#: per-key detail (copied keys, evidence, errors) kept in a report; the journal has all
REPORT_KEYS = 10_000
#: objects per run of a listing sorted through a temp file (stores without list_range)
SPILL_RUN = 50_000
#: up to this size, objects between stores that batch (`BatchesSmall`) go a batch at a time
SMALL = 256 * 1024


@runtime_checkable
class BatchesSmall(Protocol):
    """Optional capability of an in-process store (a directory): read and write many
    small objects in one call, with one span and one audit record per batch instead of
    one per object. `read_small` answers (bytes, sha256) per listed object, checked
    against the store's record, or None; `write_small` writes (key, bytes, sha256) each
    through a temp file renamed into place only after its bytes hashed to sha256, and
    answers the verified object or None (nothing replaced). None sends that object down
    the one-object path. `batches_small` is False where a subclass wraps the one-object
    calls."""

    batches_small: bool

    def read_small(self, objects: Sequence[StorageObject]) -> list[tuple[bytes, str] | None]: ...

    def write_small(
        self, items: Sequence[tuple[str, bytes, str]]
    ) -> list[StorageObject | None]: ...


def _batches(storage: object) -> bool:
    """Whether storage batches small objects itself: its class has the methods (a
    wrapper that forwards unknown attributes to a store it wraps does not claim them, so
    its own open_read/upload_stream keep seeing every call) and says so."""
    cls = type(storage)
    return (
        all(callable(getattr(cls, name, None)) for name in ("read_small", "write_small"))
        and isinstance(storage, BatchesSmall)
        and bool(storage.batches_small)
    )


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
    #: compare sha256 of every same-size object (rclone --checksum) instead of trusting
    #: the journal's record of a verified copy when size, etag and source version match
    checksum: bool = False
    #: how shards share a pair's journal: "single-host" (one WAL file), "segments" (a
    #: file per shard attempt, for workers on several hosts over a network mount) or
    #: "auto" (segments when the state dir is on a network file system or the flow's
    #: Dask cluster is remote); providers.journal says why
    journal_layout: str = "auto"

    def __post_init__(self) -> None:
        if self.journal_layout not in LAYOUTS:
            raise ConfigurationError(
                f"journal_layout={self.journal_layout!r} is not one of {', '.join(LAYOUTS)}",
                operation="replicate",
                hint="Use 'auto' (the default), 'single-host' or 'segments'",
            )
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
    #: how many keys each of missing/differ/extra/unchecked/compared_by stands for: the
    #: lists hold the first REPORT_KEYS keys (in key order) of each, the counts all of them
    totals: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differ and self.error is None

    def count(self, what: str) -> int:
        """How many keys are missing / differ / extra / unchecked / compared_by in all."""
        return self.totals.get(what, len(getattr(self, what)))

    @property
    def truncated(self) -> tuple[str, ...]:
        """Which lists name fewer keys than there were (capped at REPORT_KEYS)."""
        lists = ("missing", "differ", "extra", "unchecked", "compared_by")
        return tuple(w for w in lists if self.count(w) > len(getattr(self, w)))


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


def _bad_key(key: str) -> str | None:
    """Why a key may not be written anywhere ('..' segments, a leading '/', ...), or None."""
    try:
        check_key(key)
    except ConfigurationError as exc:
        return str(exc)
    return None


def _sorted_spill(objects: Iterator[StorageObject]) -> Iterator[StorageObject]:
    """A listing in key order, for a store that does not promise one: runs of SPILL_RUN
    objects are sorted in memory and pickled to unlinked temp files, then merged."""
    runs: list[BinaryIO] = []
    chunk: list[StorageObject] = []

    def spill() -> None:
        chunk.sort(key=lambda o: o.key)
        fh = tempfile.TemporaryFile(prefix="specify-sort-")  # noqa: SIM115 (closed below)
        for obj in chunk:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.seek(0)
        runs.append(fh)  # type: ignore[arg-type]
        chunk.clear()

    def read(fh: BinaryIO) -> Iterator[StorageObject]:
        while True:
            try:
                yield pickle.load(fh)  # our own temp file, written just above
            except EOFError:
                return

    try:
        for obj in objects:
            chunk.append(obj)
            if len(chunk) >= SPILL_RUN:
                spill()
        if not runs:
            chunk.sort(key=lambda o: o.key)
            yield from chunk
            return
        if chunk:
            spill()
        yield from heapq.merge(*(read(fh) for fh in runs), key=lambda o: o.key)
    finally:
        for fh in runs:
            fh.close()


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
    refine: bool | None = None,
) -> CheckedReader:
    """A fresh stream of obj, checked against the service's hashes (and sha256 when known).
    refine: whether storage is RefinesReadCheck (None: ask; the caller may know)."""
    # a listing may not say (an S3 multipart object): the store knows where to look
    if refine is None:
        refine = isinstance(storage, RefinesReadCheck)
    expected = (
        storage.read_hashes(obj) if refine else read_expectation(obj)  # type: ignore[attr-defined]
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


V = TypeVar("V")


class _Forward(Generic[V]):
    """Lookups in ascending key order answered from pages of an ordered query: a
    merge-join with a table, one query per page instead of one per key."""

    def __init__(self, fetch: Callable[[str, int], list[tuple[str, V]]], page: int = 1000):
        self._fetch = fetch
        self._page = page
        self._rows: dict[str, V] = {}
        self._upto: str | None = None  # every row <= this key is in _rows (None: nothing)
        self._all = False  # the last page was short: every row from its start is held

    def get(self, key: str) -> V | None:
        if not self._all and (self._upto is None or key > self._upto):
            rows = self._fetch(key, self._page)
            self._rows = dict(rows)
            self._all = len(rows) < self._page
            self._upto = rows[-1][0] if rows else key
        return self._rows.get(key)


class _VerifyTally:
    """One target's verify results: counts of every kind, and the REPORT_KEYS smallest
    keys of each (results arrive out of key order from the comparison threads)."""

    def __init__(self, cap: int = REPORT_KEYS) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._n: dict[str, int] = dict.fromkeys(
            ("missing", "differ", "extra", "unchecked", "compared_by"), 0
        )
        self._keys: dict[str, list[str]] = {k: [] for k in self._n}
        self._how: dict[str, str] = {}

    def add(self, what: str, key: str, how: str = "") -> None:
        with self._lock:
            self._n[what] += 1
            keys = self._keys[what]
            if len(keys) >= self._cap and key > keys[-1]:
                return
            bisect.insort(keys, key)
            if what == "compared_by":
                self._how[key] = how
            if len(keys) > self._cap:
                dropped = keys.pop()
                if what == "compared_by":
                    del self._how[dropped]

    def report(self, uri: str) -> VerifyReport:
        k = self._keys
        return VerifyReport(
            uri,
            tuple(k["missing"]),
            tuple(k["differ"]),
            self._n["compared_by"],
            tuple(k["extra"]),
            None,
            {key: self._how[key] for key in k["compared_by"]},
            tuple(k["unchecked"]),
            totals=dict(self._n),
        )


# --------------------------------------------------------------------------- engine
@dataclass
class _TargetState:
    storage: CloudStorage
    prefix: str
    uri: str
    plan: Plan | None = None  # plan_replication() only
    journal: Journal | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    copied: list[str] = field(default_factory=list)  # the first REPORT_KEYS
    n_copied: int = 0
    bytes_copied: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    to_copy: int = 0
    to_delete: int = 0
    counted_deletes: int = 0  # by the --delete safety pass, before anything was written
    listed: int = 0  # target objects in the range
    errors: dict[str, str] = field(default_factory=dict)  # the first REPORT_KEYS
    #: whether any failure may pass on a later try (a transient error that outlived the
    #: engine's retries); False when every failure is permanent, so no level retries it
    retryable: bool = False
    error: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)  # the first REPORT_KEYS
    lock_fd: int | None = None
    rows: _Forward[DoneRow] | None = None  # the journal, read in key order
    deletes: Any = None  # a temp file of planned deletes (json lines), with --delete
    items: list[PlanItem] | None = None  # collected for plan_replication()


_Unit = tuple[
    str,  # rel
    StorageObject,  # source object
    list[tuple[_TargetState, PlanItem]],  # copies decided from the listings
    list[tuple[_TargetState, StorageObject, "DoneRow | None"]],  # same size: compare
    "str | None",  # the source's cached sha256
]


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
        self._refines = isinstance(source, RefinesReadCheck)
        self._src_in_process = isinstance(source, InProcess) and source.in_process
        # every store a directory: no round trips to overlap, only blocking syscalls;
        # 8 threads mostly pass the GIL back and forth (~180 futex calls per object,
        # strace), fewer still overlap the blocking creates; --transfers 1: inline
        local = all(
            isinstance(s, InProcess) and s.in_process for s in (source, *(s for s, _ in targets))
        )
        self._workers = (
            min(self.options.transfers, LOCAL_WORKERS) if local else self.options.transfers
        )
        self._inline = self._workers == 1
        self._large = threading.BoundedSemaphore(self.options.large_transfers)
        self._hashing = threading.BoundedSemaphore(self.options.large_transfers)
        # targets (by id) whose small objects go a batch at a time (source and target
        # batch); not under --bwlimit, which paces each object's bytes as they are written
        self._batches: set[int] = set()
        if _batches(source) and not limit:
            self._batches = {id(t) for t in self.targets if _batches(t.storage)}

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
                t.journal = self._read_journal(path, t.uri)
            else:
                self._lock_target(t, path.with_suffix(".lock"))
                t.journal = self._write_journal(path, t.uri)
        self._hash_journal = next((t.journal for t in self.targets if t.journal), None)

    def _read_journal(self, path: Path, target_uri: str) -> Journal | None:
        """A dry run's journal: read as it is, with any unmerged segments."""
        return open_reader(path)

    def _write_journal(self, path: Path, target_uri: str) -> Journal:
        """The journal of a run holding the target's lock: a crashed sharded run's
        segments merged into it first (providers.journal)."""
        layout = resolve_layout(self.options.journal_layout, path.parent)
        return open_for_run(path, self.source_uri, target_uri, layout)

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
    def _listing(
        self, storage: CloudStorage, prefix: str, *, source: bool
    ) -> Iterator[tuple[str, StorageObject]]:
        """(key relative to prefix, object) in ascending key order, page by page, only
        keys in key_range (and, for the source, selected by the globs).

        A store with `list_range` starts at the range's low end and stops at its high
        end; any other store's `list_objects` is sorted through a temp file first. The
        order is checked: a store that lists out of order fails loudly (CloudError)
        instead of making the merge plan copies or deletes it should not."""
        kr = self.options.key_range
        start = prefix + kr.lo if kr is not None and kr.lo is not None else None
        end = prefix + kr.hi if kr is not None and kr.hi is not None else None
        if isinstance(storage, ListsRange):
            objects: Iterator[StorageObject] = storage.list_range(prefix, start, end)
        else:
            objects = _sorted_spill(storage.list_objects(prefix))
        n = len(prefix)
        last: str | None = None
        selects = self.options.selects
        globs = source and bool(self.options.include or self.options.exclude)
        for obj in objects:
            key = obj.key
            rel = key[n:]
            if last is not None and rel <= last:
                raise StorageError(
                    f"{_uri(storage, prefix)} listed {rel!r} after {last!r}: the listing "
                    "is not in key order, so it cannot be merged safely",
                    provider=storage.provider_name,
                    operation="list",
                    resource=prefix,
                    hint="Report this store's listing order; nothing was deleted",
                )
            last = rel
            if not rel or not key.startswith(prefix):
                continue
            # a key ending in '/' with content is an object like any other (copied, or
            # reported where the target cannot hold it); empty ones are folder markers
            if not obj.size and rel[-1] == "/":
                continue
            if kr is not None:
                if kr.hi is not None and rel >= kr.hi:
                    return
                if kr.lo is not None and rel < kr.lo:
                    continue
            if globs and not selects(rel):
                continue
            yield rel, obj

    def _target_listing(self, t: _TargetState) -> Iterator[tuple[str, StorageObject]]:
        """A target's listing; a failure marks the target (t.error) and ends it there:
        nothing more is planned for that target."""
        try:
            for item in self._listing(t.storage, t.prefix, source=False):
                t.listed += 1
                yield item
        except CloudError as exc:
            t.error = f"listing failed: {exc}"

    def _joined(
        self, targets: Sequence[_TargetState]
    ) -> Iterator[tuple[str, StorageObject | None, list[StorageObject | None]]]:
        """Merge-join the source's listing with every target's, by key: (key, the
        source's object or None, each target's object or None). Holds one page each."""
        streams: list[Iterator[tuple[str, StorageObject]]] = [
            self._listing(self.source, self.source_prefix, source=True),
            *(self._target_listing(t) for t in targets),
        ]
        heads = [next(it, None) for it in streams]
        width = len(streams)
        while True:
            key: str | None = None
            for h in heads:
                if h is not None and (key is None or h[0] < key):
                    key = h[0]
            if key is None:
                return
            row: list[StorageObject | None] = [None] * width
            for i in range(width):
                h = heads[i]
                if h is not None and h[0] == key:
                    row[i] = h[1]
                    heads[i] = next(streams[i], None)
            yield key, row[0], row[1:]

    # ------------------------------------------------------------------ hashes
    def source_sha256(self, rel: str, obj: StorageObject, cached: str | None = None) -> str:
        """The source object's sha256: listing, cache, head, or streaming its bytes."""
        if obj.sha256:
            return obj.sha256
        if cached:
            return cached
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
        """Keep a hash computed from the bytes, so the next run need not read them again
        (a copy's journal record keeps it too, with the source's tag)."""
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

    def _plan_and_copy(self, execute: bool) -> None:
        """Stream the plan and carry it out as it goes, in bounded memory.

        The main thread merge-joins the listings (and each journal, a page at a time);
        what the listings settle is decided here: missing or resized objects are copied,
        objects whose size, etag and source version match the journal's record of a
        verified copy are skipped (like rclone's size+modtime; --checksum compares
        hashes instead). Same-size objects with nothing to trust are compared by sha256
        on the transfer threads, in batches of BATCH keys, which then copy what differs:
        each source object is read once for all targets that need it."""
        opts = self.options
        targets = [t for t in self.targets if t.error is None]
        for t in targets:
            if t.journal is not None:
                journal = t.journal
                t.rows = _Forward(journal.done_page)
            if opts.delete_extraneous and execute:
                t.deletes = tempfile.TemporaryFile(  # noqa: SIM115 (closed by run())
                    "w+", encoding="utf-8", prefix="specify-del-"
                )
        hashes = _Forward(self._hash_journal.hash_page) if self._hash_journal is not None else None
        checksum = opts.checksum
        good_prefix = {id(t) for t in targets if not t.prefix or _bad_key(t.prefix) is None}
        batch: list[_Unit] = []
        batch_bytes = 0
        inflight = threading.BoundedSemaphore(self._workers * 2)
        planned: dict[int, list[int] | None] = {}  # id(t) -> [objects, bytes] not yet sent

        def submit(pool: ThreadPoolExecutor, units: list[_Unit]) -> None:
            for t in targets:
                counts = planned.pop(id(t), None)
                if counts:
                    self._emit(t.uri, "planned", nbytes=counts[1], objects=counts[0])
            if self._inline:
                self._run_units(units, execute)
                return
            inflight.acquire()
            fut = pool.submit(self._run_units, units, execute)
            fut.add_done_callback(lambda _f: inflight.release())
            futures.append(fut)
            # keep the list short: drop what finished (their errors are recorded per key)
            if len(futures) > 4 * self._workers:
                futures[:] = [f for f in futures if not f.done() or f.exception()]

        futures: list[Any] = []
        with ThreadPoolExecutor(self._workers) as pool:
            for rel, src, dsts in self._joined(targets):
                if src is None:
                    if opts.delete_extraneous and opts.selects(rel):
                        for t, dst in zip(targets, dsts, strict=True):
                            if dst is not None and t.error is None:
                                self._plan_delete(t, rel, dst)
                    continue
                copies: list[tuple[_TargetState, PlanItem]] = []
                compares: list[tuple[_TargetState, StorageObject, DoneRow | None]] = []
                bad = _bad_key(rel)
                tag = None
                for t, dst in zip(targets, dsts, strict=True):
                    if t.error is not None:
                        continue
                    # a good prefix and a good key make a good target key: check once
                    reason = bad or (None if id(t) in good_prefix else _bad_key(t.prefix + rel))
                    if reason:
                        self._reject(t, rel, src, reason)
                        continue
                    if dst is None:
                        copies.append((t, self._copy_item(t, rel, src, "missing on target")))
                        continue
                    if dst.size != src.size:
                        why = f"size differs ({src.size} != {dst.size})"
                        copies.append((t, self._copy_item(t, rel, src, why)))
                        continue
                    row = t.rows.get(t.prefix + rel) if t.rows is not None else None
                    if row is not None and not checksum:
                        if tag is None:
                            tag = _tag(src) or ""
                        if (
                            row.size == src.size
                            and row.etag is not None
                            and row.etag == dst.etag
                            and row.src_tag == tag
                            and tag
                        ):
                            self._skip(t, rel, src, "unchanged since the verified copy", row)
                            continue
                    compares.append((t, dst, row))
                if not (copies or compares):
                    continue
                for t, item in copies:
                    with t.lock:
                        t.to_copy += 1
                    counts = planned.get(id(t))
                    if counts is None:
                        counts = planned[id(t)] = [0, 0]
                    counts[0] += 1
                    counts[1] += item.size
                    if t.items is not None:
                        t.items.append(item)
                cached = None
                if compares and src.sha256 is None and hashes is not None:
                    hit = hashes.get(rel)
                    if hit is not None and hit[0] == src.size and hit[1] == _tag(src):
                        cached = hit[2]
                batch.append((rel, src, copies, compares, cached))
                batch_bytes += src.size
                if len(batch) >= BATCH or batch_bytes >= opts.multipart_threshold:
                    submit(pool, batch)
                    batch, batch_bytes = [], 0
            if batch:
                submit(pool, batch)
            for fut in futures:
                fut.result()
            for t in targets:
                counts = planned.pop(id(t), None)
                if counts:
                    self._emit(t.uri, "planned", nbytes=counts[1], objects=counts[0])
            if opts.delete_extraneous:
                self._run_deletes(pool, targets, execute)
        for t in self.targets:
            self._emit(t.uri, "done")

    def _run_units(self, units: list[_Unit], execute: bool) -> None:
        """On a transfer thread: settle the comparisons of a batch, copy what differs.
        Small objects between stores that batch them (`BatchesSmall`) are read and
        written a batch at a time; everything else, and anything a batch could not do,
        one object at a time."""
        small: list[tuple[str, StorageObject, list[tuple[_TargetState, PlanItem]]]] = []
        for rel, src, copies, compares, cached in units:
            try:
                if compares:
                    copies = copies + self._settle(rel, src, compares, cached)
                if not (copies and execute):
                    continue
                if (
                    self._batches
                    and src.size <= SMALL
                    and all(id(t) in self._batches for t, _ in copies)
                ):
                    small.append((rel, src, copies))
                    continue
                self._copy_object(rel, src, copies)
            except Exception as exc:  # one odd object must not end a run of millions
                for t, item in copies:
                    self._fail(t, item, f"{type(exc).__name__}: {exc}")
        if small:
            self._copy_small(small)

    def _copy_small(
        self, units: list[tuple[str, StorageObject, list[tuple[_TargetState, PlanItem]]]]
    ) -> None:
        """Small objects a batch at a time: one `read_small` of the source, one
        `write_small` per target (one span and one audit record each, not one per
        object). The guarantees are the one-object path's: the source bytes hash to what
        the source's record or the plan says, each target's store hashes what it writes
        against that sha256 and renames it into place only then, and only a verified
        write is journaled. Whatever a batch could not do goes through that path
        (`_copy_object` / `_put`: retries, errors per key)."""
        source = cast(BatchesSmall, self.source)
        try:
            got = source.read_small([src for _, src, _ in units])
        except Exception:  # each object is then read on its own
            got = [None] * len(units)
        per_target: dict[int, list[tuple[PlanItem, bytes, str, str, str | None]]] = {}
        checks: dict[tuple[tuple[str, ...], bool], str] = {}
        by_id: dict[int, _TargetState] = {}
        for (rel, src, copies), read in zip(units, got, strict=True):
            sha = src.sha256 or next((i.sha256 for _, i in copies if i.sha256), None)
            if read is None or (sha is not None and read[1] != sha):
                self._copy_object(rel, src, copies)  # checks, retries and reports
                continue
            data, got_sha = read
            if self._bucket:
                self._bucket.take(len(data))
            # what checks the read depends only on which hashes are known: once per kind
            kind = (tuple(src.hashes), bool(src.sha256 or sha))
            by = checks.get(kind) or checks.setdefault(kind, read_check(src, sha))
            tag = _tag(src)
            for t, item in copies:
                by_id[id(t)] = t
                per_target.setdefault(id(t), []).append((item, data, got_sha, by, tag))
        for tid, rows in per_target.items():
            t = by_id[tid]
            store = cast(BatchesSmall, t.storage)
            try:
                written = store.write_small([(i.target_key, d, h) for i, d, h, _, _ in rows])
            except Exception:  # each object is then written on its own
                written = [None] * len(rows)
            for (item, data, sha, by, tag), obj in zip(rows, written, strict=True):
                if obj is None or not obj.verified or obj.size != len(data):
                    self._put(
                        t,
                        item,
                        lambda d=data, h=sha: _Checked(d, h),  # type: ignore[misc]
                        len(data),
                        sha,
                        None,
                        by,
                        tag,
                    )
                    continue
                if self.progress is not None:
                    self._emit(t.uri, "bytes", item.key, len(data))
                self._done(t, item, len(data), sha, obj.etag, f"{obj.evidence}; read: {by}", tag)

    def _settle(
        self,
        rel: str,
        src: StorageObject,
        compares: list[tuple[_TargetState, StorageObject, DoneRow | None]],
        cached: str | None,
    ) -> list[tuple[_TargetState, PlanItem]]:
        """Same size, nothing to trust: compare sha256, cheapest evidence first (may read
        objects). Returns the copies; skips are counted (and journaled, so that the next
        run trusts them without comparing again)."""
        out: list[tuple[_TargetState, PlanItem]] = []
        tag = _tag(src)
        src_sha: str | None = None
        src_md5: str | None = None
        checksum = self.options.checksum

        def sha() -> str:
            nonlocal src_sha
            if src_sha is None:
                known = row.sha256 if row is not None and tag and row.src_tag == tag else None
                src_sha = self.source_sha256(rel, src, cached or known)
            return src_sha

        def md5() -> str:
            """The source's md5 from one checked read of its bytes (sha256 on the way)."""
            nonlocal src_sha, src_md5
            if src_md5 is None:

                def read() -> tuple[str, str]:
                    with checked(
                        self.source, src, sha256=src_sha, extra=("md5",), refine=self._refines
                    ) as fh:
                        while fh.read(CHUNK):
                            pass
                        return fh.hasher.value("sha256") or "", fh.hasher.value("md5") or ""

                got_sha, src_md5 = self._retry.call(read)
                src_sha = src_sha or got_sha
            return src_md5

        for t, dst, row in compares:
            item = self._copy_item(t, rel, src, "sha256 differs")
            try:
                if (
                    not checksum
                    and row is not None
                    and dst.sha256 is None
                    and row.size == dst.size
                    and (row.etag is None or row.etag == dst.etag)
                    and row.sha256 == sha()
                ):
                    # the journal's verified copy has this sha256 and the target has not
                    # changed since (a listing without checksums, such as S3's)
                    if tag and row.src_tag != tag and t.journal and not self.options.dry_run:
                        t.journal.set_source_tag(t.prefix + rel, tag)
                    self._skip(t, rel, src, "journal", None, src_sha)
                    continue
                target_md5 = dst.hashes.get("md5")
                if dst.sha256:
                    same, how = sha() == dst.sha256, "same sha256 as the source"
                elif target_md5 and self._src_in_process:
                    # the target's listing has the service's md5 (S3 single-part ETag,
                    # Azure Content-MD5): reading a local source beats a head per object,
                    # as rclone --checksum does
                    same, how = md5() == target_md5, "the service's md5 equals the source's"
                else:
                    same = sha() == self._target_sha256(t, dst)
                    how = "same sha256 as the source"
            except CloudError as exc:
                self._reject(t, rel, src, f"could not compare: {exc}")
                continue
            if same:
                if t.journal is not None and not self.options.dry_run:
                    t.journal.record(
                        t.prefix + rel, dst.size, sha(), dst.etag, self.run_id, how, tag
                    )
                self._skip(t, rel, src, how, None, src_sha)
                continue
            sha()
            item = replace(item, sha256=src_sha)
            with t.lock:
                t.to_copy += 1
                if t.items is not None:
                    t.items.append(item)
            self._emit(t.uri, "planned", nbytes=item.size, objects=1)
            out.append((t, item))
        return out

    def _skip(
        self,
        t: _TargetState,
        rel: str,
        src: StorageObject,
        reason: str,
        row: DoneRow | None,
        sha256: str | None = None,
    ) -> None:
        with t.lock:
            t.skipped += 1
            if t.items is not None:
                sha = sha256 or (row.sha256 if row else src.sha256)
                t.items.append(
                    PlanItem(rel, "skip", reason, src.size, src.key, t.prefix + rel, sha)
                )
        if self.progress is not None:
            self._emit(t.uri, "skipped", rel)

    def _reject(self, t: _TargetState, rel: str, src: StorageObject, reason: str) -> None:
        item = PlanItem(rel, "reject", reason, src.size, src.key, t.prefix + rel)
        if t.items is not None:
            with t.lock:
                t.items.append(item)
        self._fail(t, item, reason)

    def _plan_delete(self, t: _TargetState, rel: str, dst: StorageObject) -> None:
        t.to_delete += 1
        if t.items is not None:
            t.items.append(PlanItem(rel, "delete", "not in source", dst.size, "", dst.key))
        if t.deletes is not None:
            t.deletes.write(json.dumps([rel, dst.size]) + "\n")

    def _count_deletes(self) -> None:
        """--delete safety, before anything is written: one pass over the listings
        (nothing else) counts what would be deleted, and refuses (ConfigurationError,
        exit 2, naming the option) when it looks like a mistake."""
        targets = [t for t in self.targets if t.error is None]
        sources = 0
        deletes = [0] * len(targets)
        for rel, src, dsts in self._joined(targets):
            if src is not None:
                sources += 1
                continue
            if self.options.selects(rel):
                for i, dst in enumerate(dsts):
                    if dst is not None:
                        deletes[i] += 1
        for i, t in enumerate(targets):
            if t.error is None:
                self._check_deletes(t, sources, deletes[i], t.listed)
            t.listed = 0  # counted again by the run's own pass
            t.counted_deletes = deletes[i]

    def _run_deletes(
        self, pool: ThreadPoolExecutor, targets: list[_TargetState], execute: bool
    ) -> None:
        """Deletes after copies, and only where every copy succeeded (like rclone's "not
        deleting files as there were IO errors"): a failed run never leaves a target
        emptier than before. Refused as well when the run's own listing now shows more
        deletes than the first pass allowed."""
        for t in targets:
            if not t.to_delete:
                continue
            if t.errors or t.failed or t.error:
                t.error = t.error or (
                    f"not deleting {t.to_delete} objects: {t.failed} copies failed"
                )
                continue
            if t.to_delete > t.counted_deletes and (
                (self.options.max_delete is not None and t.to_delete > self.options.max_delete)
                or (self.options.max_delete is None and t.to_delete * 2 > t.listed)
            ):
                t.error = (
                    f"not deleting {t.to_delete} objects: more than the {t.counted_deletes} "
                    "counted before the copies, and more than --delete allows (the target "
                    "or the source changed during the run)"
                )
                continue
            if not execute or t.deletes is None:
                continue
            t.deletes.seek(0)
            futures = []
            chunk: list[PlanItem] = []
            for line in t.deletes:
                rel, size = json.loads(line)
                chunk.append(PlanItem(rel, "delete", "not in source", size, "", t.prefix + rel))
                if len(chunk) >= BATCH:
                    futures.append(pool.submit(self._delete_all, t, chunk))
                    chunk = []
            if chunk:
                futures.append(pool.submit(self._delete_all, t, chunk))
            for fut in futures:
                fut.result()

    def _delete_all(self, t: _TargetState, items: list[PlanItem]) -> None:
        for item in items:
            self._delete(t, item)

    def _check_deletes(self, t: _TargetState, sources: int, deletes: int, listed: int) -> None:
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
        if deletes * 2 > listed:
            raise ConfigurationError(
                f"refusing --delete: {deletes} of the {listed} objects under "
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
        src_tag: str | None = None,
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
        self._done(t, item, size, sha256, head.etag, evidence, src_tag)

    def _done(
        self,
        t: _TargetState,
        item: PlanItem,
        size: int,
        sha256: str,
        etag: str | None,
        evidence: str,
        src_tag: str | None,
    ) -> None:
        """A verified copy: journaled, counted, reported."""
        if t.journal is not None:
            t.journal.record(item.target_key, size, sha256, etag, self.run_id, evidence, src_tag)
        with t.lock:
            t.n_copied += 1
            t.bytes_copied += size
            if len(t.copied) < REPORT_KEYS:
                t.copied.append(item.key)
                t.evidence[item.key] = evidence
        self._emit(t.uri, "copied", item.key, 0, 1)

    def _fail(
        self, t: _TargetState, item: PlanItem, message: str, *, retryable: bool = False
    ) -> None:
        with t.lock:
            t.failed += 1
            if len(t.errors) < REPORT_KEYS:
                t.errors[item.key] = message
            t.retryable = t.retryable or retryable
        self._emit(t.uri, "failed", item.key)

    def _copy_object(
        self, rel: str, src: StorageObject, jobs: list[tuple[_TargetState, PlanItem]]
    ) -> None:
        """Read the source object once, checked against the service's own hash of it (or
        our sha256 record), and feed every target in jobs. Nothing read is written to a
        target before the check passed: the checked reader withholds the last bytes."""
        sha = src.sha256 or next((i.sha256 for _, i in jobs if i.sha256), None)
        size = src.size
        tag = _tag(src)
        try:
            if size <= self.options.multipart_threshold:

                def read_all() -> tuple[bytes, str]:
                    with checked(self.source, src, sha256=sha, refine=self._refines) as fh:
                        data = fh.read()
                        return data, fh.hasher.value("sha256") or ""

                by = read_check(src, sha)  # what checks the read (before it is known)
                data, got_sha = self._retry.call(read_all)
                if sha is None:
                    sha = got_sha  # the journal record of each copy keeps it, with the tag
                for t, item in jobs:
                    self._put(
                        t,
                        item,
                        lambda d=data: _Checked(d, sha),  # type: ignore[misc]
                        len(data),
                        sha,
                        None,
                        by,
                        tag,
                    )
                return
            if sha is None and len(jobs) == 1 and self.source.provider_name == "local":
                # reading a local file twice (hash, then stream) beats writing a spool
                # copy. The hash is taken before a large slot (under a slot of its own):
                # the next file is hashed while the current one uploads, instead of the
                # service waiting idle for each file's hash
                with self._hashing:
                    sha = self.source_sha256(rel, src)
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
                _tag(src),
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
                    _tag(src),
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
            if self.options.delete_extraneous:
                self._count_deletes()
            for t in self.targets:
                if t.journal is not None and not self.options.dry_run:
                    t.journal.start_run(self.run_id)
            self._plan_and_copy(execute=not self.options.dry_run)
            reports = [self._report(t, time.perf_counter() - started) for t in self.targets]
            status = "ok" if all(r.ok for r in reports) else "failed"
            return reports
        finally:
            for t in self.targets:
                if t.deletes is not None:
                    t.deletes.close()
                    t.deletes = None
            self._close_journals(status)

    def _report(self, t: _TargetState, duration: float) -> TargetReport:
        return TargetReport(
            target=t.uri,
            copied=t.n_copied,
            skipped=t.skipped,
            failed=t.failed,
            deleted=t.deleted,
            bytes_copied=t.bytes_copied,
            errors=dict(t.errors),
            error=t.error,
            dry_run=self.options.dry_run,
            to_copy=t.to_copy,
            to_delete=t.to_delete,
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
        else listed as unchecked.

        In bounded memory: the listings are merge-joined by key as they stream (the
        planner's `_joined`, one page each), the same-size pairs are compared on the
        transfer threads with at most transfers*4 comparisons in flight, and each report
        lists the first REPORT_KEYS keys of each kind (counting all of them)."""
        targets = list(self.targets)
        tallies = {id(t): _VerifyTally() for t in targets}
        inflight = threading.BoundedSemaphore(self.options.transfers * 4)
        failures: list[BaseException] = []

        def settle(tally: _VerifyTally, key: str, fut: Any) -> None:
            try:
                verdict, how = fut.result()
            except CloudError:
                verdict, how = False, "error"
            except BaseException as exc:  # not a store's error: verify fails, as before
                failures.append(exc)
                return
            finally:
                inflight.release()
            if verdict is None:
                tally.add("unchecked", key)
            elif verdict:
                tally.add("compared_by", key, how)
            else:
                tally.add("differ", key)

        with ThreadPoolExecutor(self.options.transfers) as pool:
            for rel, src, dsts in self._joined(targets):
                if failures:
                    break
                for t, dst in zip(targets, dsts, strict=True):
                    tally = tallies[id(t)]
                    if src is None:
                        if dst is not None:
                            tally.add("extra", rel)
                    elif dst is None:
                        tally.add("missing", rel)
                    elif dst.size != src.size:
                        tally.add("differ", rel)
                    else:
                        inflight.acquire()
                        fut = pool.submit(self._compare, t, src, dst, download)
                        fut.add_done_callback(functools.partial(settle, tally, rel))
        if failures:
            raise failures[0]
        return [
            VerifyReport(t.uri, error=t.error) if t.error else tallies[id(t)].report(t.uri)
            for t in targets
        ]

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
    """The plan alone (no journal writes, nothing copied). Unlike a run, it holds every
    item in memory: it is what the caller asked for."""
    opts = replace(options or ReplicationOptions(), dry_run=True)
    rep = Replicator(source, source_prefix, targets, opts)
    rep._open_journals(trust_journal=True)
    try:
        for t in rep.targets:
            t.items = []
        if opts.delete_extraneous:
            rep._count_deletes()
        rep._plan_and_copy(execute=False)
    finally:
        rep._close_journals("planned")
    plans = []
    for t in rep.targets:
        items = sorted(t.items or (), key=lambda i: (i.action == "delete", i.key))
        plans.append(Plan(t.uri, tuple(items), t.error))
    return plans


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
