"""The `replicate` flow: the source split into shards, each shard one Prefect task that
replicates its key range to every target, results gathered per target.

The work is providers.replication (the engine) and providers.shards (the cut and the
guards); this module adds what Prefect gives. A run is:

1. the flow takes each target's run lock (the one `specify cloud replicate` takes), once
   per run and target, so another run on the same target is refused, not the shards;
2. `plan shards` (one task) lists the source page by page and cuts it into contiguous key
   ranges of about `objects_per_shard` objects, reads one listing page of each target
   (bad credentials or a missing bucket fail that target here, for good: no retry), and,
   with `delete_extraneous`, counts the deletes on the WHOLE source and applies the
   guards (empty source, `max_delete`, more than half) to those counts;
3. one `shard i/n` task per range: each changed object in the range is read once and
   written to every target, verified, and recorded in the pair's journal. A shard with a
   transient failure is retried by Prefect; the retry skips what the journal says is done.
   Shards run on the flow's task runner: threads, or Dask workers (`run_replicate`);
4. deletes only after every shard's copies to a target succeeded (`delete ... on URL`
   tasks, one per range that has any), never more than the whole-source count allowed;
5. `replicate to URL` per target (named after the cloud URL, tagged with its cloud): the
   target's totals, Completed or Failed. A progress artifact per target counts its
   shards; a table artifact, a markdown summary and an event per target
   (`specify-cloud.replication.completed` / `.failed`) close the run, which ends Failed,
   naming each failed target, when any target failed.

State a later run or another worker needs (the journal with its hash cache, and the shard
results) lives in one state directory resolved by the flow and handed to every task: on
several machines, make it a shared mount (options.journal_dir or SPECIFY_STATE_DIR). The
journal layout is resolved once too: segments (a file per shard attempt, merged by this
flow's process) when workers on other machines write it, providers.journal says why.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows import events
from flows.common import (
    cloud_of,
    cloud_tags,
    describe,
    join_prefix,
    open_location,
    permanent,
    retry_unless_permanent,
    short_key,
)
from flows.params import ReplicationOptionsModel
from flows.progress import ShardedProgress, TargetProgress
from providers.errors import ConfigurationError
from providers.journal import resolve_layout
from providers.replication import KeyRange, ProgressEvent, ReplicationOptions
from providers.shards import (
    DEFAULT_OBJECTS_PER_SHARD,
    check_deletes,
    delete_census,
    hold_target_locks,
    range_label,
    replicate_shard,
    shared_state_dir,
    split_key_ranges,
    target_uris,
)

TABLE_KEY = "replicate-report"
SUMMARY_KEY = "replicate-summary"
PROGRESS_KEY = "replicate-progress"
#: per-key detail (errors, evidence) kept in the flow's reports; counts stay exact
DETAIL_LIMIT = 1000


class TargetFailed(Exception):
    """A target finished with failures; carries its report so the flow can still show it."""

    def __init__(self, target: str, report: dict[str, Any], permanent: bool = False) -> None:
        self.target = target
        self.report = report
        #: no retry can fix it (read by flows.common.permanent)
        self.permanent = permanent
        super().__init__(f"replication to {target} failed: {_why(report)}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (TargetFailed, (self.target, self.report, self.permanent))


class ShardFailed(Exception):
    """A shard finished with failures on some target; carries every target's report."""

    def __init__(self, label: str, reports: list[dict[str, Any]], permanent: bool) -> None:
        self.label = label
        self.reports = reports
        self.permanent = permanent
        bad = [r for r in reports if not r["ok"]]
        super().__init__(
            f"shard {label} failed for {len(bad)} of {len(reports)} targets: "
            + "; ".join(f"{r['url']}: {_why(r)}" for r in bad)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (ShardFailed, (self.label, self.reports, self.permanent))


class ReplicationFailed(Exception):
    """The flow's failure: names each failed target and why; all reports ride along."""

    def __init__(self, failed: list[str], reports: list[dict[str, Any]]) -> None:
        self.failed = failed
        self.reports = reports
        by_location = {r["location"]: r for r in reports}
        parts = []
        for name in failed:
            r = by_location.get(name, {})
            where = f" ({r['url']})" if r.get("url") and r["url"] != name else ""
            parts.append(f"{name}{where}: {_why(r)}" if r else name)
        super().__init__(
            f"replication failed for {len(failed)} of {len(reports)} targets: " + "; ".join(parts)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReplicationFailed, (self.failed, self.reports))


def _why(report: dict[str, Any]) -> str:
    if report.get("error"):
        return str(report["error"])
    errors = report.get("errors") or {}
    first = next(iter(errors.items()), None)
    return f"{report.get('failed', 0)} objects failed" + (
        f" (first: {first[0]!r}: {first[1]})" if first else ""
    )


#: set by the flow per shard, never by the caller
_INTERNAL = {"key_range"}


def options_from(params: ReplicationOptionsModel | dict[str, Any] | None) -> ReplicationOptions:
    """ReplicationOptions from the flow's options (a model, or plain names and values;
    unknown names are refused)."""
    if isinstance(params, ReplicationOptionsModel):
        return params.to_engine()
    params = dict(params or {})
    if params.get("key_range") is None:
        params.pop("key_range", None)
    known = {f.name for f in fields(ReplicationOptions)} - _INTERNAL
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown replication options: {', '.join(unknown)}")
    for name in ("include", "exclude"):
        if name in params:
            params[name] = tuple(params[name] or ())
    return ReplicationOptions(**params)


def _blank(target: str, url: str) -> dict[str, Any]:
    return {
        "target": url,
        "location": target,
        "url": url,
        "ok": True,
        "copied": 0,
        "skipped": 0,
        "failed": 0,
        "deleted": 0,
        "bytes_copied": 0,
        "to_copy": 0,
        "to_delete": 0,
        "dry_run": False,
        "errors": {},
        "error": None,
        "journal": None,
        "duration_s": 0.0,
        "verified_by": {},
        "shards": 0,
    }


def _crashed(target: str, exc: object, url: str | None = None) -> dict[str, Any]:
    report = _blank(target, url or target)
    report["target"] = target
    report["ok"] = False
    report["error"] = f"{type(exc).__name__}: {exc}"
    return report


# --------------------------------------------------------------------------- tasks
def _check_reachable(storage: Any, prefix: str) -> str | None:
    """Read one listing page first: bad credentials or a missing bucket fail here, typed
    and for good (the engine would report a target's listing error as text, per shard)."""
    try:
        next(iter(storage.list_objects(prefix)), None)
    except Exception as exc:
        if permanent(exc):
            return f"listing failed: {exc}"
        # transient: the shards list again and report it
    return None


@task(
    name="plan-shards",
    task_run_name="plan shards",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_unless_permanent,
)
def plan_shards(
    source: str,
    targets: list[str],
    prefix: str,
    options: dict[str, Any],
    objects_per_shard: int,
) -> dict[str, Any]:
    """Cut the source into key ranges; check each target; decide deletes on the whole source.

    Returns {"ranges": [[lo, hi], ...], "targets": [{"error", "per_range"}, ...]}: one
    entry per target in order; an error there is permanent (the target is left out).
    """
    opts = options_from(options)
    src, sprefix = open_location(source)
    full_source = join_prefix(sprefix, prefix)
    ranges = split_key_ranges(src, full_source, objects_per_shard)
    checked: list[dict[str, Any]] = []
    for target in targets:
        entry: dict[str, Any] = {"error": None, "per_range": None}
        checked.append(entry)
        try:
            dst, tprefix = open_location(target)
        except Exception as exc:
            if not permanent(exc):
                raise
            entry["error"] = f"{type(exc).__name__}: {exc}"
            continue
        full = join_prefix(tprefix, prefix)
        entry["error"] = _check_reachable(dst, full)
        if entry["error"] or not opts.delete_extraneous:
            continue
        census = delete_census(src, full_source, dst, full, opts, ranges)
        source_uri, _ = target_uris(src, full_source, [])
        try:
            check_deletes(census, source_uri, opts)
        except ConfigurationError as exc:
            entry["error"] = str(exc)
            continue
        entry["per_range"] = list(census.per_range)
    return {"ranges": [[r.lo, r.hi] for r in ranges], "targets": checked}


def _dispatch(
    progress: dict[str, TargetProgress],
) -> Any:
    def on_event(event: ProgressEvent) -> None:
        p = progress.get(event.target)
        if p is not None:
            p(event)

    return on_event


@task(
    name="replicate-shard",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_unless_permanent,
)
def replicate_shard_task(
    source: str,
    targets: list[str],
    prefix: str,
    options: dict[str, Any],
    lo: str | None,
    hi: str | None,
    urls: list[str],
    label: str,
    allowed_deletes: int | None = None,
) -> list[dict[str, Any]]:
    """Replicate the keys in [lo, hi) to every target; one report per target.

    Raises ShardFailed (so Prefect retries it, resuming from the journals) when a target
    failed; permanently when no failure may pass on a retry.
    """
    opts = options_from(options)
    src, sprefix = open_location(source)
    opened = []
    for target in targets:
        dst, tprefix = open_location(target)
        opened.append((dst, join_prefix(tprefix, prefix)))
    full_source = join_prefix(sprefix, prefix)
    _, uris = target_uris(src, full_source, opened)
    progress = {
        uri: TargetProgress(
            f"{url} (shard {label})", key=short_key(PROGRESS_KEY, url), artifact=False
        )
        for uri, url in zip(uris, urls, strict=True)
    }
    with contextlib.ExitStack() as stack:
        for p in progress.values():
            stack.enter_context(p)
        found = replicate_shard(
            src,
            full_source,
            opened,
            opts,
            KeyRange(lo, hi),
            _dispatch(progress),
            allowed_deletes=allowed_deletes,
        )
    reports: list[dict[str, Any]] = []
    for target, url, report in zip(targets, urls, found, strict=True):
        data = report.as_dict()
        data["location"] = target
        data["url"] = url
        data["retryable"] = report.retryable
        reports.append(data)
    if not all(r["ok"] for r in reports):
        raise ShardFailed(label, reports, permanent=not any(r["retryable"] for r in reports))
    return reports


@task(name="replicate-target", task_run_name="replicate to {url}")
def finish_target(target: str, url: str, report: dict[str, Any], permanent: bool) -> dict[str, Any]:
    """The target's totals over every shard: Completed, or Failed naming why."""
    if not report["ok"]:
        raise TargetFailed(target, report, permanent=permanent)
    return report


# --------------------------------------------------------------------------- merging
def merge_into(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Add one shard's report for a target into the target's running total."""
    total["shards"] += 1
    for name in ("copied", "skipped", "failed", "deleted", "bytes_copied", "to_copy"):
        total[name] += int(part.get(name, 0))
    total["dry_run"] = total["dry_run"] or bool(part.get("dry_run"))
    total["journal"] = total["journal"] or part.get("journal")
    for name in ("errors", "verified_by"):
        room = DETAIL_LIMIT - len(total[name])
        if room > 0:
            total[name].update(list((part.get(name) or {}).items())[:room])
    if part.get("error"):
        total["error"] = _join_error(total["error"], str(part["error"]))
    total["ok"] = total["failed"] == 0 and total["error"] is None


def _join_error(old: str | None, new: str) -> str:
    if not old:
        return new
    if new in old:
        return old
    return f"{old}; {new}"


def _table(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "target": r["location"],
            "url": r.get("url") or r["location"],
            "status": "ok" if r["ok"] else "failed",
            "copied": r["copied"],
            "skipped": r["skipped"],
            "failed": r["failed"],
            "deleted": r["deleted"],
            "bytes_copied": r["bytes_copied"],
            "shards": r.get("shards", 0),
        }
        for r in reports
    ]


def _summary(source: str, reports: list[dict[str, Any]], shards: int) -> str:
    ok = [r for r in reports if r["ok"]]
    lines = [
        f"# Replication from `{source}`",
        "",
        f"{len(ok)} of {len(reports)} targets succeeded; "
        f"{sum(r['copied'] for r in reports)} objects "
        f"({sum(r['bytes_copied'] for r in reports):,} bytes) copied; "
        f"the source was read once, in {shards} shards.",
        "",
    ]
    for r in reports:
        mark = "ok" if r["ok"] else "**failed**"
        url = r.get("url") or r["location"]
        where = f" (`{url}`)" if url != r["location"] else ""
        lines.append(
            f"- `{r['location']}`{where}: {mark}: copied {r['copied']}, skipped {r['skipped']}, "
            f"failed {r['failed']}, deleted {r['deleted']}"
        )
        if not r["ok"]:
            lines.append(f"  - {_why(r)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the flow
def _cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """A shard's result is reused within its flow run only (a rerun of a finished shard
    on another worker, a flow retry), never by a later run, which must look again."""
    import hashlib
    import json

    run = getattr(getattr(context, "task_run", None), "flow_run_id", None) or "no-run"
    text = json.dumps(parameters, sort_keys=True, default=str)
    return f"specify-shard-{run}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def _shared_results(state_dir: str) -> dict[str, Any]:
    """Task options that keep shard results in the shared state directory (as JSON), so
    that whichever worker or process asks finds them, also after the worker that computed
    one is gone (Dask would otherwise compute it again)."""
    import hashlib

    from prefect.filesystems import LocalFileSystem

    # a result storage must be a saved block: one per state directory
    basepath = str(Path(state_dir) / "results")
    name = "specify-shard-results-" + hashlib.sha256(basepath.encode()).hexdigest()[:12]
    storage = LocalFileSystem(basepath=basepath)
    storage.save(name, overwrite=True)
    return {
        "persist_result": True,
        "result_storage": storage,
        "result_serializer": "json",
        "cache_key_fn": _cache_key,
    }


def _shard_reports(fut: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    """A finished shard's per-target reports, or (None, why) when it crashed."""
    fut.wait()  # the done callback may run before the final state is kept
    state = fut.state
    if state.is_completed():
        return fut.result(), None
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, ShardFailed):
        return exc.reports, None
    return None, f"{type(exc).__name__}: {exc}"


