"""Deployment records every worker reads: a Prefect variable per deployment.

The clouds' tags are the truth of what a deployment made (destroy finds instances and
staged artifacts by the deployment-id tag); the record says where to look: which targets
and which regions they reported. A flow run on one worker writes it to the Prefect
variable `specify-deployment-<id>` (JSON, tagged `specify-cloud`), so a destroy on any other
worker of the same server goes exactly to that deployment's targets instead of sweeping
every cloud. The worker's own directory (SPECIFY_DEPLOY_STATE) keeps a copy, so the
command line's `specify cloud destroy ID` on that machine finds it too.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from providers.deployment.state import DeploymentRecord, DeploymentStore, RecordStore
from providers.deployment.targets import DeployTarget

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "specify-deployment-"
VARIABLE_TAGS = ["specify-cloud", "deployment-record"]


def variable_name(deployment_id: str) -> str:
    from providers.artifact import check_deployment_id

    return VARIABLE_PREFIX + check_deployment_id(deployment_id)


def record_to_json(record: DeploymentRecord) -> dict[str, Any]:
    data = asdict(record)
    data["targets"] = [dict(t) for t in data["targets"]]
    data["regions"] = dict(record.regions)
    return data


def record_from_json(data: dict[str, Any]) -> DeploymentRecord:
    return DeploymentRecord(
        deployment_id=str(data["deployment_id"]),
        targets=tuple(DeployTarget(**t) for t in data.get("targets", [])),
        regions=dict(data.get("regions") or {}),
        strategy=str(data.get("strategy", "best-effort")),
        artifact=str(data.get("artifact", "")),
        created=str(data.get("created", "")),
    )


class PrefectVariableStore:
    """RecordStore over Prefect variables, one per deployment id."""

    def load(self, deployment_id: str) -> DeploymentRecord | None:
        from prefect.variables import Variable

        value = Variable.get(variable_name(deployment_id), default=None)
        if not isinstance(value, dict):
            return None
        return record_from_json(value)

    def save(self, record: DeploymentRecord) -> None:
        from prefect.variables import Variable

        Variable.set(
            variable_name(record.deployment_id),
            record_to_json(record),  # type: ignore[arg-type]
            tags=VARIABLE_TAGS,
            overwrite=True,
        )

    def delete(self, deployment_id: str) -> None:
        from prefect.variables import Variable

        Variable.unset(variable_name(deployment_id))


class SharedRecordStore:
    """The Prefect variable first (every worker), the local directory as a copy.

    A record found only in the local directory (written by the command line) is still
    used. Saving and deleting touch both.
    """

    def __init__(self, shared: RecordStore | None = None, local: RecordStore | None = None) -> None:
        self.shared: RecordStore = shared if shared is not None else PrefectVariableStore()
        self.local: RecordStore = local if local is not None else DeploymentStore()

    def load(self, deployment_id: str) -> DeploymentRecord | None:
        return self.shared.load(deployment_id) or self.local.load(deployment_id)

    def save(self, record: DeploymentRecord) -> None:
        self.shared.save(record)
        self.local.save(record)

    def delete(self, deployment_id: str) -> None:
        self.shared.delete(deployment_id)
        self.local.delete(deployment_id)
