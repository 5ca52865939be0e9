"""Azure SQL Database (azure-mgmt-sql) as CloudDatabase.

A database lives on a logical server; create_database makes the server (with the spec's
administrator login) and then the database, waiting on both long-running operations.
The size must fit the service objective: Basic holds at most 2 GB, S0-S2 250 GB (the
"Max storage" of Azure SQL's DTU resource limits); without an instance class, Basic is
chosen when the size fits it and S0 otherwise, and a size the chosen objective cannot hold
is refused before anything is created.
The database id is "server/database"; deleting the last database also deletes the
server this module created for it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from providers.azure.adapter import AzureAdapter, sdk_import_error
from providers.azure.compute import _as_dict, rest
from providers.base import DatabaseInstance, DatabaseSpec
from providers.errors import CloudError, ConfigurationError
from providers.operation import cloud_operation
from providers.waiting import wait_for_state

try:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.sql import SqlManagementClient
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise sdk_import_error("azure-mgmt-sql") from exc

ENGINES = frozenset({"sqlserver", "mssql", "azure-sql", "sql"})
#: tag marking servers this module created (the only ones delete_database removes)
SERVER_TAG = "specify-sql-server"
_STATUS = {
    "online": "available",
    "creating": "creating",
    "copying": "creating",
    "scaling": "creating",
    "restoring": "creating",
    "resuming": "creating",
    "paused": "stopped",
    "offline": "failed",
    "disabled": "failed",
    "inaccessible": "failed",
}


#: "Max storage (GB)" per DTU service objective (Azure SQL Database resource limits for
#: single databases, DTU purchasing model)
MAX_STORAGE_GB = {
    "Basic": 2,
    **dict.fromkeys(("S0", "S1", "S2"), 250),
    **dict.fromkeys(("S3", "S4", "S6", "S7", "S9", "S12"), 1024),
    **dict.fromkeys(("P1", "P2", "P4", "P6"), 1024),
    **dict.fromkeys(("P11", "P15"), 4096),
}


def service_objective(instance_class: str, storage_gb: int | None) -> str:
    """The sku name for a size: the caller's, or Basic when it fits (else S0); a size the
    objective cannot hold is a ConfigurationError naming its limit."""
    size = storage_gb or 0
    name = instance_class or ("Basic" if size <= MAX_STORAGE_GB["Basic"] else "S0")
    limit = MAX_STORAGE_GB.get(name)
    if limit is not None and size > limit:
        raise ConfigurationError(
            f"storage_gb={size} is more than the {limit} GB an Azure SQL '{name}' database "
            "can hold",
            provider="azure",
            operation="create_database",
            hint=f"Ask for at most {limit} GB, or an instance class that holds {size} GB "
            "(S0-S2: 250 GB, S3 and up: 1024 GB)",
        )
    return name


def server_name(name: str) -> str:
    """A logical server name: 1-63 lowercase letters, digits and hyphens."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]
    if not cleaned:
        raise ConfigurationError(
            f"{name!r} cannot name a SQL server",
            provider="azure",
            operation="create_database",
            hint="Use lowercase letters, digits and hyphens",
        )
    return cleaned