@flow(
    name="replicate",
    task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
    log_prints=True,
)
def replicate(
    source: str,
    targets: list[str],
    prefix: str = "",
    options: ReplicationOptionsModel | None = None,
    objects_per_shard: int = DEFAULT_OBJECTS_PER_SHARD,
) -> list[dict[str, Any]]:
    """Replicate a source location to each target location; fails if any target failed.

    Locations are s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a local
    path, or block:NAME/prefix for a saved block.

    Args:
        source: Where to copy from, e.g. block:specify-local/outbox or s3://bucket/data.
        targets: Where to copy to, e.g. gs://bucket/data or block:my-s3/data; the source is
            read once for all of them.
        prefix: Only keys under this sub-prefix of the source (written under the same
            sub-prefix of each target); empty: everything.
        options: Which keys, how many at once, deletes, bandwidth, resume journal.
        objects_per_shard: About how many source objects each shard task replicates (to
            every target); shards run in parallel on the task runner's workers.
    """
    engine = options_from(options)  # refuse bad options before any task starts
    if objects_per_shard < 1:
        raise ValueError(f"objects_per_shard={objects_per_shard} must be at least 1")
    plain: dict[str, Any] = options.model_dump() if options is not None else {}
    # one state directory for every shard on every worker (journal, hash cache), and one
    # journal layout: segments when workers on other hosts write it (providers.journal)
    plain["journal_dir"] = shared_state_dir(engine)
    plain["journal_layout"] = resolve_layout(
        engine.journal_layout, Path(plain["journal_dir"]), remote_workers=_remote_workers()
    )
    engine = options_from(plain)
    started = time.monotonic()
    shared = _shared_results(plain["journal_dir"])
    urls = [describe(t, prefix) for t in targets]
    reports = [_blank(t, u) for t, u in zip(targets, urls, strict=True)]
    permanent_error = [False] * len(targets)

    def fail(i: int, message: str, for_good: bool = True) -> None:
        reports[i]["error"] = _join_error(reports[i]["error"], message)
        reports[i]["ok"] = False
        permanent_error[i] = permanent_error[i] or for_good

    with contextlib.ExitStack() as locks:
        # 1. the run lock of each target, once for the run (the shards lock their ranges)
        try:
            src, sprefix = open_location(source)
        except Exception as exc:
            src = None
            for i in range(len(targets)):
                fail(i, f"the source cannot be opened: {type(exc).__name__}: {exc}")
        if src is not None:
            seen: dict[str, str] = {}
            for i, target in enumerate(targets):
                try:
                    dst, tprefix = open_location(target)
                    # a target inside (or around) the source is refused here, for it alone
                    _, (uri,) = target_uris(
                        src, join_prefix(sprefix, prefix), [(dst, join_prefix(tprefix, prefix))]
                    )
                    if uri in seen:
                        fail(i, f"target {uri} is given twice (also as {seen[uri]}); list it once")
                        continue
                    seen[uri] = target
                    locks.enter_context(
                        hold_target_locks(
                            src,
                            join_prefix(sprefix, prefix),
                            [(dst, join_prefix(tprefix, prefix))],
                            engine,
                        )
                    )
                except Exception as exc:
                    fail(i, f"{type(exc).__name__}: {exc}", permanent(exc))

        # 2. the cut, the target checks and the whole-source delete decision
        ranges: list[KeyRange] = []
        per_range: list[list[int] | None] = [None] * len(targets)
        live = [i for i in range(len(targets)) if reports[i]["ok"]]
        if live:
            planned = plan_shards.with_options(**shared).submit(
                source, [targets[i] for i in live], prefix, plain, objects_per_shard
            )
            planned.wait()
            if planned.state.is_completed():
                plan = planned.result()
                ranges = [KeyRange(lo, hi) for lo, hi in plan["ranges"]]
                for i, entry in zip(live, plan["targets"], strict=True):
                    if entry["error"]:
                        fail(i, entry["error"])
                    per_range[i] = entry["per_range"]
            else:
                why = planned.state.result(raise_on_failure=False)
                for i in live:
                    fail(i, f"planning shards failed: {type(why).__name__}: {why}", permanent(why))
        live = [i for i in live if reports[i]["ok"]]
        progress = {
            i: ShardedProgress(
                urls[i], key=short_key(PROGRESS_KEY, urls[i]), shards=len(ranges)
            ).start()
            for i in range(len(targets))
        }

        # 3. the shards: each range to every live target, read once
        n = len(ranges)
        tags = sorted({tag for i in live for tag in cloud_tags(urls[i])})
        labels: dict[Any, str] = {}
        futures = []
        if live:
            for k, r in enumerate(ranges):
                label = f"{k + 1}/{n} {range_label(r)}"
                fut = replicate_shard_task.with_options(
                    task_run_name=f"shard {label}", tags=tags, **shared
                ).submit(
                    source,
                    [targets[i] for i in live],
                    prefix,
                    plain,
                    r.lo,
                    r.hi,
                    [urls[i] for i in live],
                    label,
                )
                futures.append(fut)
                labels[fut.task_run_id] = label
        for fut in as_completed(futures):
            parts, crash = _shard_reports(fut)
            for j, i in enumerate(live):
                if parts is None:
                    fail(i, f"shard {labels[fut.task_run_id]}: {crash}", for_good=False)
                    progress[i].done_shards += 1
                    continue
                merge_into(reports[i], parts[j])
                progress[i].shard_done(parts[j])

        # 4. deletes: decided on the whole source, run once every copy succeeded
        if engine.delete_extraneous:
            deletes = []
            for i in live:
                counts = per_range[i] or []
                wanted = sum(counts)
                reports[i]["to_delete"] = wanted
                if engine.dry_run or not wanted:
                    continue
                if not reports[i]["ok"]:
                    fail(
                        i,
                        f"not deleting {wanted} objects: {reports[i]['failed']} copies failed",
                        for_good=False,
                    )
                    continue
                for k, r in enumerate(ranges):
                    if counts[k]:
                        label = f"{k + 1}/{n} {range_label(r)}"
                        fut = replicate_shard_task.with_options(
                            task_run_name=f"delete {label} on {urls[i]}",
                            tags=cloud_tags(urls[i]),
                            **shared,
                        ).submit(
                            source, [targets[i]], prefix, plain, r.lo, r.hi, [urls[i]], label,
                            allowed_deletes=counts[k],
                        )  # fmt: skip
                        deletes.append((i, fut))
            for i, fut in deletes:
                parts, crash = _shard_reports(fut)
                if parts is None:
                    fail(i, f"deleting failed: {crash}", for_good=False)
                    continue
                (part,) = parts
                part = dict(part, to_copy=0, to_delete=0)
                before = reports[i]["shards"]
                merge_into(reports[i], part)
                reports[i]["shards"] = before

    # 5. per target: its task, its progress at 100 %, its event
    elapsed = round(time.monotonic() - started, 3)
    finals: list[Any] = []
    for i, target in enumerate(targets):
        reports[i]["duration_s"] = elapsed
        reports[i]["dry_run"] = engine.dry_run
        if reports[i]["ok"]:
            progress[i].finish(True)
        finals.append(
            finish_target.with_options(
                task_run_name=f"replicate to {urls[i]}", tags=cloud_tags(urls[i])
            ).submit(target, urls[i], reports[i], permanent_error[i])
        )
    for fut in finals:
        fut.wait()
    source_url = describe(source, prefix)
    for report in reports:
        events.replication_finished(source_url, report, cloud_of(report.get("url") or ""))
    create_table_artifact(
        key=TABLE_KEY, table=_table(reports), description="copied/skipped/failed per target"
    )
    create_markdown_artifact(
        key=SUMMARY_KEY,
        markdown=_summary(source, reports, len(ranges)),
        description="replication summary",
    )
    _forget_results(plain["journal_dir"])
    failed = [r["location"] for r in reports if not r["ok"]]
    if failed:
        raise ReplicationFailed(failed, reports)
    return reports


