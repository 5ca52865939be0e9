"""Cloud SQL through the Cloud SQL Admin REST API (v1), with an authorized session.

There is no stable generated Python client for the Admin API, so requests go through
google-auth's AuthorizedSession (common.RestClient); non-2xx answers become
google.api_core exceptions, mapped like every other Google error. The root password
travels only in the request body: it is never part of a message.
"""

from __future__ import annotations

import time
from typing import Any

from providers.base import DatabaseInstance, DatabaseSpec
from providers.errors import CloudError, ConfigurationError, DeploymentError
from providers.gcp.common import GCPService, RestClient
from providers.operation import cloud_operation
from providers.waiting import wait_for_state

DEFAULT_ENDPOINT = "https://sqladmin.googleapis.com"
VERSIONS = {"postgres": "POSTGRES_16", "mysql": "MYSQL_8_0", "sqlserver": "SQLSERVER_2022_EXPRESS"}
PORTS = {"postgres": 5432, "mysql": 3306, "sqlserver": 1433}
#: Settings.data_disk_size_gb: "The data disk size minimum is 10GB."
MIN_DISK_GB = 10
STATES = {
    "PENDING_CREATE": "creating",
    "RUNNABLE": "available",
    "MAINTENANCE": "available",
    "PENDING_DELETE": "deleting",
    "FAILED": "failed",
    "SUSPENDED": "failed",
}


def _engine(version: str) -> str:
    return next((e for e, v in VERSIONS.items() if version.startswith(v.split("_")[0])), version)


class CloudSQLDatabase(GCPService):
    """Cloud SQL instances of one project, created in one region."""

    service_name = "sqladmin"

    def __init__(
        self,
        project: str,
        *,
        region: str,
        credentials: Any = None,
        endpoint: str | None = None,
        poll_interval: float = 10.0,
        session: Any = None,
    ) -> None:
        super().__init__(project)
        self.region = region
        self.poll_interval = poll_interval
        base = f"{(endpoint or DEFAULT_ENDPOINT).rstrip('/')}/v1/projects/{project}"
        self.rest = RestClient(base, credentials, session)

    def where(self) -> dict[str, Any]:
        return {"project": self.project, "region": self.region}

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        return self.rest.call(method, path, body, params)

    def _instance(self, raw: dict[str, Any]) -> DatabaseInstance:
        settings = raw.get("settings", {})
        engine = _engine(raw.get("databaseVersion", ""))
        addresses = raw.get("ipAddresses") or []
        primary = next((a["ipAddress"] for a in addresses if a.get("type") == "PRIMARY"), None)
        size = settings.get("dataDiskSizeGb")
        return DatabaseInstance(
            database_id=raw["name"],
            name=raw["name"],
            engine=engine,
            status=STATES.get(raw.get("state", ""), "creating"),
            provider=self.provider_name,
            region=raw.get("region"),
            endpoint=primary or (addresses[0]["ipAddress"] if addresses else None),
            port=PORTS.get(engine),
            instance_class=settings.get("tier"),
            storage_gb=int(size) if size else None,
            tags=dict(settings.get("userLabels", {})),
        )

    @cloud_operation("create_database", kind=DeploymentError, mutating=True, resource="spec")
    def create_database(self, spec: DatabaseSpec) -> DatabaseInstance:
        """Insert the instance (state PENDING_CREATE); wait_until_available waits."""
        version = VERSIONS.get(spec.engine)
        if version is None:
            raise ConfigurationError(
                f"engine '{spec.engine}' is not offered by Cloud SQL",
                provider=self.provider_name,
                operation="create_database",
                resource=spec.name,
                hint=f"Use one of {', '.join(VERSIONS)}",
            )
        if spec.storage_gb < MIN_DISK_GB:
            raise ConfigurationError(
                f"storage_gb={spec.storage_gb} is below Cloud SQL's minimum data disk of "
                f"{MIN_DISK_GB} GB",
                provider=self.provider_name,
                operation="create_database",
                resource=spec.name,
                hint=f"Ask for at least {MIN_DISK_GB} GB",
            )
        body: dict[str, Any] = {
            "name": spec.name,
            "databaseVersion": version,
            "region": self.region,
            "settings": {
                "tier": spec.instance_class or "db-f1-micro",
                "dataDiskSizeGb": str(spec.storage_gb),
                "userLabels": dict(spec.tags),
            },
        }
        if spec.password:
            body["rootPassword"] = spec.password
        self._call("POST", "instances", body)
        return self.get_database(spec.name)

    @cloud_operation("get_database", kind=CloudError, resource="database_id")
    def get_database(self, database_id: str) -> DatabaseInstance:
        return self._instance(self._call("GET", f"instances/{database_id}"))

    @cloud_operation("list_databases", kind=CloudError, resource=None)
    def list_databases(self) -> list[DatabaseInstance]:
        found: list[DatabaseInstance] = []
        token: str | None = None
        while True:
            page = self.rest.call(
                "GET", "instances", params={"pageToken": token} if token else None
            )
            found += [self._instance(raw) for raw in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                return found

    def wait_until_available(self, database_id: str, timeout: float = 900.0) -> DatabaseInstance:
        """Poll until RUNNABLE; DeploymentError when it fails or time runs out."""
        return wait_for_state(
            lambda: self.get_database(database_id),
            lambda d: d.status,
            ready="available",
            failed={"failed", "deleting"},
            timeout=timeout,
            poll_interval=self.poll_interval,
            provider=self.provider_name,
            operation="wait_until_available",
            resource=database_id,
            noun="database",
            where=f" (project {self.project})",
            failed_hint="Check the instance's operations in the Cloud SQL console",
            timeout_hint="Check the instance's operations in the Cloud SQL console",
        )

    @cloud_operation("delete_database", kind=DeploymentError, mutating=True, resource="database_id")
    def delete_database(self, database_id: str) -> bool:
        """Delete the instance and wait for the operation; False when it did not exist."""
        from google.api_core.exceptions import NotFound

        try:
            op = self._call("DELETE", f"instances/{database_id}")
        except NotFound:
            return False
        name = op.get("name")
        while name and op.get("status") != "DONE":
            time.sleep(self.poll_interval)
            op = self._call("GET", f"operations/{name}")
        if op.get("error", {}).get("errors"):
            text = "; ".join(e.get("message", "") for e in op["error"]["errors"])
            raise DeploymentError(
                f"delete failed: {text}",
                provider=self.provider_name,
                operation="delete_database",
                resource=database_id,
            )
        return True
