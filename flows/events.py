"""Prefect events the flows emit, so automations can react (notify, open a ticket, run a
deployment). Every event names its resource and relates the flow run that emitted it.

    specify-cloud.replication.completed / .failed   resource specify-cloud.location.<URL>
        a replicate flow finished a target (one event per target)
    specify-cloud.deploy.completed / .failed        resource specify-cloud.deployment.<id>
    specify-cloud.destroy.completed / .failed       resource specify-cloud.deployment.<id>
    specify-cloud.cost.anomaly                      resource specify-cloud.cost.<provider>.<service>
        cost-compare found an anomaly (one event each)

Payloads carry the figures (objects, bytes, costs as strings of exact decimals) and the
labels `specify-cloud.cloud` / `specify-cloud.provider`, so a trigger can match on them.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

REPLICATION_COMPLETED = "specify-cloud.replication.completed"
REPLICATION_FAILED = "specify-cloud.replication.failed"
DEPLOY_COMPLETED = "specify-cloud.deploy.completed"
DEPLOY_FAILED = "specify-cloud.deploy.failed"
DESTROY_COMPLETED = "specify-cloud.destroy.completed"
DESTROY_FAILED = "specify-cloud.destroy.failed"
COST_ANOMALY = "specify-cloud.cost.anomaly"


def _plain(value: Any) -> Any:
    """JSON-ready: Decimals as exact strings, dates as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def _run_resources() -> list[dict[str, str]]:
    """The flow run (and its deployment) emitting, as related resources."""
    from prefect.runtime import deployment, flow_run

    related: list[dict[str, str]] = []
    if flow_run.id:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": str(flow_run.name or ""),
            }
        )
    if deployment.id:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{deployment.id}",
                "prefect.resource.role": "deployment",
                "prefect.resource.name": str(deployment.name or ""),
            }
        )
    return related


def emit(
    event: str,
    resource_id: str,
    *,
    name: str,
    payload: dict[str, Any],
    labels: dict[str, str] | None = None,
) -> Any:
    """Emit one event; never fails the flow (an event lost is logged, not raised)."""
    from prefect.events import emit_event

    resource = {"prefect.resource.id": resource_id, "prefect.resource.name": name}
    resource.update({k: v for k, v in (labels or {}).items() if v})
    try:
        data = _plain(payload)
        json.dumps(data)
        return emit_event(event=event, resource=resource, related=_run_resources(), payload=data)
    except Exception as exc:  # an event is a notification, never the work itself
        log.warning("could not emit %s for %s: %s", event, resource_id, exc)
        return None


def replication_finished(source: str, report: dict[str, Any], cloud: str | None) -> Any:
    target = str(report.get("location") or report.get("target"))
    ok = bool(report.get("ok"))
    return emit(
        REPLICATION_COMPLETED if ok else REPLICATION_FAILED,
        f"specify-cloud.location.{target}",
        name=target,
        labels={"specify-cloud.cloud": cloud or ""},
        payload={
            "source": source,
            "target": target,
            "cloud": cloud,
            **{
                k: report.get(k)
                for k in (
                    "copied",
                    "skipped",
                    "failed",
                    "deleted",
                    "bytes_copied",
                    "dry_run",
                    "duration_s",
                    "error",
                )
            },
            "errors": dict(list((report.get("errors") or {}).items())[:20]),
        },
    )


def deployment_finished(
    kind: str,
    deployment_id: str,
    rows: list[dict[str, Any]],
    failed: list[str],
    strategy: str | None = None,
) -> Any:
    """kind: 'deploy' or 'destroy'; rows: one per target (provider, region, state, error);
    failed: the 'provider:region' of each target that failed."""
    names = {
        ("deploy", True): DEPLOY_COMPLETED,
        ("deploy", False): DEPLOY_FAILED,
        ("destroy", True): DESTROY_COMPLETED,
        ("destroy", False): DESTROY_FAILED,
    }
    return emit(
        names[(kind, not failed)],
        f"specify-cloud.deployment.{deployment_id}",
        name=deployment_id,
        payload={
            "deployment_id": deployment_id,
            "strategy": strategy,
            "failed": failed,
            "targets": rows,
        },
    )


def cost_anomaly(anomaly: dict[str, Any], currency: str) -> Any:
    provider = str(anomaly.get("provider"))
    service = str(anomaly.get("service"))
    return emit(
        COST_ANOMALY,
        f"specify-cloud.cost.{provider}.{service}",
        name=f"{provider} {service}",
        labels={"specify-cloud.provider": provider, "specify-cloud.service": service},
        payload={**anomaly, "currency": currency},
    )