def _forget_results(state_dir: str) -> None:
    """The run's shard results served their purpose: no later run may reuse them."""
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    for path in (Path(state_dir) / "results").glob(f"specify-shard-{flow_run.id}-*"):
        with contextlib.suppress(OSError):
            path.unlink()


def _remote_workers() -> bool:
    """Whether this flow's tasks may run on other machines (see dask_runner_remote)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return dask_runner_remote(getattr(ctx, "task_runner", None))


def dask_runner_remote(runner: Any) -> bool:
    """Whether a task runner's workers may be on other hosts: a DaskTaskRunner connected
    to a scheduler address that is not loopback, given a cluster whose scheduler is
    elsewhere, or starting a cluster of a class other than LocalCluster (an SSH, Kubernetes
    or cloud cluster). Any other runner runs its tasks in this process."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:  # without prefect-dask there is no Dask runner to ask about
        return False
    if not isinstance(runner, DaskTaskRunner):
        return False
    if runner.address:
        return _remote(str(runner.address))
    from distributed import LocalCluster

    cluster = getattr(runner, "_cluster", None)  # a cluster object the user passed
    if cluster is not None:
        # a LocalCluster is this host whatever address it listens on (an in-process one
        # answers at inproc://<this host's address>)
        return not isinstance(cluster, LocalCluster) and _remote(
            str(getattr(cluster, "scheduler_address", "") or "")
        )
    cls = runner.cluster_class
    if cls is None:
        return False  # prefect-dask starts a LocalCluster
    if isinstance(cls, str):
        return not cls.endswith("LocalCluster")
    return not (isinstance(cls, type) and issubclass(cls, LocalCluster))


