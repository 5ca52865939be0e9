"""The Azure credentials block: what AzureProvider needs, stored in Prefect.

Field names follow prefect-azure (`connection_string`, `account_url`, `tenant_id`,
`client_id`, `client_secret`), plus the subscription, resource group, container and
Monitor workspace settings. Credentials come from one place: a nested prefect-azure
`AzureBlobStorageCredentials` block when `credentials` is set, else these fields. Empty
fields fall back to the standard Azure environment and DefaultAzureCredential, so a
block may hold as little as a subscription id.
"""

from __future__ import annotations

from typing import Any, ClassVar

from prefect_azure import AzureBlobStorageCredentials
from pydantic import Field, HttpUrl, SecretStr

from blocks.base import ProviderBlock
from providers.azure.provider import AzureProvider
from providers.azure.settings import AzureSettings

AZURE_LOGO = (
    "https://cdn.sanity.io/images/3ugk85nk/production/"
    "54e3fa7e00197a4fbd1d82ed62494cb58d08c96a-250x250.png"
)
_CREDENTIAL_FIELDS = ("connection_string", "account_url", "tenant_id", "client_id", "client_secret")


def credentials_overrides(creds: AzureBlobStorageCredentials) -> dict[str, Any]:
    """AzureSettings fields from a prefect-azure credentials block (same field names)."""
    out: dict[str, Any] = {}
    for name in _CREDENTIAL_FIELDS:
        value = getattr(creds, name, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        out[name] = value or None
    return out


class SpecifyAzure(ProviderBlock):
    """Azure credentials and settings; `.provider()` builds an AzureProvider.

    Example:
        Load a saved block and list a container:
        ```python
        from blocks.azure import SpecifyAzure

        azure = SpecifyAzure.load("BLOCK_NAME")
        for obj in azure.provider().get_storage().list_objects("reports/"):
            print(obj.key, obj.size)
        ```
    """

    _block_type_name: ClassVar[str] = "Specify Azure"
    _block_type_slug: ClassVar[str] = "specify-azure"
    _logo_url = HttpUrl(AZURE_LOGO)
    _documentation_url = HttpUrl(
        "https://learn.microsoft.com/python/api/overview/azure/identity-readme"
    )
    _description: ClassVar[str] = (
        "Azure credentials and settings for specify-cloud (Blob Storage, Monitor, Key Vault, "
        "Virtual Machines, SQL, Cost Management). Empty fields use DefaultAzureCredential."
    )

    credentials: AzureBlobStorageCredentials | None = Field(
        default=None,
        description="A prefect-azure Azure Blob Storage Credentials block; when set, its "
        "connection string or service principal is used instead of the fields below.",
    )

    connection_string: SecretStr | None = Field(
        default=None, description="Storage account connection string (includes the key)."
    )
    account_url: str | None = Field(
        default=None, description="Blob endpoint, e.g. https://ACCOUNT.blob.core.windows.net."
    )
    tenant_id: str | None = Field(default=None, description="Entra ID tenant of the app.")
    client_id: str | None = Field(default=None, description="Application (client) id.")
    client_secret: SecretStr | None = Field(default=None, description="Client secret.")
    subscription_id: str | None = Field(default=None, description="Subscription id.")
    resource_group: str | None = Field(default=None, description="Resource group for VMs/SQL.")
    container: str | None = Field(default=None, description="Default blob container.")
    region: str | None = Field(default=None, description="Azure region, e.g. westeurope.")
    key_vault_url: str | None = Field(
        default=None, description="Key Vault URL, https://VAULT.vault.azure.net."
    )
    logs_workspace_id: str | None = Field(default=None, description="Log Analytics workspace id.")
    ingestion_endpoint: str | None = Field(
        default=None, description="Data collection endpoint for Monitor ingestion."
    )
    dcr_rule_id: str | None = Field(default=None, description="Data collection rule immutable id.")
    dcr_stream: str | None = Field(default=None, description="DCR stream for logs.")

    def settings(self) -> AzureSettings:
        """AzureSettings from the non-empty fields (the nested credentials block's first),
        the environment filling the rest."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name == "credentials":
                continue
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value not in (None, ""):
                values[name] = value
        if self.credentials is not None:
            for name in _CREDENTIAL_FIELDS:
                values.pop(name, None)
            values.update(credentials_overrides(self.credentials))
        return AzureSettings.from_env(**values)

    def provider(self, **overrides: Any) -> AzureProvider:
        """An AzureProvider with these settings; overrides (e.g. credential=) win."""
        credential = overrides.pop("credential", None)
        settings = self.settings()
        if overrides:
            settings = AzureSettings.from_env(**{**settings.__dict__, **overrides})
        return AzureProvider(settings, credential=credential)
