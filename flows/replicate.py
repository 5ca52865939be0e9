"""The `replicate` flow: one Prefect task per target, each calling the replication engine.

The work is providers.replication.replicate_prefix; this module adds what Prefect gives:
per-target task runs named after the cloud URL they write to (`replicate to
s3://bucket/prefix`, blocks resolved) and tagged with their cloud (`aws`, `gcp`, `azure`,
`local`: task concurrency limits), retries for what may pass next time (never for
credentials, a missing bucket or an unknown block), a progress artifact and steady log
lines per target, a table artifact and a markdown summary, and an event per target
(`specify-cloud.replication.completed` / `.failed`). The run ends Failed, naming each
failed target, when any target failed.

Each task reads the source for its own target (the CLI's direct path reads it once for
all targets); a task retry resumes from the target's journal, so it redoes no finished copy.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import wait
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
from flows.progress import TargetProgress
from providers.replication import ReplicationOptions, replicate_prefix

TABLE_KEY = "replicate-report"
SUMMARY_KEY = "replicate-summary"
PROGRESS_KEY = "replicate-progress"


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


def options_from(params: ReplicationOptionsModel | dict[str, Any] | None) -> ReplicationOptions:
    """ReplicationOptions from the flow's options (a model, or plain names and values;
    unknown names are refused)."""
    if isinstance(params, ReplicationOptionsModel):
        return params.to_engine()
    params = dict(params or {})
    known = {f.name for f in fields(ReplicationOptions)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown replication options: {', '.join(unknown)}")
    for name in ("include", "exclude"):
        if name in params:
            params[name] = tuple(params[name] or ())
    return ReplicationOptions(**params)


def _check_reachable(storage: Any, prefix: str, target: str, url: str) -> None:
    """Read one listing page first: bad credentials or a missing bucket fail here, typed,
    so Prefect does not retry them (the engine reports a target's listing error as text)."""
    try:
        next(iter(storage.list_objects(prefix)), None)
    except Exception as exc:
        if permanent(exc):
            report = _crashed(target, exc, url)
            report["error"] = f"listing failed: {exc}"
            raise TargetFailed(target, report, permanent=True) from exc
        # transient: the engine lists again and reports it


@task(
    name="replicate-target",
    task_run_name="replicate to {target}",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_unless_permanent,
)
def replicate_target(
    source: str,
    target: str,
    prefix: str,
    options: dict[str, Any] | None,
    url: str | None = None,
) -> dict[str, Any]:
    """Replicate source to one target; raise TargetFailed (so Prefect retries) on failures.

    Args:
        source: the source location (URL, path or block:NAME/prefix).
        target: the target location as given.
        prefix: a sub-prefix under both.
        options: ReplicationOptions fields.
        url: the cloud URL the target stands for (for progress and reports).
    """
    src, sprefix = open_location(source)
    dst, tprefix = open_location(target)
    full = join_prefix(tprefix, prefix)
    label = url or dst.uri(full)
    with TargetProgress(
        label, key=short_key(PROGRESS_KEY, label), description=f"replication to {label}"
    ) as progress:
        _check_reachable(dst, full, target, label)
        (report,) = replicate_prefix(
            src, join_prefix(sprefix, prefix), [(dst, full)], options_from(options), progress
        )
    data = report.as_dict()
    data["location"] = target
    data["url"] = label
    if not report.ok:
        # a target whose every failure is permanent is not retried by Prefect either
        raise TargetFailed(target, data, permanent=not report.retryable)
    return data


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
        }
        for r in reports
    ]


