"""AzureProvider: builds the Azure services lazily and deploys artifacts to a VM.

Importing this module imports no Azure SDK. Settings come from the arguments, else from
the standard Azure environment: AZURE_STORAGE_CONNECTION_STRING, or
AZURE_STORAGE_ACCOUNT_URL with whatever DefaultAzureCredential finds (AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, a managed identity, the Azure CLI login), and
AZURE_SUBSCRIPTION_ID / AZURE_RESOURCE_GROUP for the management-plane services.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from providers.azure.credentials import default_credential
from providers.azure.settings import ARM_ENDPOINT, ENV_VARS, AzureSettings
from providers.base import CloudCompute, CloudStorage
from providers.errors import ConfigurationError, sdk_missing
from providers.settings import check_overrides
from providers.vm import VMProvider

if TYPE_CHECKING:
    from providers.azure.compute import AzureVirtualMachines
    from providers.azure.cost import AzureCostManagement
    from providers.azure.database import AzureSqlDatabase
    from providers.azure.logs import AzureMonitorLogs
    from providers.azure.metrics import AzureMonitorMetrics
    from providers.azure.monitor import MonitorStreamService
    from providers.azure.secrets import AzureKeyVaultSecrets
    from providers.azure.storage import AzureBlobStorage

M = TypeVar("M", bound="MonitorStreamService")

DEFAULT_VM_SIZE = "Standard_B1s"


class AzureProvider(VMProvider):
    """Azure: Blob Storage, Monitor, Key Vault, Virtual Machines, SQL, Cost Management."""

    name: ClassVar[str] = "azure"
    extra: ClassVar[str] = "azure"

    def __init__(
        self, settings: AzureSettings | None = None, *, credential: Any = None, **overrides: Any
    ) -> None:
        check_overrides(AzureSettings, "azure", overrides)
        if settings is None:
            self.settings = AzureSettings.from_env(**overrides)
        else:
            self.settings = replace(settings, **overrides) if overrides else settings
        self._credential = credential
        self._services: dict[str, Any] = {}

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"AzureProvider(subscription={s.subscription_id!r}, "
            f"resource_group={s.resource_group!r}, container={s.container!r})"
        )

    # ------------------------------------------------------------------ credentials
    @property
    def credential(self) -> Any:
        """The explicit credential, a service principal from the settings, or the default."""
        if self._credential is None:
            s = self.settings
            if s.tenant_id and s.client_id and s.client_secret:
                try:
                    from azure.identity import ClientSecretCredential
                except ImportError as exc:
                    raise sdk_missing("azure", "azure-identity", "azure") from exc
                self._credential = ClientSecretCredential(s.tenant_id, s.client_id, s.client_secret)
            else:
                self._credential = default_credential()
        return self._credential

    @classmethod
    def sdk_available(cls) -> bool:
        return importlib.util.find_spec("azure.storage.blob") is not None

    @classmethod
    def credentials_found(cls) -> bool | None:
        """Whether some Azure credential is configured, judged without a network call."""
        env = os.environ
        if env.get("AZURE_STORAGE_CONNECTION_STRING"):
            return True
        proofs = (
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
        )
        if env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID") and any(map(env.get, proofs)):
            return True  # a service principal or workload identity
        if env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT"):
            return True  # managed identity
        azure_dir = Path(env.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
        return any(azure_dir.glob("msal_token_cache*"))  # `az login` was run

    def _require(self, *names: str) -> None:
        missing = [n for n in names if not getattr(self.settings, n)]
        if missing:
            env = ", ".join(ENV_VARS.get(n, n) for n in missing)
            raise ConfigurationError(
                f"missing Azure settings: {', '.join(missing)}",
                provider="azure",
                operation="configure",
                hint=f"Set them on the block, as arguments, or in the environment ({env})",
            )

    def _mgmt_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.arm_endpoint,
            "connection_verify": self.settings.connection_verify,
            "sdk_retries": self.settings.sdk_retries,
        }

    def _cached(self, key: str, build: Any) -> Any:
        if key not in self._services:
            self._services[key] = build()
        return self._services[key]

    # ------------------------------------------------------------------ services
    def get_storage(self, bucket: str | None = None) -> CloudStorage:
        # ServiceAdapter's provider_name is a ClassVar, which mypy will not match with the
        # protocol's instance attribute; the object is an AzureBlobStorage all the same
        return cast(CloudStorage, self.blob_storage(bucket))

    def blob_storage(self, bucket: str | None = None) -> AzureBlobStorage:
        """The container's AzureBlobStorage (get_storage, typed as the concrete class)."""
        container = bucket or self.settings.container
        if not container:
            raise ConfigurationError(
                "no container given",
                provider="azure",
                operation="get_storage",
                hint="Pass a container (az://container) or set AZURE_STORAGE_CONTAINER",
            )

        def build() -> AzureBlobStorage:
            from providers.azure.storage import AzureBlobStorage

            s = self.settings
            cred = None if s.connection_string else self.credential
            if not s.connection_string and not s.account_url:
                self._require("connection_string")
            return AzureBlobStorage(
                container,
                connection_string=s.connection_string,
                account_url=s.account_url,
                credential=cred,
                max_concurrency=s.max_concurrency,
                max_block_size=s.max_block_size,
                encryption_scope=s.encryption_scope,
                sdk_retries=s.sdk_retries,
            )

        storage: AzureBlobStorage = self._cached(f"storage:{container}", build)
        return storage

    def get_cost(self) -> AzureCostManagement:
        def build() -> AzureCostManagement:
            from providers.azure.cost import AzureCostManagement

            scope = self.settings.cost_scope
            if not scope:
                self._require("subscription_id")
                scope = f"/subscriptions/{self.settings.subscription_id}"
            return AzureCostManagement(self.credential, scope, **self._mgmt_options())

        cost: AzureCostManagement = self._cached("cost", build)
        return cost

    def get_compute(self) -> AzureVirtualMachines:
        def build() -> AzureVirtualMachines:
            self._require("subscription_id", "resource_group")
            from providers.azure.compute import AzureVirtualMachines

            s = self.settings
            return AzureVirtualMachines(
                self.credential,
                str(s.subscription_id),
                str(s.resource_group),
                region=s.region,
                poll_interval=s.poll_interval,
                **self._mgmt_options(),
            )

        compute: AzureVirtualMachines = self._cached("compute", build)
        return compute

    def get_database(self) -> AzureSqlDatabase:
        def build() -> AzureSqlDatabase:
            self._require("subscription_id", "resource_group")
            from providers.azure.database import AzureSqlDatabase

            s = self.settings
            return AzureSqlDatabase(
                self.credential,
                str(s.subscription_id),
                str(s.resource_group),
                region=s.region,
                poll_interval=s.poll_interval,
                **self._mgmt_options(),
            )

        database: AzureSqlDatabase = self._cached("database", build)
        return database

    def get_secrets(self) -> AzureKeyVaultSecrets:
        def build() -> AzureKeyVaultSecrets:
            self._require("key_vault_url")
            from providers.azure.secrets import AzureKeyVaultSecrets

            s = self.settings
            return AzureKeyVaultSecrets(
                str(s.key_vault_url),
                self.credential,
                connection_verify=s.connection_verify,
                verify_challenge_resource=s.key_vault_verify_challenge,
                sdk_retries=s.sdk_retries,
                poll_interval=s.poll_interval,
            )

        secrets: AzureKeyVaultSecrets = self._cached("secrets", build)
        return secrets

    def _monitor_service(self, cls: type[M], stream: str | None) -> M:
        """A Log Analytics stream service (metrics or logs), built once."""

        def build() -> M:
            self._require("ingestion_endpoint", "dcr_rule_id", "logs_workspace_id")
            s = self.settings
            return cls(
                self.credential,
                ingestion_endpoint=str(s.ingestion_endpoint),
                rule_id=str(s.dcr_rule_id),
                workspace_id=str(s.logs_workspace_id),
                stream=stream,
                query_endpoint=s.logs_query_endpoint,
                connection_verify=s.connection_verify,
                sdk_retries=s.sdk_retries,
            )

        service: M = self._cached(cls.service_name, build)
        return service

    def get_metrics(self) -> AzureMonitorMetrics:
        from providers.azure.metrics import AzureMonitorMetrics

        return self._monitor_service(AzureMonitorMetrics, self.settings.metrics_stream)

    def get_logging(self) -> AzureMonitorLogs:
        from providers.azure.logs import AzureMonitorLogs

        return self._monitor_service(AzureMonitorLogs, self.settings.dcr_stream)

    # ------------------------------------------------------------------ deploy
    # the body is VMProvider's; these say where
    def deploy_placement(self, region: str | None) -> tuple[str, AzureVirtualMachines]:
        """VMs go to the resource group's compute, in region or the settings' region."""
        return region or self.settings.region, self.get_compute()

    def artifact_storage(self, *, create: bool = False) -> CloudStorage:
        """The configured container (created when missing and create is set)."""
        storage = self.blob_storage()
        if create:
            storage.create_bucket()
        return cast(CloudStorage, storage)

    def remove_leftovers(self, compute: CloudCompute, deployment_id: str) -> None:
        """The network pieces of a VM whose creation failed half-way (named after it)."""
        from providers.azure.compute import vm_name

        compute.terminate_instance(vm_name(f"specify-{deployment_id}"))


__all__ = ["ARM_ENDPOINT", "ENV_VARS", "AzureProvider", "AzureSettings", "default_credential"]
