"""Prefect flows `deploy` and `destroy`: one task per target over providers.deployer.

The work is the engine's (MultiCloudDeployer.deploy_target / destroy_target); the flows add
per-target task runs (named `deploy aws:us-east-1`, tagged with the cloud for concurrency
limits), a progress artifact per target and a steady log line while a target is being
deployed, artifacts keyed by deployment id (`deploy-<id>`, `deploy-<id>-<provider>-<region>`,
`destroy-<id>`) holding the per-target results, and an event per run
(`specify-cloud.deploy.completed` / `.failed`, `specify-cloud.destroy.completed` / `.failed`).

A run ends Failed, naming each failed target, when any target failed: a best-effort deploy
keeps what succeeded (and says so), all-or-nothing rolls everything back first.

Where a deployment went is recorded in the Prefect variable `specify-deployment-<id>`
(flows.state), so `destroy` on any worker goes to exactly that deployment's targets; what
it removes there is found by the deployment-id tag.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from pydantic import Field

from flows import events
from flows.common import artifact_key, cloud_tags
from flows.params import DeployTargetModel, Strategy, target_texts
from flows.progress import ProgressSettings, _Ticker, create_progress, update_progress
from flows.state import SharedRecordStore
from providers.artifact import PreparedArtifact
from providers.base import DeploymentResult
from providers.deployer import (
    DeploymentReport,
    DeployTarget,
    MultiCloudDeployer,
    new_deployment_id,
)

__all__ = ["DeployFailed", "DestroyFailed", "artifact_key", "deploy", "destroy"]


class DeployFailed(Exception):
    """The deploy flow's failure: names each failed target; the report rides along."""

    def __init__(self, report: DeploymentReport) -> None:
        self.report = report
        failed = [r for r in report.results if not r.ok]
        kept = [f"{r.provider}:{r.region}" for r in report.results if r.ok]
        text = "; ".join(f"{r.provider}:{r.region}: {r.error or r.state}" for r in failed)
        tail = f" (still running: {', '.join(kept)})" if kept else ""
        if report.strategy == "all-or-nothing" and any(
            r.state == "rolled_back" for r in report.results
        ):
            tail = " (all-or-nothing: the others were rolled back)"
        super().__init__(
            f"deployment {report.deployment_id} failed on {len(failed)} of "
            f"{len(report.results)} targets: {text}{tail}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (DeployFailed, (self.report,))


class DestroyFailed(Exception):
    """The destroy flow's failure: names each target that could not be cleaned up."""

    def __init__(self, deployment_id: str, results: list[DeploymentResult]) -> None:
        self.deployment_id = deployment_id
        self.results = results
        failed = [r for r in results if r.error]
        super().__init__(
            f"destroy {deployment_id} failed on {len(failed)} of {len(results)} targets: "
            + "; ".join(f"{r.provider}:{r.region or 'default'}: {r.error}" for r in failed)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (DestroyFailed, (self.deployment_id, self.results))


def _rows(results: Sequence[DeploymentResult]) -> list[dict[str, object]]:
    return [
        {
            "provider": r.provider,
            "region": r.region,
            "state": r.state,
            "instance_id": r.instance_id or "",
            "address": r.address or "",
            "hourly_price": str(r.hourly_price) if r.hourly_price is not None else "",
            "duration_s": round(r.duration_s, 3),
            "error": r.error or "",
        }
        for r in results
    ]


def _markdown(r: DeploymentResult) -> str:
    lines = [f"### {r.provider}:{r.region} — {r.state}", ""]
    for name, value in _rows([r])[0].items():
        lines.append(f"- **{name}**: {value if value != '' else '-'}")
    return "\n".join(lines)


@task(task_run_name="deploy {target.provider}:{target.region}", cache_policy=NO_CACHE)
def deploy_target(
    deployer: MultiCloudDeployer,
    prepared: PreparedArtifact,
    target: DeployTarget,
    deployment_id: str,
    port: int | None,
    timeout: float,
) -> DeploymentResult:
    """Deploy to one target: its progress artifact, a log line while waiting, its result."""
    logger = get_run_logger()
    where = f"{target.provider}:{target.region}"
    progress = create_progress(
        artifact_key("deploy", deployment_id, target.provider, target.region, "progress"),
        f"deploy {deployment_id} to {where}",
    )
    started = time.monotonic()

    def tick() -> None:
        logger.info(
            "deploying %s to %s: %.0f s of at most %.0f s",
            deployment_id,
            where,
            time.monotonic() - started,
            timeout,
        )

    ticker = _Ticker(tick, ProgressSettings.from_env().interval)
    ticker.start()
    try:
        result = deployer.deploy_target(
            prepared, target, deployment_id=deployment_id, port=port, timeout=timeout
        )
    finally:
        ticker.stop()
    update_progress(progress, 100.0)
    logger.info(
        "%s: %s in %.1f s%s",
        where,
        result.state,
        result.duration_s,
        f" at {result.address}" if result.address else f": {result.error or '-'}",
    )
    create_markdown_artifact(
        key=artifact_key("deploy", deployment_id, target.provider, target.region),
        markdown=_markdown(result),
        description=f"deploy {deployment_id} to {target}",
    )
    return result


@task(task_run_name="destroy {target.provider}:{target.region}", cache_policy=NO_CACHE)
def destroy_target(
    deployer: MultiCloudDeployer, target: DeployTarget, deployment_id: str
) -> DeploymentResult:
    """Remove what the deployment made on one target."""
    return deployer.destroy_target(deployment_id, target)


@flow(name="deploy", log_prints=True)
def deploy(
    artifact: str,
    targets: list[DeployTargetModel | str],
    deployment_id: str | None = None,
    strategy: Strategy = "best-effort",
    run_command: str | None = None,
    port: Annotated[int, Field(ge=1, le=65535)] | None = None,
    size: str | None = None,
    timeout: Annotated[float, Field(gt=0)] = 300.0,
) -> DeploymentReport:
    """Deploy an artifact to each target at once, one task per target; fails if any failed.

    Args:
        artifact: The directory or archive to deploy (on the worker, or a storage URL).
        targets: Where to, each provider + region (+ size), or the text
            'provider:region[:size]', e.g. aws:us-east-1 or local.
        deployment_id: Tag every resource with this id (a re-run with the same id reuses
            what is running); empty: a new id.
        strategy: best-effort keeps the targets that succeeded; all-or-nothing destroys
            everything when any target fails.
        run_command: The command that starts the app (default: found in the artifact).
        port: The TCP port the app listens on, reported as the address.
        size: small, medium or large (or an instance type) for targets that name none.
        timeout: Seconds to wait for each instance to run.
    """
    deployer = MultiCloudDeployer(store=SharedRecordStore())
    parsed = deployer.parse_targets(target_texts(targets), size=size)
    dep_id, prepared, _ = deployer.plan(
        artifact,
        parsed,
        deployment_id=deployment_id or new_deployment_id(),
        strategy=strategy,
        run_command=run_command,
        port=port,
    )
    overall = create_progress(artifact_key("deploy", dep_id, "progress"), f"deploy {dep_id}")
    with prepared:
        deployer.remember(dep_id, parsed, strategy=strategy, artifact=str(prepared.source))
        futures = [
            deploy_target.with_options(tags=cloud_tags(t.provider)).submit(
                deployer, prepared, t, dep_id, port, timeout
            )
            for t in parsed
        ]
        for done, _ in enumerate(_as_completed(futures), start=1):
            update_progress(overall, 100.0 * done / len(futures))
        results = [_result_of(f, t, dep_id) for f, t in zip(futures, parsed, strict=True)]
    deployer.remember(dep_id, parsed, results, strategy=strategy, artifact=str(prepared.source))
    if strategy == "all-or-nothing" and not all(r.ok for r in results):
        results = deployer.rollback(dep_id, parsed, results)
    report = DeploymentReport(
        dep_id, strategy, tuple(results), targets=tuple(parsed), run_command=prepared.run_command
    )
    create_table_artifact(
        key=artifact_key("deploy", dep_id),
        table=_rows(results),
        description=f"deployment {dep_id} ({strategy}): one row per target",
    )
    print(
        f"deployment {dep_id}: " + ", ".join(f"{r.provider}:{r.region}={r.state}" for r in results)
    )
    events.deployment_finished(
        "deploy", dep_id, _rows(results), [_where(r) for r in results if not r.ok], strategy
    )
    if not report.ok:
        raise DeployFailed(report)
    return report


def _where(r: DeploymentResult) -> str:
    return f"{r.provider}:{r.region}"


def _as_completed(futures: list[Any]) -> Any:
    from prefect.futures import as_completed

    return as_completed(futures)


def _result_of(future: Any, target: DeployTarget, deployment_id: str) -> DeploymentResult:
    """The task's result; a crashed task becomes a failed row (the engine never raises)."""
    # as_completed's done callback runs before the future keeps its final state; without
    # the wait, `state` asks the API, which may still say Running (task states arrive as
    # events), and the row would read "UnfinishedRun" for a task that ended
    future.wait()
    state = future.state
    if state.is_completed():
        result: DeploymentResult = future.result()
        return result
    exc = state.result(raise_on_failure=False)
    return DeploymentResult(
        provider=target.provider,
        region=target.region,
        deployment_id=deployment_id,
        state="failed",
        error=f"{type(exc).__name__}: {exc}",
    )


@flow(name="destroy", log_prints=True)
def destroy(deployment_id: str, providers: list[str] | None = None) -> list[DeploymentResult]:
    """Remove everything tagged with the deployment id, one task per target; fails if any
    target could not be cleaned up.

    Args:
        deployment_id: The id the deploy run reported (dep-...).
        providers: Also sweep these providers' default regions (aws, gcp, azure, local) for
            resources tagged with the id; empty: only where the deployment went.
    """
    deployer = MultiCloudDeployer(store=SharedRecordStore())
    chosen = deployer.targets_of(deployment_id, None, providers)
    futures = [
        destroy_target.with_options(tags=cloud_tags(t.provider)).submit(deployer, t, deployment_id)
        for t in chosen
    ]
    wait(futures)
    results = [_result_of(f, t, deployment_id) for f, t in zip(futures, chosen, strict=True)]
    deployer.forget_if_clean(deployment_id, results)
    create_table_artifact(
        key=artifact_key("destroy", deployment_id),
        table=_rows(results),
        description=f"destroy {deployment_id}: one row per target",
    )
    events.deployment_finished(
        "destroy", deployment_id, _rows(results), [_where(r) for r in results if r.error]
    )
    if any(r.error for r in results):
        raise DestroyFailed(deployment_id, results)
    return results
