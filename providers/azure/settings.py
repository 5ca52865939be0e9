"""AzureSettings: everything AzureProvider needs, as one frozen value (imports no SDK).

`AzureSettings.from_env()` reads the standard Azure environment:
AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_URL with whatever
DefaultAzureCredential finds (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, a
managed identity, the Azure CLI login), AZURE_SUBSCRIPTION_ID / AZURE_RESOURCE_GROUP for
the management plane, and the variables in ENV_VARS for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.settings import build_settings, environment

ARM_ENDPOINT = "https://management.azure.com"

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
    "logs_query_endpoint": "AZURE_LOG_ANALYTICS_ENDPOINT",
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
    #: whether Key Vault's auth challenge must name a resource in the vault's own domain
    key_vault_verify_challenge: bool = True
    logs_workspace_id: str | None = None
    ingestion_endpoint: str | None = None
    dcr_rule_id: str | None = None
    dcr_stream: str | None = None
    metrics_stream: str = "Custom-SpecifyMetrics_CL"
    logs_query_endpoint: str = "https://api.loganalytics.io"
    cost_scope: str | None = None
    arm_endpoint: str = ARM_ENDPOINT
    #: True, False or a CA bundle path: TLS verification for every management client
    connection_verify: bool | str = True
    #: seconds between polls of long-running operations when Azure sends no Retry-After
    poll_interval: float = 5.0
    #: retries inside the SDK pipeline for each call (the operation decorator adds its own)
    sdk_retries: int = 2
    #: block upload tuning for Blob Storage
    max_concurrency: int = 4
    max_block_size: int = 4 * 1024 * 1024
    encryption_scope: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> AzureSettings:
        """Settings from the Azure environment (env, else os.environ); non-empty overrides
        win. Credentials are taken as one: a connection string or service principal in
        the overrides means none of the environment's credential variables are read."""
        e = environment(env)
        given = {k for k, v in overrides.items() if v not in (None, "")}
        skip = _CREDENTIAL_FIELDS if given & _CREDENTIAL_FIELDS else set()
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            if e.get(var) and name not in skip:
                values[name] = e[var]
        return build_settings(cls, "azure", values, overrides)


_CREDENTIAL_FIELDS = {"connection_string", "account_url", "tenant_id", "client_id", "client_secret"}

__all__ = ["ARM_ENDPOINT", "ENV_VARS", "AzureSettings"]