def _summary(source: str, reports: list[dict[str, Any]]) -> str:
    ok = [r for r in reports if r["ok"]]
    lines = [
        f"# Replication from `{source}`",
        "",
        f"{len(ok)} of {len(reports)} targets succeeded; "
        f"{sum(r['copied'] for r in reports)} objects "
        f"({sum(r['bytes_copied'] for r in reports):,} bytes) copied.",
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


@flow(
    name="replicate",
    task_runner=ThreadPoolTaskRunner(max_workers=8),  # type: ignore[arg-type]
    log_prints=True,
)
def replicate(
    source: str,
    targets: list[str],
    prefix: str = "",
    options: ReplicationOptionsModel | None = None,
) -> list[dict[str, Any]]:
    """Replicate a source location to each target location; fails if any target failed.

    Locations are s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a local
    path, or block:NAME/prefix for a saved block.

    Args:
        source: Where to copy from, e.g. block:specify-local/outbox or s3://bucket/data.
        targets: Where to copy to, one task each, e.g. gs://bucket/data or block:my-s3/data.
        prefix: Only keys under this sub-prefix of the source (written under the same
            sub-prefix of each target); empty: everything.
        options: Which keys, how many at once, deletes, bandwidth, resume journal.
    """
    options_from(options)  # refuse bad options before any task starts
    plain = options.model_dump() if options is not None else None
    urls = [describe(t, prefix) for t in targets]
    futures = [
        replicate_target.with_options(
            task_run_name=f"replicate to {url}", tags=cloud_tags(url)
        ).submit(source, t, prefix, plain, url)
        for t, url in zip(targets, urls, strict=True)
    ]
    wait(futures)
    reports: list[dict[str, Any]] = []
    for target, url, fut in zip(targets, urls, futures, strict=True):
        state = fut.state
        if state.is_completed():
            reports.append(fut.result())
            continue
        exc = state.result(raise_on_failure=False)
        if isinstance(exc, TargetFailed):
            reports.append(exc.report)
        else:
            reports.append(_crashed(target, exc, url))
    source_url = describe(source, prefix)
    for report in reports:
        events.replication_finished(source_url, report, cloud_of(report.get("url") or ""))
    create_table_artifact(
        key=TABLE_KEY, table=_table(reports), description="copied/skipped/failed per target"
    )
    create_markdown_artifact(
        key=SUMMARY_KEY, markdown=_summary(source, reports), description="replication summary"
    )
    failed = [r["location"] for r in reports if not r["ok"]]
    if failed:
        raise ReplicationFailed(failed, reports)
    return reports


def _crashed(target: str, exc: object, url: str | None = None) -> dict[str, Any]:
    return {
        "target": target,
        "location": target,
        "url": url or target,
        "ok": False,
        "copied": 0,
        "skipped": 0,
        "failed": 0,
        "deleted": 0,
        "bytes_copied": 0,
        "to_copy": 0,
        "to_delete": 0,
        "dry_run": False,
        "errors": {},
        "error": f"{type(exc).__name__}: {exc}",
        "journal": None,
        "duration_s": 0.0,
    }


def run_replicate(
    source: str,
    targets: list[str],
    prefix: str = "",
    options: ReplicationOptionsModel | dict[str, Any] | None = None,
    task_runner: str = "thread",
    dask_address: str | None = None,
) -> Any:
    """Run the flow with the chosen task runner: "thread" (default) or "dask" (prefect-dask).

    With "dask", tasks run on the Dask cluster at dask_address (e.g. tcp://scheduler:8786),
    or on a temporary local cluster when none is given.
    """
    if task_runner == "thread":
        chosen = replicate
    elif task_runner == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:  # the optional extra
            raise RuntimeError(
                "task_runner='dask' needs prefect-dask: pip install 'specify-cloud[dask]'"
            ) from exc
        runner = DaskTaskRunner(address=dask_address) if dask_address else DaskTaskRunner()
        chosen = replicate.with_options(task_runner=runner)  # type: ignore[arg-type]
    else:
        raise ValueError(f"task_runner must be 'thread' or 'dask', not {task_runner!r}")
    if isinstance(options, dict):
        options_from(options)  # unknown names: the clear message, not pydantic's
    return chosen(
        source=source,
        targets=targets,
        prefix=prefix,
        options=options,  # type: ignore[arg-type]
        return_state=True,
    )
