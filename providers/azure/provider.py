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
import time
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from providers.base import CloudProvider, CloudStorage, DeploymentResult, InstanceSpec
from providers.errors import CloudError, ConfigurationError, DeploymentError, sdk_missing
from providers.telemetry import record_operation

if TYPE_CHECKING:
    from providers.azure.compute import AzureVirtualMachines
    from providers.azure.cost import AzureCostManagement
    from providers.azure.database import AzureSqlDatabase
    from providers.azure.logs import AzureMonitorLogs
    from providers.azure.metrics import AzureMonitorMetrics
    from providers.azure.secrets import AzureKeyVaultSecrets
    from providers.azure.storage import AzureBlobStorage

ARM_ENDPOINT = "https://management.azure.com"
DEPLOYMENT_TAG = "specify-deployment"

#: environment variable for each setting (the Azure SDKs' own names where they exist)
ENV_VARS = {
    "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "account_url": "AZURE_STORAGE_ACCOUNT_URL",
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "client_secret": "AZURE_CLIENT_SECRET",
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "resource_group": "AZURE_RESOURCE_GROUP",
    "container": "AZURE_STORAGE_CONTAINER",
    "region": "AZURE_REGION",
    "key_vault_url": "AZURE_KEYVAULT_URL",
    "logs_workspace_id": "AZURE_LOG_ANALYTICS_WORKSPACE_ID",
    "ingestion_endpoint": "AZURE_MONITOR_INGESTION_ENDPOINT",
    "dcr_rule_id": "AZURE_MONITOR_DCR_ID",
    "dcr_stream": "AZURE_MONITOR_DCR_STREAM",
    "metrics_resource_id": "AZURE_MONITOR_METRICS_RESOURCE_ID",
    "arm_endpoint": "AZURE_RESOURCE_MANAGER_ENDPOINT",
}


@dataclass(frozen=True)
class AzureSettings:
    """Everything the Azure services need. Secrets stay out of repr."""

    connection_string: str | None = field(default=None, repr=False)
    account_url: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    subscription_id: str | None = None
    resource_group: str | None = None
    container: str | None = None
    region: str = "eastus"
    key_vault_url: str | None = None
    logs_workspace_id: str | None = None
    ingestion_endpoint: str | None = None
    dcr_rule_id: str | None = None
    dcr_stream: str | None = None
    metrics_resource_id: str | None = None
    cost_scope: str | None = None
    arm_endpoint: str = ARM_ENDPOINT
    #: True, False or a CA bundle path: TLS verification for every management client
    connection_verify: bool | str = True
    #: retries inside the SDK pipeline for each call (the operation decorator adds its own)
    sdk_retries: int = 2
    #: block upload tuning for Blob Storage
    max_concurrency: int = 4
    max_block_size: int = 4 * 1024 * 1024
    encryption_scope: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> AzureSettings:
        """Settings from the Azure environment; non-empty overrides win."""
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            if os.environ.get(var):
                values[name] = os.environ[var]
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigurationError(
                f"unknown Azure settings: {', '.join(sorted(unknown))}",
                provider="azure",
                operation="configure",
                hint=f"Known settings: {', '.join(sorted(known))}",
            )
        return cls(**values)


