"""Prefect flows `deploy` and `destroy`: one task per target over providers.deployer.

The work is the engine's (MultiCloudDeployer.deploy_target / destroy_target); the flows add
per-target task runs, and artifacts keyed by deployment id (`deploy-<id>`,
`deploy-<id>-<provider>-<region>`, `destroy-<id>`) holding the per-target results.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from providers.artifact import PreparedArtifact
from providers.base import DeploymentResult
from providers.deployer import (
    DeploymentReport,
    DeployTarget,
    MultiCloudDeployer,
    new_deployment_id,
)


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


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
    result = deployer.deploy_target(
        prepared, target, deployment_id=deployment_id, port=port, timeout=timeout
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
    return deployer.destroy_target(deployment_id, target)


@flow(name="deploy", log_prints=True)
def deploy(
    artifact: str,
    targets: list[str],
    deployment_id: str | None = None,
    strategy: str = "best-effort",
    run_command: str | None = None,
    port: int | None = None,
    size: str | None = None,
    timeout: float = 300.0,
) -> DeploymentReport:
    """Deploy ARTIFACT to each 'provider:region[:size]' target, one task per target."""
    deployer = MultiCloudDeployer()
    parsed = deployer.parse_targets(targets, size=size)
    dep_id, prepared, _ = deployer.plan(
        artifact,
        parsed,
        deployment_id=deployment_id or new_deployment_id(),
        strategy=strategy,
        run_command=run_command,
        port=port,
    )
    with prepared:
        deployer.remember(dep_id, parsed, strategy=strategy, artifact=str(prepared.source))
        futures = [
            deploy_target.submit(deployer, prepared, t, dep_id, port, timeout) for t in parsed
        ]
        wait(futures)
        results = [f.result() for f in futures]
    deployer.remember(dep_id, parsed, results, strategy=strategy, artifact=str(prepared.source))
    if strategy == "all-or-nothing" and not all(r.ok for r in results):
        results = deployer.rollback(dep_id, parsed, results)
    report = DeploymentReport(dep_id, strategy, tuple(results))
    create_table_artifact(
        key=artifact_key("deploy", dep_id),
        table=_rows(results),
        description=f"deployment {dep_id} ({strategy}): one row per target",
    )
    print(
        f"deployment {dep_id}: " + ", ".join(f"{r.provider}:{r.region}={r.state}" for r in results)
    )
    return report


@flow(name="destroy", log_prints=True)
def destroy(deployment_id: str, providers: list[str] | None = None) -> list[DeploymentResult]:
    """Remove everything tagged with the deployment id, one task per target."""
    deployer = MultiCloudDeployer()
    chosen = deployer.targets_of(deployment_id, None, providers)
    futures = [destroy_target.submit(deployer, t, deployment_id) for t in chosen]
    wait(futures)
    results = [f.result() for f in futures]
    deployer.forget_if_clean(deployment_id, results)
    create_table_artifact(
        key=artifact_key("destroy", deployment_id),
        table=_rows(results),
        description=f"destroy {deployment_id}: one row per target",
    )
    return results