class AzureSqlDatabase(AzureAdapter):
    """Azure SQL databases in one resource group."""

    service_name: ClassVar[str] = "sql"
    not_found_hint: ClassVar[str] = "Check the database id (server/database)"

    def __init__(
        self,
        credential: Any,
        subscription_id: str,
        resource_group: str,
        *,
        region: str = "eastus",
        base_url: str | None = None,
        connection_verify: bool | str = True,
        sdk_retries: int = 2,
        poll_interval: float = 10.0,
    ) -> None:
        self.resource_group = resource_group
        self.region = region
        self.poll_interval = poll_interval
        self.client = SqlManagementClient(
            credential,
            subscription_id,
            base_url=base_url,
            connection_verify=connection_verify,
            retry_total=sdk_retries,
            polling_interval=poll_interval,
        )

    @property
    def location(self) -> str:
        return self.resource_group

    def describe(self, resource: str | None) -> str:
        return f"resource group {self.resource_group} ({self.region})"

    def _split(self, database_id: str) -> tuple[str, str]:
        server, _, db = database_id.partition("/")
        if not server or not db:
            raise ConfigurationError(
                f"database id {database_id!r} is not server/database",
                provider="azure",
                operation="database",
                resource=database_id,
                hint="Use the database_id that create_database returned",
            )
        return server, db

    @cloud_operation("create_database", kind=CloudError, mutating=True, resource="spec")
    def create_database(self, spec: DatabaseSpec) -> DatabaseInstance:
        if spec.engine.lower() not in ENGINES:
            raise ConfigurationError(
                f"engine {spec.engine!r} is not served by Azure SQL Database",
                provider="azure",
                operation="create_database",
                resource=spec.name,
                hint="Pass engine='sqlserver'",
            )
        if not spec.password:
            raise ConfigurationError(
                "an administrator password is required",
                provider="azure",
                operation="create_database",
                resource=spec.name,
                hint="Set DatabaseSpec.password (it is sent once and never logged)",
            )
        sku = service_objective(spec.instance_class, spec.storage_gb)  # before creating
        server = server_name(spec.name)
        db = server_name(spec.name)
        tags = dict(spec.tags)
        self.client.servers.begin_create_or_update(
            self.resource_group,
            server,
            rest(
                {
                    "location": self.region,
                    "tags": {**tags, SERVER_TAG: db},
                    "properties": {
                        "administratorLogin": spec.username,
                        "administratorLoginPassword": spec.password,
                        "version": "12.0",
                        "minimalTlsVersion": "1.2",
                    },
                }
            ),
        ).result()
        body: dict[str, Any] = {"location": self.region, "tags": tags, "properties": {}}
        body["sku"] = {"name": sku}
        if spec.storage_gb:
            body["properties"]["maxSizeBytes"] = spec.storage_gb * 1024**3
        database = self.client.databases.begin_create_or_update(
            self.resource_group, server, db, rest(body)
        ).result()
        return self._instance(server, _as_dict(database))

    @cloud_operation("get_database", resource="database_id")
    def get_database(self, database_id: str) -> DatabaseInstance:
        server, db = self._split(database_id)
        database = self.client.databases.get(self.resource_group, server, db)
        return self._instance(server, _as_dict(database))

    @cloud_operation("list_databases", resource=None)
    def list_databases(self) -> list[DatabaseInstance]:
        out = []
        for model in self.client.servers.list_by_resource_group(self.resource_group):
            name = str(_as_dict(model)["name"])
            for database in self.client.databases.list_by_server(self.resource_group, name):
                d = _as_dict(database)
                if d.get("name") != "master":  # every server has one; it is not the user's
                    out.append(self._instance(name, d))
        return out

    def wait_until_available(self, database_id: str, timeout: float = 900.0) -> DatabaseInstance:
        return wait_for_state(
            lambda: self.get_database(database_id),
            lambda d: d.status,
            ready="available",
            failed={"failed"},
            timeout=timeout,
            poll_interval=self.poll_interval,
            provider=self.provider_name,
            operation="wait_until_available",
            resource=database_id,
            noun="database",
            failed_hint="See the database's activity log in the portal",
            timeout_hint="Wait longer, or check the database in the portal",
        )

    @cloud_operation("delete_database", mutating=True, resource="database_id")
    def delete_database(self, database_id: str) -> bool:
        """Delete the database, and its server when this module created it for it."""
        server, db = self._split(database_id)
        try:
            srv = _as_dict(self.client.servers.get(self.resource_group, server))
            self.client.databases.get(self.resource_group, server, db)
        except ResourceNotFoundError:
            return False
        self.client.databases.begin_delete(self.resource_group, server, db).result()
        if (srv.get("tags") or {}).get(SERVER_TAG) == db:
            self.client.servers.begin_delete(self.resource_group, server).result()
        return True

    def _instance(self, server: str, d: dict[str, Any]) -> DatabaseInstance:
        props = d.get("properties") or {}
        status = str(props.get("status") or props.get("provisioningState") or "creating")
        size = props.get("maxSizeBytes")
        return DatabaseInstance(
            database_id=f"{server}/{d.get('name')}",
            name=str(d.get("name")),
            engine="sqlserver",
            status=_STATUS.get(status.lower(), "creating"),
            provider=self.provider_name,
            region=d.get("location"),
            endpoint=f"{server}.database.windows.net",
            port=1433,
            instance_class=(d.get("sku") or {}).get("name"),
            storage_gb=int(size) // 1024**3 if size else None,
            tags={k: v for k, v in (d.get("tags") or {}).items() if k != SERVER_TAG},
        )