def default_credential() -> Any:
    """DefaultAzureCredential (environment, workload/managed identity, Azure CLI…)."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise sdk_missing("azure", "azure-identity", "azure") from exc
    return DefaultAzureCredential()


class AzureProvider(CloudProvider):
    """Azure: Blob Storage, Monitor, Key Vault, Virtual Machines, SQL, Cost Management."""

    name: ClassVar[str] = "azure"
    extra: ClassVar[str] = "azure"

    def __init__(
        self, settings: AzureSettings | None = None, *, credential: Any = None, **overrides: Any
    ) -> None:
        base = settings or AzureSettings.from_env()
        self.settings = replace(base, **overrides) if overrides else base
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
                **self._mgmt_options(),
            )

        database: AzureSqlDatabase = self._cached("database", build)
        return database

    def get_secrets(self) -> AzureKeyVaultSecrets:
        def build() -> AzureKeyVaultSecrets:
            self._require("key_vault_url")
            from providers.azure.secrets import AzureKeyVaultSecrets

            return AzureKeyVaultSecrets(
                str(self.settings.key_vault_url),
                self.credential,
                connection_verify=self.settings.connection_verify,
            )

        secrets: AzureKeyVaultSecrets = self._cached("secrets", build)
        return secrets

    def get_metrics(self) -> AzureMonitorMetrics:
        def build() -> AzureMonitorMetrics:
            self._require("ingestion_endpoint", "dcr_rule_id", "logs_workspace_id")
            from providers.azure.metrics import AzureMonitorMetrics

            s = self.settings
            return AzureMonitorMetrics(
                self.credential,
                ingestion_endpoint=str(s.ingestion_endpoint),
                rule_id=str(s.dcr_rule_id),
                workspace_id=str(s.logs_workspace_id),
                connection_verify=s.connection_verify,
            )

        metrics: AzureMonitorMetrics = self._cached("metrics", build)
        return metrics

    def get_logging(self) -> AzureMonitorLogs:
        def build() -> AzureMonitorLogs:
            self._require("ingestion_endpoint", "dcr_rule_id", "logs_workspace_id")
            from providers.azure.logs import AzureMonitorLogs

            s = self.settings
            return AzureMonitorLogs(
                self.credential,
                ingestion_endpoint=str(s.ingestion_endpoint),
                rule_id=str(s.dcr_rule_id),
                workspace_id=str(s.logs_workspace_id),
                stream=s.dcr_stream or "Custom-SpecifyLogs_CL",
                connection_verify=s.connection_verify,
            )

        logs: AzureMonitorLogs = self._cached("logs", build)
        return logs

    # ------------------------------------------------------------------ deploy
    def deploy(
        self,
        artifact: Path | str,
        region: str,
        *,
        instance_type: str | None = None,
        deployment_id: str | None = None,
        run_command: str | None = None,
        port: int | None = None,
        timeout: float = 300.0,
    ) -> DeploymentResult:
        """Upload the artifact, start a VM that fetches it by SAS URL, wait until running."""
        started = time.perf_counter()
        dep_id = deployment_id or f"dep-{uuid.uuid4().hex[:12]}"
        region = region or self.settings.region
        path = Path(artifact)
        try:
            storage = self.blob_storage()
            storage.ensure_container()
            key = f"deployments/{dep_id}/{path.name}"
            storage.upload(path, key, metadata={DEPLOYMENT_TAG: dep_id})
            url = storage.get_url(key, expires_in=max(3600, int(timeout) * 2))
            compute = self.get_compute()
            spec = InstanceSpec(
                name=f"specify-{dep_id}"[:64],
                instance_type=instance_type or "Standard_B1s",
                user_data=startup_script(url, path.name, run_command),
                tags={DEPLOYMENT_TAG: dep_id},
                port=port,
                region=region,
            )
            existing = compute.list_instances({DEPLOYMENT_TAG: dep_id})
            instance = existing[0] if existing else compute.create_instance(spec)
            instance = compute.wait_until_running(instance.instance_id, timeout=timeout)
        except CloudError as err:
            duration = time.perf_counter() - started
            record_operation("deploy", self.name, duration, None)
            if isinstance(err, ConfigurationError):
                raise
            return DeploymentResult(
                provider=self.name,
                region=region,
                deployment_id=dep_id,
                state="failed",
                duration_s=duration,
                error=str(err),
            )
        duration = time.perf_counter() - started
        record_operation("deploy", self.name, duration, None)
        return DeploymentResult(
            provider=self.name,
            region=region,
            deployment_id=dep_id,
            state="running",
            instance_id=instance.instance_id,
            address=instance.public_address,
            artifact_url=url,
            duration_s=duration,
        )

    def destroy(self, deployment_id: str) -> int:
        """Delete the VMs (and their network pieces) tagged with deployment_id; return count."""
        compute = self.get_compute()
        removed = 0
        for inst in compute.list_instances({DEPLOYMENT_TAG: deployment_id}):
            removed += bool(compute.terminate_instance(inst.instance_id))
        return removed


def startup_script(url: str, filename: str, run_command: str | None) -> str:
    """cloud-init custom data: fetch the artifact through its SAS URL, then run it."""
    run = run_command or f"chmod +x ./{filename} && ./{filename}"
    # the URL is single-quoted: SAS query strings contain '&'
    return (
        "#!/bin/sh\n"
        "set -e\n"
        "mkdir -p /opt/specify && cd /opt/specify\n"
        f"curl -fsSL --retry 5 -o '{filename}' '{url}'\n"
        f"nohup sh -c '{run.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}' "
        "> /var/log/specify-app.log 2>&1 &\n"
    )


__all__ = ["DEPLOYMENT_TAG", "AzureProvider", "AzureSettings", "DeploymentError"]
