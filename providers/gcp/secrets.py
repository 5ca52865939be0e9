"""Secret Manager (google-cloud-secret-manager, REST transport).

Setting a name that exists adds a version; a new name is created with automatic
replication first. Payloads carry a crc32c both ways. Values never reach an error message,
a log line or the audit record: those name the secret only.
"""

from __future__ import annotations

import re
from typing import Any

from providers.base import SecretMetadata, SecretValue
from providers.errors import CloudError, ConfigurationError
from providers.gcp.common import GCPService, require, utc
from providers.operation import cloud_operation

_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")


def _crc32c(data: bytes) -> int:
    crc = require("google_crc32c", "google-crc32c")
    return int(crc.value(data))


class SecretManagerSecrets(GCPService):
    """Secrets of one project."""

    service_name = "secretmanager"

    def __init__(self, project: str, *, credentials: Any = None, client_options: Any = None):
        super().__init__(project)
        sm = require("google.cloud.secretmanager_v1", "google-cloud-secret-manager")
        self._sm = sm
        self.client = sm.SecretManagerServiceClient(
            credentials=credentials, client_options=client_options, transport="rest"
        )

    def _path(self, name: str) -> str:
        if not _NAME.match(name):
            raise ConfigurationError(
                f"'{name}' is not a valid secret id",
                provider=self.provider_name,
                operation="secret name",
                hint="Use letters, digits, '-' and '_' (at most 255)",
            )
        return f"projects/{self.project}/secrets/{name}"

    def _metadata(self, secret: Any, versions: int | None = None) -> SecretMetadata:
        return SecretMetadata(
            name=secret.name.rsplit("/", 1)[-1],
            created=utc(secret.create_time) if secret.create_time else None,
            versions=versions,
            tags=dict(secret.labels),
        )

    @cloud_operation("set_secret", kind=CloudError, mutating=True, resource="name")
    def set_secret(self, name: str, value: str) -> SecretMetadata:
        """Add a version (creating the secret first when it does not exist)."""
        from google.api_core.exceptions import NotFound

        path = self._path(name)
        data = value.encode()
        payload = self._sm.SecretPayload(data=data, data_crc32c=_crc32c(data))
        try:
            version = self.client.add_secret_version(parent=path, payload=payload)
        except NotFound:
            self.client.create_secret(
                parent=f"projects/{self.project}",
                secret_id=name,
                secret=self._sm.Secret(
                    replication=self._sm.Replication(automatic=self._sm.Replication.Automatic()),
                    labels={"managed-by": "specify-cloud"},
                ),
            )
            version = self.client.add_secret_version(parent=path, payload=payload)
        secret = self.client.get_secret(name=path)
        number = version.name.rsplit("/", 1)[-1]
        return self._metadata(secret, int(number) if number.isdigit() else None)

    @cloud_operation("get_secret", kind=CloudError, resource="name")
    def get_secret(self, name: str, version: str | None = None) -> SecretValue:
        """The value at version (a number, or None/'latest' for the newest enabled one)."""
        response = self.client.access_secret_version(
            name=f"{self._path(name)}/versions/{version or 'latest'}"
        )
        data = bytes(response.payload.data)
        if "data_crc32c" in response.payload and response.payload.data_crc32c != _crc32c(data):
            raise CloudError(
                "the payload's crc32c does not match its bytes",
                provider=self.provider_name,
                operation="get_secret",
                resource=name,
                hint="Try again; the value was corrupted in transit",
                retryable=True,
            )
        return SecretValue(
            name=name,
            version=response.name.rsplit("/", 1)[-1],
            value=data.decode(),
            created=None,
        )

    @cloud_operation("list_secrets", kind=CloudError, resource=None)
    def list_secrets(self) -> list[SecretMetadata]:
        pager = self.client.list_secrets(request={"parent": f"projects/{self.project}"})
        return [self._metadata(s) for s in pager]

    @cloud_operation("list_versions", kind=CloudError, resource="name")
    def list_versions(self, name: str) -> list[str]:
        """Version numbers of a secret, newest first."""
        pager = self.client.list_secret_versions(request={"parent": self._path(name)})
        numbers = [v.name.rsplit("/", 1)[-1] for v in pager]
        return sorted(numbers, key=lambda n: int(n) if n.isdigit() else -1, reverse=True)

    @cloud_operation("delete_secret", kind=CloudError, mutating=True, resource="name")
    def delete_secret(self, name: str) -> bool:
        """Delete the secret and all its versions; False when it did not exist."""
        from google.api_core.exceptions import NotFound

        try:
            self.client.delete_secret(name=self._path(name))
        except NotFound:
            return False
        return True
