"""Azure Key Vault secrets (azure-keyvault-secrets) as CloudSecrets.

Setting an existing name adds a version, as in Key Vault itself. Deleting is Key Vault's
soft delete (waited on); `purge=True` also purges, for vaults where that is allowed.
Secret values never enter messages, logs or repr.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from providers.azure.adapter import AzureAdapter, sdk_import_error
from providers.base import SecretMetadata, SecretValue
from providers.errors import CloudError, ConfigurationError
from providers.operation import cloud_operation

try:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.keyvault.secrets import SecretClient
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise sdk_import_error("azure-keyvault-secrets") from exc


#: secret-name in Key Vault's secrets.json: "^[0-9a-zA-Z-]+$" (at most 127 characters)
_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")


def check_name(name: str) -> str:
    """A name Key Vault accepts, or a ConfigurationError saying which characters it takes."""
    if not _NAME.match(name):
        raise ConfigurationError(
            f"{name!r} is not a valid Key Vault secret name",
            provider="azure",
            operation="secret name",
            hint="Use 1-127 letters, digits and hyphens (no underscores, dots or slashes)",
        )
    return name


def _metadata(props: Any, versions: int | None = None) -> SecretMetadata:
    return SecretMetadata(
        name=str(props.name),
        created=props.created_on,
        updated=props.updated_on,
        versions=versions,
        tags=dict(props.tags or {}),
    )


class AzureKeyVaultSecrets(AzureAdapter):
    """Secrets in one Key Vault."""

    service_name: ClassVar[str] = "keyvault"
    not_found_hint: ClassVar[str] = "Check the secret name and version"

    def __init__(
        self,
        vault_url: str,
        credential: Any,
        *,
        connection_verify: bool | str = True,
        verify_challenge_resource: bool = True,
        sdk_retries: int = 2,
        poll_interval: float = 2.0,
    ) -> None:
        self.vault_url = vault_url.rstrip("/")
        self.poll_interval = poll_interval
        self.client = SecretClient(
            self.vault_url,
            credential,
            # the challenge names the resource to get a token for; Azure's is *.vault.azure.net
            verify_challenge_resource=verify_challenge_resource,
            connection_verify=connection_verify,
            retry_total=sdk_retries,
        )

    @property
    def location(self) -> str:
        return self.vault_url

    def describe(self, resource: str | None) -> str:
        return f"vault {self.vault_url}"

    @cloud_operation("set_secret", mutating=True, resource="name")
    def set_secret(self, name: str, value: str) -> SecretMetadata:
        secret = self.client.set_secret(check_name(name), value)
        return _metadata(secret.properties)

    @cloud_operation("get_secret", resource="name")
    def get_secret(self, name: str, version: str | None = None) -> SecretValue:
        secret = self.client.get_secret(check_name(name), version)
        return SecretValue(
            name=str(secret.name),
            version=str(secret.properties.version),
            value=str(secret.value or ""),
            created=secret.properties.created_on,
        )

    @cloud_operation("list_secrets", resource=None)
    def list_secrets(self) -> list[SecretMetadata]:
        return [_metadata(p) for p in self.client.list_properties_of_secrets()]

    @cloud_operation("list_versions", resource="name")
    def list_versions(self, name: str) -> list[str]:
        """Version ids of one secret, oldest first."""
        props = list(self.client.list_properties_of_secret_versions(check_name(name)))
        props.sort(key=lambda p: (p.created_on is None, p.created_on))
        return [str(p.version) for p in props]

    @cloud_operation("delete_secret", mutating=True, resource="name")
    def delete_secret(self, name: str, purge: bool = False) -> bool:
        try:
            # the SDK reads the poll interval from this underscored keyword only
            poller = self.client.begin_delete_secret(
                check_name(name), _polling_interval=self.poll_interval
            )
        except ResourceNotFoundError:
            return False
        poller.wait()  # Key Vault's poller returns from result() without waiting
        if purge:
            self.client.purge_deleted_secret(name)
        return True

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        err = super().map_error(exc, operation=operation, resource=resource, kind=kind)
        if "Forbidden" in err.message or "AccessDenied" in err.message:
            err.hint = "Grant the identity the 'Key Vault Secrets Officer' role on the vault"
        return err
