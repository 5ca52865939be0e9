"""`specify cloud deploy | destroy | status`: one artifact on several clouds, by deployment id.

By default the commands call providers.deployer directly (fast start); `deploy --prefect`
runs the `deploy` flow instead so the run is recorded on the Prefect server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.table import Table

from commands.app import cloud
from commands.output import (
    EXIT_FAILED,
    bad_input,
    cli_errors,
    console,
    emit_json,
    err_console,
    fail,
)
from providers.errors import ConfigurationError

if TYPE_CHECKING:
    from providers.base import DeploymentResult
    from providers.deployer import DeploymentReport

P = ParamSpec("P")
R = TypeVar("R")

# ConfigurationError.resource (the engine's field name) -> what the user typed
FIELDS = {
    "to": "--to",
    "size": "--size",
    "artifact": "ARTIFACT",
    "run": "--run",
    "port": "--port",
    "strategy": "--strategy",
    "id": "--id",
}


def field_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Bad input exits 2 with the option or argument it came from named first."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConfigurationError as exc:
            field = FIELDS.get(exc.resource or "", exc.resource or "input")
            hint = f" {exc.hint}" if exc.hint else ""
            bad_input(field, f"{exc.message}.{hint}")

    return wrapper


def _row(r: DeploymentResult) -> dict[str, Any]:
    data = asdict(r)
    data["hourly_price"] = str(r.hourly_price) if r.hourly_price is not None else None
    data["duration_s"] = round(r.duration_s, 3)
    return data


def _table(title: str, results: Sequence[DeploymentResult]) -> Table:
    colour = {"running": "green", "planned": "cyan", "destroyed": "green", "failed": "red"}
    table = Table(title=title)
    for col in ("target", "state", "instance", "address", "$/hour", "seconds", "error"):
        table.add_column(col, overflow="fold")
    for r in results:
        c = colour.get(r.state, "yellow")
        table.add_row(
            f"{r.provider}:{r.region}" if r.region else r.provider,
            f"[{c}]{r.state}[/]",
            r.instance_id or "-",
            r.address or "-",
            str(r.hourly_price) if r.hourly_price is not None else "-",
            f"{r.duration_s:.1f}" if r.duration_s else "-",
            r.error or "",
        )
    return table


def _report_json(report: DeploymentReport) -> dict[str, Any]:
    return {
        "deployment_id": report.deployment_id,
        "strategy": report.strategy,
        "dry_run": report.dry_run,
        "ok": report.ok,
        "duration_s": round(report.duration_s, 3),
        "run_command": report.run_command,
        "targets": [asdict(t) for t in report.targets],
        "results": [_row(r) for r in report.results],
    }


@cloud.command("deploy")
@cli_errors
@field_errors
def deploy(
    artifact: str = typer.Argument(..., help="A file or a directory (packed as tar.gz)"),
    to: str = typer.Option(
        ..., "--to", help="Targets: aws:us-east-1,gcp:us-central1,azure:eastus,local"
    ),
    deployment_id: str | None = typer.Option(
        None,
        "--id",
        help="Deployment id: 1-55 of a-z, 0-9 and '-', not at either end (default: generated)",
    ),
    run: str | None = typer.Option(None, "--run", help="Start command, run in the artifact"),
    port: int | None = typer.Option(None, "--port", help="Port to open; passed as PORT"),
    size: str | None = typer.Option(None, "--size", help="small|medium|large or a type"),
    strategy: str = typer.Option("best-effort", "--strategy", help="best-effort|all-or-nothing"),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait per target"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, create nothing"),
    json_output: bool = typer.Option(False, "--json", help="JSON output"),
    prefect: bool = typer.Option(False, "--prefect", help="Run as a Prefect flow"),
) -> None:
    """Deploy ARTIFACT to every target in parallel, tagged with a deployment id."""
    from providers.deployer import DeploymentReport, MultiCloudDeployer, new_deployment_id

    deployer = MultiCloudDeployer()
    targets = deployer.parse_targets(to, size=size)
    dep_id = deployment_id or new_deployment_id()
    if not deployment_id and not json_output:
        err_console.print(f"deployment id: [bold]{dep_id}[/]", highlight=False)
    if prefect and not dry_run:
        # validate before paying for Prefect's start-up
        _, prepared, _ = deployer.plan(
            artifact,
            targets,
            deployment_id=dep_id,
            strategy=strategy,
            run_command=run,
            port=port,
        )
        prepared.cleanup()
        from flows.deploy import deploy as deploy_flow

        try:
            state = deploy_flow(
                artifact=artifact,
                targets=[f"{t.provider}:{t.region}:{t.size}" for t in targets],
                deployment_id=dep_id,
                strategy=strategy,  # type: ignore[arg-type]
                run_command=run,
                port=port,
                timeout=timeout,
                return_state=True,
            )
            # a run with a failed target ends Failed; its report rides on the exception
            outcome = state.result(raise_on_failure=False)
            report = getattr(outcome, "report", outcome)
            if not isinstance(report, DeploymentReport):
                raise outcome if isinstance(outcome, BaseException) else RuntimeError(outcome)
        except RuntimeError as exc:  # e.g. the ephemeral Prefect server did not start
            fail(
                f"the Prefect flow could not run ({exc}). Point PREFECT_API_URL at a running "
                f"server, or run without --prefect; `specify cloud destroy {dep_id}` "
                "removes anything it started"
            )
    else:
        report = deployer.deploy(
            artifact,
            targets,
            deployment_id=dep_id,
            strategy=strategy,
            run_command=run,
            port=port,
            timeout=timeout,
            dry_run=dry_run,
        )
    if json_output:
        emit_json(_report_json(report))
    else:
        title = f"{'Plan' if report.dry_run else 'Deployment'} {report.deployment_id}"
        console.print(_table(title, report.results))
        if report.dry_run:
            for t in report.targets:
                console.print(f"{t}: {t.instance_type or 'provider default'} ({t.size})")
            console.print(f"start command: {report.run_command}", highlight=False)
            console.print("dry run: nothing was uploaded or created")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@cloud.command("destroy")
@cli_errors
@field_errors
def destroy(
    deployment_id: str = typer.Argument(..., help="The deployment id"),
    provider: list[str] = typer.Option(
        None, "--provider", help="Also sweep this provider's default region (repeatable)"
    ),
    json_output: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Remove everything the deployment created, on every cloud it went to."""
    from providers.deployer import MultiCloudDeployer

    results = MultiCloudDeployer().destroy(deployment_id, providers=provider or None)
    if json_output:
        emit_json({"deployment_id": deployment_id, "results": [_row(r) for r in results]})
    else:
        console.print(_table(f"Destroyed {deployment_id}", results))
    if any(r.error for r in results):
        raise typer.Exit(EXIT_FAILED)


@cloud.command("status")
@cli_errors
@field_errors
def status(
    deployment_id: str = typer.Argument(..., help="The deployment id"),
    json_output: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Each target's state: running, pending, stopped, absent or failed."""
    from providers.deployer import MultiCloudDeployer

    results = MultiCloudDeployer().status(deployment_id)
    if results and all(r.state == "absent" for r in results):
        # nothing anywhere carries this id: a typo, or it was destroyed
        bad_input(
            "DEPLOYMENT_ID",
            f"no deployment {deployment_id!r} on any target; check it against "
            "the id `specify cloud deploy` printed",
        )
    if json_output:
        emit_json({"deployment_id": deployment_id, "results": [_row(r) for r in results]})
    else:
        console.print(_table(f"Deployment {deployment_id}", results))
