"""Shards of one replication: contiguous key ranges, each replicated to every target.

A large replication splits into shards so that several processes (Prefect tasks on Dask
workers) share it while the source is still read once: every shard lists, plans and
copies only the keys in its `KeyRange`, reading each changed object once and writing it
to every target (providers.replication does the work; this module only cuts and guards).

- `split_key_ranges` streams the source listing page by page and keeps only one boundary
  key per `objects_per_shard` objects: the ranges cover the whole key space with no gap and
  no overlap (the first starts at None, the last ends at None, each `hi` is the next `lo`).
  A key that appears after the split still falls in exactly one range.
- `delete_census` decides deletes on the WHOLE source before any shard runs: the empty
  source refusal, `max_delete` and the more-than-half rule are the engine's, applied to the
  counts of the whole prefix; each range gets the number of deletes it may make.
- `replicate_shard` runs the engine for one range. A shard never takes the target's
  run lock (the flow holds that once per run and target, `hold_target_locks`); it locks
  only its own range, so shards of one run never block each other, while a second run (or
  the command line) on the same target is still refused.

No Prefect here.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from providers.base import CloudStorage
from providers.errors import ConfigurationError
from providers.journal import (
    MergeReport,
    SegmentJournal,
    merge_segments,
    open_for_run,
    resolve_layout,
    segment_files,
)
from providers.replication import (
    Journal,
    KeyRange,
    ProgressCallback,
    ReplicationOptions,
    Replicator,
    Target,
    TargetReport,
    journal_path,
)

#: a few thousand small objects: a task's overhead (about 100 ms on Dask) is then well
#: under 1 % of its work, and a killed worker loses at most one shard in flight
DEFAULT_OBJECTS_PER_SHARD = 2000


def norm_prefix(prefix: str) -> str:
    """The prefix as the engine uses it: no leading '/', a trailing '/' unless empty."""
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def relative_keys(storage: CloudStorage, prefix: str) -> Iterator[str]:
    """The keys under prefix relative to it, as the engine counts objects (empty folder
    markers left out), in the order the store lists them (one page at a time)."""
    base = norm_prefix(prefix)
    for obj in storage.list_objects(base):
        rel = obj.key[len(base) :]
        if rel and (obj.size or not rel.endswith("/")):
            yield rel


class _OutOfOrder(Exception):
    """A store listed a key before one it had already listed."""


def _ascending(keys: Iterable[str]) -> Iterator[str]:
    last: str | None = None
    for key in keys:
        if last is not None and key <= last:
            raise _OutOfOrder(key)
        last = key
        yield key


def _keys_in_order(storage: CloudStorage, prefix: str, stream: bool) -> Iterator[str]:
    """The relative keys in ascending order: streamed (checked) while the store lists in
    order (S3, GCS, Azure and the local store do), else the whole listing sorted."""
    if stream:
        return _ascending(relative_keys(storage, prefix))
    return iter(sorted(set(relative_keys(storage, prefix))))


def split_key_ranges(
    storage: CloudStorage, prefix: str, objects_per_shard: int = DEFAULT_OBJECTS_PER_SHARD
) -> list[KeyRange]:
    """Contiguous ranges of about objects_per_shard keys each, covering every key under
    prefix (relative keys, half-open [lo, hi)): no gap, no overlap, first lo and last hi
    None. Holds one key per shard, not the listing."""
    if objects_per_shard < 1:
        raise ConfigurationError(
            f"objects_per_shard={objects_per_shard} must be at least 1",
            operation="replicate",
            hint="Give the number of objects per shard, e.g. 2000",
        )
    for stream in (True, False):
        bounds: list[str] = []
        try:
            for i, key in enumerate(_keys_in_order(storage, prefix, stream)):
                if i and i % objects_per_shard == 0:
                    bounds.append(key)
        except _OutOfOrder:
            continue  # a store that lists out of order: sorted, in memory
        break
    return ranges_from_bounds(bounds)


def ranges_from_bounds(bounds: Sequence[str]) -> list[KeyRange]:
    """[None, b1), [b1, b2), ..., [bn, None) from ascending boundary keys."""
    points: list[str | None] = [None, *sorted(set(bounds)), None]
    return [KeyRange(lo, hi) for lo, hi in itertools.pairwise(points)]


def range_index(ranges: Sequence[KeyRange], key: str) -> int:
    """Which of the (contiguous, ordered) ranges holds key."""
    lo, hi = 0, len(ranges) - 1
    while lo < hi:  # the first range whose hi is above key
        mid = (lo + hi) // 2
        upper = ranges[mid].hi
        if upper is not None and key >= upper:
            lo = mid + 1
        else:
            hi = mid
    return lo


def range_label(r: KeyRange) -> str:
    return f"[{r.lo or ''!s}..{r.hi or ''!s})"


def range_digest(r: KeyRange) -> str:
    return hashlib.sha256(f"{r.lo!r}\n{r.hi!r}".encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- deletes
@dataclass(frozen=True)
class DeleteCensus:
    """What --delete would do to one target, counted over the whole source."""

    target: str  # the target's URI
    sources: int  # selected source objects
    target_objects: int  # objects under the target prefix
    per_range: tuple[int, ...]  # deletes in each range (same order as the ranges)

    @property
    def deletes(self) -> int:
        return sum(self.per_range)


def delete_census(
    source: CloudStorage,
    source_prefix: str,
    target: CloudStorage,
    target_prefix: str,
    options: ReplicationOptions,
    ranges: Sequence[KeyRange],
) -> DeleteCensus:
    """Count, in one streaming merge of the two listings (both in key order), the target
    keys the source does not have (the engine's `delete_extraneous` set), per range."""
    uri = target.uri(norm_prefix(target_prefix))
    for stream in (True, False):
        try:
            counts = _census(
                _keys_in_order(source, source_prefix, stream),
                _keys_in_order(target, target_prefix, stream),
                options,
                ranges,
            )
        except _OutOfOrder:
            continue
        break
    return DeleteCensus(uri, *counts)


def _census(
    source_keys: Iterator[str],
    target_keys: Iterator[str],
    options: ReplicationOptions,
    ranges: Sequence[KeyRange],
) -> tuple[int, int, tuple[int, ...]]:
    src = (k for k in source_keys if options.selects(k))
    per_range = [0] * len(ranges)
    sources = 0
    target_objects = 0
    pending = next(src, None)
    sources += pending is not None
    for key in target_keys:
        target_objects += 1
        while pending is not None and pending < key:
            pending = next(src, None)
            sources += pending is not None
        if pending == key or not options.selects(key):
            continue
        per_range[range_index(ranges, key)] += 1
    sources += sum(1 for _ in src)  # the source keys after the target's last
    return sources, target_objects, tuple(per_range)


def check_deletes(census: DeleteCensus, source_uri: str, options: ReplicationOptions) -> None:
    """The engine's --delete guards on the whole source's counts: ConfigurationError
    (nothing copied or deleted on that target) when they refuse."""
    deletes, t = census.deletes, census.target
    if not deletes:
        return
    if census.sources == 0 and not options.allow_empty_source:
        raise ConfigurationError(
            f"refusing --delete: the source {source_uri} lists no objects (a mistyped or "
            f"missing prefix?), so all {deletes} objects under {t} would be deleted; "
            "nothing was copied or deleted",
            operation="replicate",
            hint="Check the source; if emptying the target is intended, add --allow-empty-source",
        )
    if options.max_delete is not None:
        if deletes > options.max_delete:
            raise ConfigurationError(
                f"refusing --delete: {deletes} objects under {t} would be deleted, more "
                f"than --max-delete {options.max_delete}; nothing was copied or deleted",
                operation="replicate",
                hint=f"Raise --max-delete to at least {deletes} if that is intended",
            )
        return
    if deletes * 2 > census.target_objects:
        raise ConfigurationError(
            f"refusing --delete: {deletes} of the {census.target_objects} objects under {t} "
            "would be deleted (more than half); nothing was copied or deleted",
            operation="replicate",
            hint=f"If that is intended, allow it with --max-delete {deletes}",
        )


# --------------------------------------------------------------------------- locks
def prepare_journals(rep: Replicator, attempts: int = 40) -> None:
    """Create each pair's journal before shards open it at once: SQLite switches a new
    file to WAL only while no other connection holds it, so shards starting together on a
    fresh journal would fail with 'database is locked' (once in WAL, opening is shared).

    In the segments layout the shards never write the main journal: only the holder of
    the run lock prepares it (`_RunLocks.hold`), a shard here does nothing."""
    opts = rep.options
    if opts.dry_run or not opts.use_journal:
        return
    state = opts.state_dir()
    if resolve_layout(opts.journal_layout, state) == "segments":
        return
    state.mkdir(parents=True, exist_ok=True)
    for t in rep.targets:
        path = journal_path(rep.source_uri, t.uri, state)
        for attempt in range(attempts):
            try:
                Journal(path, rep.source_uri, t.uri).close()
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(min(0.05 * (attempt + 1), 1.0))


class _RunLocks(Replicator):
    """The engine's own per-target lock (same file, same refusal), held for a whole run."""

    merged: list[MergeReport]

    def hold(self) -> None:
        state = self.options.state_dir()
        state.mkdir(parents=True, exist_ok=True)
        for t in self.targets:
            self._lock_target(t, journal_path(self.source_uri, t.uri, state).with_suffix(".lock"))
        layout = resolve_layout(self.options.journal_layout, state)
        for t in self.targets:
            # a crashed sharded run's segments merged before anything newer is written;
            # in segments, the main journal in rollback mode: other hosts only read it
            path = journal_path(self.source_uri, t.uri, state)
            if layout == "segments" or segment_files(path):
                open_for_run(path, self.source_uri, t.uri, layout).close()
        prepare_journals(self)

    def release(self) -> None:
        """Merge the run's segments into each main journal (still holding the lock: the
        one writer), then unlock. A segment that cannot be merged now stays, readable,
        and the next run merges it first."""
        state = self.options.state_dir()
        layout = resolve_layout(self.options.journal_layout, state)
        try:
            for t in self.targets:
                path = journal_path(self.source_uri, t.uri, state)
                if segment_files(path):
                    mode: Literal["delete", "auto"] = "delete" if layout == "segments" else "auto"
                    self.merged.append(merge_segments(path, self.source_uri, t.uri, mode=mode))
        finally:
            self._unlock_all()


@contextlib.contextmanager
def hold_target_locks(
    source: CloudStorage,
    source_prefix: str,
    targets: Sequence[Target],
    options: ReplicationOptions,
    holder: str = "",
) -> Iterator[None]:
    """Hold each target's run lock (the one `specify cloud replicate` takes) for a whole
    sharded run: another run on a target is refused (ConfigurationError naming who holds
    it), the shards of this run are not (they lock only their ranges)."""
    if options.dry_run or not options.use_journal:
        yield
        return
    locks = _RunLocks(source, source_prefix, targets, options)
    locks.merged = []
    if holder:
        locks.run_id = holder
    locks.hold()
    try:
        yield
    finally:
        locks.release()


class ShardReplicator(Replicator):
    """The engine for one key range; locks `journal-*.shard-<range>.lock`, not the target.

    single-host layout: the journal (and its hash cache) stays the pair's one SQLite file,
    shared by all shards (SQLite serialises their writes). segments layout: the shard
    reads the main journal and the segments overlapping its range, and writes its own
    segment (providers.journal). Either way a later run, whichever way it is cut, finds
    every finished object.
    """

    def _lock_target(self, t: object, path: Path) -> None:
        r = self.options.key_range or KeyRange()
        shard = path.with_name(f"{path.stem}.shard-{range_digest(r)}.lock")
        super()._lock_target(t, shard)  # type: ignore[arg-type]

    def _segments(self, path: Path) -> bool:
        return resolve_layout(self.options.journal_layout, path.parent) == "segments"

    def _range(self) -> tuple[str | None, str | None]:
        r = self.options.key_range or KeyRange()
        return r.lo, r.hi

    def _read_journal(self, path: Path, target_uri: str) -> Journal | None:
        if not self._segments(path):
            return super()._read_journal(path, target_uri)
        if not (path.is_file() or segment_files(path)):
            return None
        return SegmentJournal(path, self.source_uri, target_uri, self._range(), read_only=True)

    def _write_journal(self, path: Path, target_uri: str) -> Journal:
        if not self._segments(path):
            # the shards share the one WAL file; the run's lock holder merged leftovers
            return Journal(path, self.source_uri, target_uri)
        return SegmentJournal(path, self.source_uri, target_uri, self._range())


def replicate_shard(
    source: CloudStorage,
    source_prefix: str,
    targets: Sequence[Target],
    options: ReplicationOptions,
    key_range: KeyRange,
    progress: ProgressCallback | None = None,
    *,
    allowed_deletes: int | None = None,
) -> list[TargetReport]:
    """Replicate one range of source_prefix to every target (each object read once).

    Without allowed_deletes, nothing is deleted. With it (one target: a delete pass after
    every shard's copies succeeded), at most that many target keys of the range are deleted,
    the number the whole-source census allowed; more (the source lost objects since) are
    refused for this run.
    """
    opts = replace(options, key_range=key_range)
    if allowed_deletes is None:
        opts = replace(opts, delete_extraneous=False)
    else:
        opts = replace(
            opts, delete_extraneous=True, allow_empty_source=True, max_delete=allowed_deletes
        )
    rep = ShardReplicator(source, source_prefix, targets, opts, progress)
    prepare_journals(rep)
    try:
        return rep.run()
    except ConfigurationError as exc:
        if allowed_deletes is None or "refusing --delete" not in str(exc):
            raise
        raise ConfigurationError(
            f"not deleting in {range_label(key_range)}: the source changed since the deletes "
            f"were checked on the whole source ({allowed_deletes} allowed there); {exc}",
            operation="replicate",
            hint="Run again: the next run checks the deletes on the source as it is then",
        ) from None


def target_uris(
    source: CloudStorage, source_prefix: str, targets: Sequence[Target]
) -> tuple[str, list[str]]:
    """The source's and each target's URI as the engine names them (reports, journals)."""
    rep = Replicator(source, source_prefix, targets)
    return rep.source_uri, [t.uri for t in rep.targets]


def shared_state_dir(options: ReplicationOptions) -> str:
    """The state directory resolved once (journal, hash cache, shard results), so that
    every shard on every worker uses the same one: give a shared mount on several machines."""
    return os.fspath(options.state_dir().expanduser().absolute())
