"""LocalProvider: the embedded default, rooted at one directory.

Several local "clouds" can coexist, each with its own root, so replication and failover can
be shown on one machine. Layout under the root:
    storage/<bucket>/   buckets (an absolute path given as bucket is used as it is)
    metrics.db, logs.db SQLite
    secrets.enc         Fernet-encrypted secrets (key from SPECIFY_SECRETS_KEY)
    compute/<id>/       local processes
    databases/          SQLite database files
    billing/            FOCUS-shaped billing files read by the cost service
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from providers.base import CloudProvider, DeploymentResult
from providers.errors import ConfigurationError
from providers.local.storage import LocalStorage

if TYPE_CHECKING:
    from providers.local.compute import ProcessCompute
    from providers.local.cost import FocusFileCost
    from providers.local.database import SQLiteDatabases
    from providers.local.logs import SQLiteLogging
    from providers.local.metrics import SQLiteMetrics
    from providers.local.secrets import FernetSecrets


def default_root() -> Path:
    return Path(
        os.environ.get("SPECIFY_LOCAL_ROOT") or Path.home() / ".specify-cloud" / "local"
    ).expanduser()


class LocalProvider(CloudProvider):
    name = "local"
    extra = "local"

    def __init__(self, root: Path | str | None = None, bucket: str = "default") -> None:
        self.root = Path(root).expanduser().resolve() if root else default_root().resolve()
        self.bucket = bucket

    def get_storage(self, bucket: str | None = None) -> LocalStorage:
        """The bucket storage/<bucket> under the root, or the directory an absolute path names.

        A named bucket is like a cloud bucket: it must be created (create_bucket) before
        use, except the provider's own default bucket, which is made on first use. A
        directory named by its path is made when missing (a place to copy into)."""
        name = bucket or self.bucket
        path = Path(name).expanduser()
        if path.is_absolute():
            return LocalStorage(path)
        if "/" in name or "\\" in name or name in (".", "..") or name.startswith("~"):
            raise ConfigurationError(
                f"{name!r} is not a bucket name",
                provider="local",
                operation="get_storage",
                hint="Use a plain name (a directory under the root) or an absolute path",
            )
        return LocalStorage(self.root / "storage" / name, create=name == self.bucket)

    @cached_property
    def _metrics(self) -> SQLiteMetrics:
        from providers.local.metrics import SQLiteMetrics

        return SQLiteMetrics(self.root / "metrics.db")

    def get_metrics(self) -> SQLiteMetrics:
        return self._metrics

    @cached_property
    def _logging(self) -> SQLiteLogging:
        from providers.local.logs import SQLiteLogging

        return SQLiteLogging(self.root / "logs.db")

    def get_logging(self) -> SQLiteLogging:
        return self._logging

    def get_secrets(self) -> FernetSecrets:
        from providers.local.secrets import FernetSecrets

        return FernetSecrets(self.root / "secrets.enc")

    @cached_property
    def _compute(self) -> ProcessCompute:
        from providers.local.compute import ProcessCompute

        return ProcessCompute(self.root / "compute")

    def get_compute(self) -> ProcessCompute:
        return self._compute

    def get_database(self) -> SQLiteDatabases:
        from providers.local.database import SQLiteDatabases

        return SQLiteDatabases(self.root / "databases")

    def get_cost(self) -> FocusFileCost:
        from providers.local.cost import FocusFileCost

        return FocusFileCost(self.root / "billing")

    def deploy(
        self,
        artifact: Path | str,
        region: str = "local",
        *,
        instance_type: str | None = None,
        deployment_id: str | None = None,
        run_command: str | None = None,
        port: int | None = None,
        timeout: float = 300.0,
    ) -> DeploymentResult:
        """Run the artifact as a local process (see providers/local/deploy.py)."""
        from providers.local.deploy import deploy_local

        return deploy_local(
            self.get_compute(),
            self.get_storage(),
            artifact,
            region,
            deployment_id=deployment_id,
            run_command=run_command,
            port=port,
            timeout=timeout,
        )

    @classmethod
    def credentials_found(cls) -> bool | None:
        return True
