"""Serve the specify-cloud deployments from this process: `python -m deployments.serve`.

    cost-compare/daily   cron schedule with a timezone; with no blocks named it compares
                         the embedded sample billing data, so a fresh server shows a report
    replicate/by-hand    run from the UI or `prefect deployment run` with block names
    deploy/by-hand       the same, for deploying an artifact
    destroy/by-hand      tears down what deploy/by-hand created

Runs need `PREFECT_API_URL` pointing at a server (see `specify cloud ui`). Flow modules
are imported only here, one by one: a flow that is not installed is skipped with a
message instead of taking the others down. deployments/prefect.yaml declares the same
deployments for a `process` work pool (`prefect deploy --all`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

# Daily after cloud billing data settles; the timezone makes "06:00" mean the same
# wall-clock time all year. Both can be changed without code for a site's own rhythm.
COST_CRON = os.environ.get("SPECIFY_COST_CRON", "0 6 * * *")
COST_TIMEZONE = os.environ.get("SPECIFY_COST_TIMEZONE", "UTC")
TAGS = ("specify-cloud",)
# the cron schedule's identity: a redeploy updates it in place instead of adding one
SCHEDULE_SLUG = "daily-0600"


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: which flow, its name, schedule and default parameters."""

    flow: str  # the flow's name, e.g. "cost-compare"
    module: str  # where the flow lives, e.g. "flows.cost_compare"
    name: str  # the deployment's name, e.g. "daily"
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    timezone: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


# Adding a deployment is one entry here (and the same in prefect.yaml).
DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "cost-compare",
        "flows.cost_compare",
        "daily",
        "Daily cost comparison; with no blocks named it uses the sample billing data.",
        cron=COST_CRON,
        timezone=COST_TIMEZONE,
    ),
    DeploymentSpec(
        "replicate",
        "flows.replicate",
        "by-hand",
        "Replicate a prefix to every target; locations may name blocks (block:NAME/prefix).",
        parameters={
            # The specify-local block (`specify cloud blocks init`) makes these runnable
            # on a fresh machine; a real run names cloud blocks instead.
            "source": "block:specify-local/outbox",
            "targets": ["block:specify-local/replica"],
        },
    ),
    DeploymentSpec(
        "deploy",
        "flows.deploy",
        "by-hand",
        "Deploy an artifact to several clouds at once.",
        parameters={"targets": ["local"]},
    ),
    DeploymentSpec(
        "destroy",
        "flows.deploy",
        "by-hand",
        "Destroy everything tagged with a deployment id.",
    ),
)


def load_flow(spec: DeploymentSpec) -> Flow[..., Any] | None:
    """The flow named spec.flow from spec.module, or None when that module is absent."""
    from prefect import Flow

    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name != spec.module:
            raise  # the module exists but something it needs is missing: say so loudly
        return None
    for value in vars(module).values():
        if isinstance(value, Flow) and value.name == spec.flow:
            return value
    return None


def accepted_parameters(flow: Flow[..., Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Only the defaults the flow's signature takes (the flows evolve independently)."""
    known = flow.parameters.properties or {}
    return {k: v for k, v in parameters.items() if k in known}


def build(spec: DeploymentSpec, flow: Flow[..., Any]) -> RunnerDeployment:
    from prefect.schedules import Cron

    schedules = [Cron(spec.cron, timezone=spec.timezone, slug=SCHEDULE_SLUG)] if spec.cron else None
    deployment = flow.to_deployment(
        name=spec.name,
        description=spec.description,
        schedules=schedules,
        parameters=accepted_parameters(flow, spec.parameters),
        tags=list(TAGS),
    )
    # to_deployment is sync-compatible: called from sync code it returns the deployment.
    return cast("RunnerDeployment", deployment)


def runner_deployments(
    specs: tuple[DeploymentSpec, ...] = DEPLOYMENTS,
) -> tuple[list[RunnerDeployment], list[str]]:
    """Deployments whose flow is installed, and the names of those skipped."""
    built: list[RunnerDeployment] = []
    skipped: list[str] = []
    for spec in specs:
        flow = load_flow(spec)
        if flow is None:
            skipped.append(spec.full_name)
        else:
            built.append(build(spec, flow))
    return built, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__)
    parser.add_argument("--list", action="store_true", help="print what would be served")
    parser.add_argument(
        "--limit", type=int, default=None, help="at most this many concurrent flow runs"
    )
    args = parser.parse_args(argv)

    deployments, skipped = runner_deployments()
    for name in skipped:
        print(f"skipped {name}: its flow module is not installed", file=sys.stderr)
    if args.list:
        for spec in DEPLOYMENTS:
            if spec.full_name not in skipped:
                when = f"cron '{spec.cron}' ({spec.timezone})" if spec.cron else "by hand"
                print(f"{spec.full_name}\t{when}")
        return 0
    if not deployments:
        print("no flows to serve: none of the flow modules is installed", file=sys.stderr)
        return 1
    from prefect import serve

    serve(*deployments, limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
