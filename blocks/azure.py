"""The Azure credentials block: what AzureProvider needs, stored in Prefect.

Field names follow prefect-azure (`connection_string`, `account_url`, `tenant_id`,
`client_id`, `client_secret`), plus the subscription, resource group, container and
Monitor workspace settings. Empty fields fall back to the standard Azure environment and
DefaultAzureCredential, so a block may hold as little as a subscription id.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr

from blocks.base import ProviderBlock
from providers.azure.provider import AzureProvider, AzureSettings


class SpecifyAzure(ProviderBlock):
    """Azure credentials and settings; `.provider()` builds an AzureProvider."""

    _block_type_name: ClassVar[str] = "Specify Azure"
    _block_type_slug: ClassVar[str] = "specify-azure"
    _description: ClassVar[str] = (
        "Azure credentials and settings for specify-cloud (Blob Storage, Monitor, Key Vault, "
        "Virtual Machines, SQL, Cost Management). Empty fields use DefaultAzureCredential."
    )

    connection_string: SecretStr | None = Field(
        default=None, description="Storage account connection string (includes the key)."
    )
    account_url: str | None = Field(
        default=None, description="Blob endpoint, e.g. https://ACCOUNT.blob.core.windows.net"
    )
    tenant_id: str | None = Field(default=None, description="Entra ID tenant of the app.")
    client_id: str | None = Field(default=None, description="Application (client) id.")
    client_secret: SecretStr | None = Field(default=None, description="Client secret.")
    subscription_id: str | None = Field(default=None, description="Subscription id.")
    resource_group: str | None = Field(default=None, description="Resource group for VMs/SQL.")
    container: str | None = Field(default=None, description="Default blob container.")
    region: str | None = Field(default=None, description="Azure region, e.g. westeurope.")
    key_vault_url: str | None = Field(default=None, description="https://VAULT.vault.azure.net")
    logs_workspace_id: str | None = Field(default=None, description="Log Analytics workspace id.")
    ingestion_endpoint: str | None = Field(
        default=None, description="Data collection endpoint for Monitor ingestion."
    )
    dcr_rule_id: str | None = Field(default=None, description="Data collection rule immutable id.")
    dcr_stream: str | None = Field(default=None, description="DCR stream for logs.")

    def settings(self) -> AzureSettings:
        """AzureSettings from the non-empty fields, the environment filling the rest."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value not in (None, ""):
                values[name] = value
        return AzureSettings.from_env(**values)

    def provider(self, **overrides: Any) -> AzureProvider:
        """An AzureProvider with these settings; overrides (e.g. credential=) win."""
        credential = overrides.pop("credential", None)
        settings = self.settings()
        if overrides:
            settings = AzureSettings.from_env(**{**settings.__dict__, **overrides})
        return AzureProvider(settings, credential=credential)
