"""Where a deployment went, remembered between runs: DeploymentRecord and its stores.

The cloud tags are the truth of what exists (providers.deployment.instances finds by tag);
the record says where to look (which targets, which regions each reported), so that
`status` and `destroy` need not sweep every region. Any object with load/save/delete
(`RecordStore`) can hold records; `DeploymentStore` keeps one JSON file per id.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from providers.artifact import check_deployment_id
from providers.deployment.targets import DeployTarget


@dataclass(frozen=True)
class DeploymentRecord:
    """What this machine remembers of a deployment: where it went."""

    deployment_id: str
    targets: tuple[DeployTarget, ...]
    regions: Mapping[str, str] = field(default_factory=dict)  # "provider:region" -> reported
    strategy: str = "best-effort"
    artifact: str = ""
    created: str = ""


@runtime_checkable
class RecordStore(Protocol):
    """Holds DeploymentRecords by deployment id (a directory, a Prefect variable, ...)."""

    def load(self, deployment_id: str) -> DeploymentRecord | None:
        """The record, or None when there is none."""
        ...

    def save(self, record: DeploymentRecord) -> None:
        """Create or replace the record of record.deployment_id."""
        ...

    def delete(self, deployment_id: str) -> None:
        """Forget the record (no error when there is none)."""
        ...


def default_state_dir() -> Path:
    return Path(
        os.environ.get("SPECIFY_DEPLOY_STATE") or Path.home() / ".specify-cloud" / "deployments"
    ).expanduser()


class DeploymentStore:
    """One JSON file per deployment id in a directory."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root else default_state_dir()
        self._lock = threading.Lock()

    def _path(self, deployment_id: str) -> Path:
        return self.root / f"{check_deployment_id(deployment_id)}.json"

    def load(self, deployment_id: str) -> DeploymentRecord | None:
        path = self._path(deployment_id)
        if not path.is_file():
            return None
        data = json.loads(path.read_text("utf-8"))
        return DeploymentRecord(
            deployment_id=data["deployment_id"],
            targets=tuple(DeployTarget(**t) for t in data["targets"]),
            regions=data.get("regions", {}),
            strategy=data.get("strategy", "best-effort"),
            artifact=data.get("artifact", ""),
            created=data.get("created", ""),
        )

    def save(self, record: DeploymentRecord) -> None:
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            path = self._path(record.deployment_id)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(record), fh, indent=2)
            os.replace(tmp, path)

    def delete(self, deployment_id: str) -> None:
        self._path(deployment_id).unlink(missing_ok=True)
