"""The `replicate` flow: one Prefect task per target, each calling the replication engine.

The work is providers.replication.replicate_prefix; this module adds what Prefect gives:
per-target task runs with retries in the UI, a table artifact and a markdown summary.
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

from providers.replication import ReplicationOptions, replicate_prefix

TABLE_KEY = "replicate-report"
SUMMARY_KEY = "replicate-summary"


class TargetFailed(Exception):
    """A target finished with failures; carries its report so the flow can still show it."""

    def __init__(self, target: str, report: dict[str, Any]) -> None:
        self.target = target
        self.report = report
        super().__init__(f"replication to {target} failed: {_why(report)}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (TargetFailed, (self.target, self.report))


class ReplicationFailed(Exception):
    """The flow's failure: names each failed target; all reports ride along."""

    def __init__(self, failed: list[str], reports: list[dict[str, Any]]) -> None:
        self.failed = failed
        self.reports = reports
        super().__init__("replication failed for: " + ", ".join(failed))

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


def options_from(params: dict[str, Any] | None) -> ReplicationOptions:
    """ReplicationOptions from plain flow parameters (unknown names are refused)."""
    params = dict(params or {})
    known = {f.name for f in fields(ReplicationOptions)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown replication options: {', '.join(unknown)}")
    for name in ("include", "exclude"):
        if name in params:
            params[name] = tuple(params[name] or ())
    return ReplicationOptions(**params)


def _open(location: str) -> tuple[Any, str]:
    from blocks import open_location

    return open_location(location)


def _join(prefix: str, extra: str) -> str:
    extra = extra.strip("/")
    if not extra:
        return prefix
    return f"{prefix.rstrip('/')}/{extra}" if prefix else extra


@task(
    name="replicate-target",
    task_run_name="replicate to {target}",
    retries=2,
    retry_delay_seconds=2,
)
def replicate_target(
    source: str, target: str, prefix: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """Replicate source to one target; raise TargetFailed (so Prefect retries) on failures."""
    src, sprefix = _open(source)
    dst, tprefix = _open(target)
    (report,) = replicate_prefix(
        src, _join(sprefix, prefix), [(dst, _join(tprefix, prefix))], options_from(options)
    )
    data = report.as_dict()
    data["location"] = target
    if not report.ok:
        raise TargetFailed(target, data)
    return data


def _table(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "target": r["location"],
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
        lines.append(
            f"- `{r['location']}`: {mark}: copied {r['copied']}, skipped {r['skipped']}, "
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
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Replicate a source location to each target location; fail only if a target failed."""
    options_from(options)  # refuse bad options before any task starts
    futures = [replicate_target.submit(source, t, prefix, options) for t in targets]
    wait(futures)
    reports: list[dict[str, Any]] = []
    for target, fut in zip(targets, futures, strict=True):
        state = fut.state
        if state.is_completed():
            reports.append(fut.result())
            continue
        exc = state.result(raise_on_failure=False)
        if isinstance(exc, TargetFailed):
            reports.append(exc.report)
        else:
            reports.append(_crashed(target, exc))
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


def _crashed(target: str, exc: object) -> dict[str, Any]:
    return {
        "target": target,
        "location": target,
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
    options: dict[str, Any] | None = None,
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
    return chosen(source=source, targets=targets, prefix=prefix, options=options, return_state=True)
