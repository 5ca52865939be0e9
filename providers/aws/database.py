"""Amazon RDS as CloudDatabase: create, describe, list, wait until available, delete."""

from __future__ import annotations

from typing import Any

from providers.aws.adapter import AWSAdapter, client_error_code
from providers.base import DatabaseInstance, DatabaseSpec
from providers.errors import CloudError, DeploymentError
from providers.operation import cloud_operation
from providers.waiting import wait_for_state


class RDSDatabase(AWSAdapter):
    """RDS DB instances in one region.

    Without a password in the spec, RDS generates one and keeps it in Secrets Manager
    (ManageMasterUserPassword), so no password passes through this process.
    """

    service_name = "rds"

    def __init__(
        self,
        client: Any,
        *,
        region: str = "",
        default_class: str = "db.t3.micro",
        poll_interval: float = 5.0,
    ) -> None:
        self.client = client
        self.region = region
        self.default_class = default_class
        self.poll_interval = poll_interval

    @property
    def location(self) -> str:
        return f"rds/{self.region}"

    def not_found_hint(self, code: str | None) -> str:
        return "Check the DB instance identifier and the region"

    def _database(self, raw: dict[str, Any]) -> DatabaseInstance:
        endpoint = raw.get("Endpoint") or {}
        return DatabaseInstance(
            database_id=raw["DBInstanceIdentifier"],
            name=raw.get("DBName") or raw["DBInstanceIdentifier"],
            engine=raw.get("Engine", ""),
            status=raw.get("DBInstanceStatus", "creating"),
            provider="aws",
            region=self.region,
            endpoint=endpoint.get("Address"),
            port=endpoint.get("Port"),
            instance_class=raw.get("DBInstanceClass"),
            storage_gb=raw.get("AllocatedStorage"),
            tags={t["Key"]: t["Value"] for t in raw.get("TagList", [])},
        )

    @cloud_operation("create_database", kind=DeploymentError, mutating=True, resource="spec")
    def create_database(self, spec: DatabaseSpec) -> DatabaseInstance:
        args: dict[str, Any] = {
            "DBInstanceIdentifier": spec.name,
            "Engine": spec.engine,
            "DBInstanceClass": spec.instance_class or self.default_class,
            "AllocatedStorage": spec.storage_gb,
            "MasterUsername": spec.username,
            "Tags": [{"Key": k, "Value": v} for k, v in spec.tags.items()],
        }
        if spec.password:
            args["MasterUserPassword"] = spec.password
        else:
            args["ManageMasterUserPassword"] = True
        return self._database(self.client.create_db_instance(**args)["DBInstance"])

    @cloud_operation("get_database", kind=CloudError, resource="database_id")
    def get_database(self, database_id: str) -> DatabaseInstance:
        found = self.client.describe_db_instances(DBInstanceIdentifier=database_id)
        return self._database(found["DBInstances"][0])

    @cloud_operation("list_databases", kind=CloudError, resource=None)
    def list_databases(self) -> list[DatabaseInstance]:
        out: list[DatabaseInstance] = []
        for page in self.client.get_paginator("describe_db_instances").paginate():
            out.extend(self._database(raw) for raw in page.get("DBInstances", []))
        return out

    @cloud_operation("wait_until_available", kind=DeploymentError, resource="database_id")
    def wait_until_available(self, database_id: str, timeout: float = 900.0) -> DatabaseInstance:
        return wait_for_state(
            lambda: self.get_database(database_id),
            lambda d: d.status,
            ready="available",
            failed={"failed", "deleting", "incompatible-parameters", "storage-full"},
            timeout=timeout,
            poll_interval=self.poll_interval,
            provider="aws",
            operation="wait_until_available",
            resource=database_id,
            noun="database",
            where=f" (region {self.region})",
            failed_hint="See the RDS events for this instance",
            timeout_hint="RDS instances often take 5-15 minutes; raise the timeout",
        )

    @cloud_operation("delete_database", kind=DeploymentError, mutating=True, resource="database_id")
    def delete_database(self, database_id: str, *, final_snapshot_id: str | None = None) -> bool:
        """Delete; with final_snapshot_id a last snapshot is kept. False when missing."""
        args: dict[str, Any] = {"DBInstanceIdentifier": database_id}
        if final_snapshot_id:
            args["FinalDBSnapshotIdentifier"] = final_snapshot_id
        else:
            args["SkipFinalSnapshot"] = True
        try:
            self.client.delete_db_instance(**args)
        except Exception as exc:
            if client_error_code(exc) in {"DBInstanceNotFound", "DBInstanceNotFoundFault"}:
                return False
            raise
        return True
