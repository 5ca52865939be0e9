"""Databases as SQLite files: `<id>.sqlite3` plus a descriptor `<id>.json` beside it.

Whatever engine is asked for, the database is SQLite (engine reports "sqlite"; the
requested engine is kept in the descriptor). The endpoint is the file's path. SQLite has no
users, so the spec's username and password are not stored.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from providers.base import DatabaseInstance, DatabaseSpec
from providers.errors import CloudError, ConfigurationError, DeploymentError, NotFoundError
from providers.local._sqlite import map_sqlite_error
from providers.operation import ServiceAdapter, cloud_operation
from providers.waiting import wait_for_state

# RDS identifier rules: a letter first, then letters, digits and single hyphens
_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")


class SQLiteDatabases(ServiceAdapter):
    """CloudDatabase over a directory of SQLite files."""

    provider_name = "local"
    service_name = "database"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def location(self) -> str:
        return str(self.root)

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        return map_sqlite_error(
            exc, db_path=self.root, operation=operation, resource=resource, kind=kind
        )

    def _paths(self, database_id: str) -> tuple[Path, Path]:
        if not _NAME.match(database_id):
            raise ConfigurationError(
                f"{database_id!r} is not a database name",
                provider="local",
                operation="database",
                hint="Use 1-63 letters, digits and single hyphens, starting with a letter",
            )
        return self.root / f"{database_id}.sqlite3", self.root / f"{database_id}.json"

    def _read(self, database_id: str) -> dict[str, Any]:
        _, desc = self._paths(database_id)
        try:
            data: dict[str, Any] = json.loads(desc.read_text())
        except FileNotFoundError:
            raise NotFoundError(
                f"no database under {self.root}",
                provider="local",
                operation="get_database",
                resource=database_id,
                hint="List databases with list_databases",
            ) from None
        return data

    def _write(self, data: dict[str, Any]) -> None:
        _, desc = self._paths(data["database_id"])
        fd, name = tempfile.mkstemp(dir=self.root, prefix=".db.")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(name, desc)

    def _instance(self, data: dict[str, Any]) -> DatabaseInstance:
        db_file, _ = self._paths(data["database_id"])
        return DatabaseInstance(
            database_id=data["database_id"],
            name=data["name"],
            engine="sqlite",
            status=data["status"],
            provider="local",
            region="local",
            endpoint=str(db_file),
            port=None,
            instance_class=data.get("instance_class") or None,
            storage_gb=data.get("storage_gb"),
            tags=dict(data.get("tags") or {}),
        )

    # ------------------------------------------------------------------ protocol
    @cloud_operation("create_database", kind=DeploymentError, mutating=True, resource="spec")
    def create_database(self, spec: DatabaseSpec) -> DatabaseInstance:
        db_file, desc = self._paths(spec.name)
        self.root.mkdir(parents=True, exist_ok=True)
        data = {
            "database_id": spec.name,
            "name": spec.name,
            "requested_engine": spec.engine,
            "instance_class": spec.instance_class,
            "storage_gb": spec.storage_gb,
            "tags": dict(spec.tags),
            "created": datetime.now(UTC).isoformat(),
            "status": "creating",
        }
        try:
            # O_EXCL claims the name, so two creates of one name cannot both succeed
            fd = os.open(desc, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise ConfigurationError(
                f"a database named {spec.name!r} already exists in {self.root}",
                provider="local",
                operation="create_database",
                resource=spec.name,
                hint="Choose another name, or delete the existing database first",
            ) from None
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        try:
            conn = sqlite3.connect(db_file)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA user_version = 1")
            finally:
                conn.close()
        except BaseException:
            self._write({**data, "status": "failed"})
            raise
        data["status"] = "available"
        self._write(data)
        return self._instance(data)

    @cloud_operation("get_database", kind=DeploymentError, resource="database_id")
    def get_database(self, database_id: str) -> DatabaseInstance:
        return self._instance(self._read(database_id))

    @cloud_operation("list_databases", kind=DeploymentError, resource=None)
    def list_databases(self) -> list[DatabaseInstance]:
        out = []
        if self.root.is_dir():
            for desc in sorted(self.root.glob("*.json")):
                try:
                    out.append(self._instance(json.loads(desc.read_text())))
                except (OSError, ValueError, KeyError):
                    continue  # being written or removed right now
        return out

    @cloud_operation(
        "wait_until_available", kind=DeploymentError, resource="database_id", retry=False
    )
    def wait_until_available(self, database_id: str, timeout: float = 900.0) -> DatabaseInstance:
        return wait_for_state(
            lambda: self.get_database(database_id),
            lambda d: d.status,
            ready="available",
            failed={"failed"},
            timeout=timeout,
            poll_interval=0.05,
            provider="local",
            operation="wait_until_available",
            resource=database_id,
            noun="database",
            failed_hint="Delete it and create it again",
        )

    @cloud_operation("delete_database", kind=DeploymentError, mutating=True, resource="database_id")
    def delete_database(self, database_id: str) -> bool:
        """Remove the file (and its WAL files) and the descriptor; False if it did not exist."""
        db_file, desc = self._paths(database_id)
        if not desc.is_file():
            return False
        for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
            path.unlink(missing_ok=True)
        desc.unlink(missing_ok=True)
        return True