def _remote(address: str) -> bool:
    """Whether a scheduler address may be another host (any non-loopback one may)."""
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme == "inproc":
        return False  # this very process
    return (url.hostname or "") not in {"127.0.0.1", "localhost", "::1", ""}


def run_replicate(
    source: str,
    targets: list[str],
    prefix: str = "",
    options: ReplicationOptionsModel | dict[str, Any] | None = None,
    task_runner: str = "thread",
    dask_address: str | None = None,
    objects_per_shard: int = DEFAULT_OBJECTS_PER_SHARD,
) -> Any:
    """Run the flow with the chosen task runner: "thread" (default) or "dask" (prefect-dask).

    With "dask", the shards run on the Dask cluster at dask_address (e.g.
    tcp://scheduler:8786), or on a temporary local cluster when none is given. A cluster
    on other machines needs a state directory they all reach: options.journal_dir (or
    SPECIFY_STATE_DIR) on a shared mount.
    """
    if isinstance(options, dict):
        engine = options_from(options)  # unknown names: the clear message, not pydantic's
        options = {k: v for k, v in options.items() if k not in _INTERNAL}
    else:
        engine = options_from(options)
    if task_runner == "thread":
        chosen = replicate
    elif task_runner == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:  # the optional extra
            raise RuntimeError(
                "task_runner='dask' needs prefect-dask: pip install 'specify-cloud[dask]'"
            ) from exc
        import os

        if (
            dask_address
            and _remote(dask_address)
            and not (engine.journal_dir or os.environ.get("SPECIFY_STATE_DIR"))
        ):
            raise ValueError(
                f"the Dask cluster at {dask_address} needs a state directory every worker "
                "reaches: set options.journal_dir (or SPECIFY_STATE_DIR) to a shared mount"
            )
        runner = DaskTaskRunner(address=dask_address) if dask_address else DaskTaskRunner()
        chosen = replicate.with_options(task_runner=runner)  # type: ignore[arg-type]
    else:
        raise ValueError(f"task_runner must be 'thread' or 'dask', not {task_runner!r}")
    return chosen(
        source=source,
        targets=targets,
        prefix=prefix,
        options=options,  # type: ignore[arg-type]
        objects_per_shard=objects_per_shard,
        return_state=True,
    )
