"""The Azure edge of the error mapping, shared by every Azure service module.

azure-core raises one family of exceptions for every Azure SDK, so one `map_error`
serves Blob Storage, Resource Manager, Key Vault, Monitor and Cost Management.
"""

from __future__ import annotations

from typing import ClassVar

from providers.errors import CloudError, CredentialsError, IntegrityError, NotFoundError
from providers.operation import ServiceAdapter, error_for_status, map_generic_error

#: error codes Azure uses for throttling with statuses that are otherwise not transient
_THROTTLING_CODES = frozenset(
    {"ServerBusy", "OperationTimedOut", "TooManyRequests", "RetryableError", "InternalError"}
)


class AzureAdapter(ServiceAdapter):
    """Base of the Azure services: azure-core exceptions → the project's errors."""

    provider_name: ClassVar[str] = "azure"
    auth_hint: ClassVar[str] = (
        "Check AZURE_STORAGE_CONNECTION_STRING, or the AZURE_TENANT_ID / AZURE_CLIENT_ID / "
        "AZURE_CLIENT_SECRET of DefaultAzureCredential, and the role assignments in "
        "docs/iam/azure-roles.yaml"
    )
    not_found_hint: ClassVar[str] = "Check the name, or create it first"

    def describe(self, resource: str | None) -> str:
        """Where the failure happened, for the message (account/container, resource group…)."""
        return self.location or ""

    def map_error(
        self,
        exc: Exception,
        *,
        operation: str,
        resource: str | None,
        kind: type[CloudError],
    ) -> CloudError:
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = self.describe(resource)
        prefix = f"in {where}: " if where else ""
        if isinstance(exc, ClientAuthenticationError):
            return CredentialsError(
                f"{prefix}not authorized ({_short(exc)})",
                provider=self.provider_name,
                operation=operation,
                resource=resource,
                hint=self.auth_hint,
            )
        if isinstance(exc, ResourceNotFoundError):
            return NotFoundError(
                f"{prefix}{_code(exc) or 'not found'}",
                provider=self.provider_name,
                operation=operation,
                resource=resource,
                hint=self.not_found_hint,
            )
        if isinstance(exc, AzureError) and "MD5 mismatch" in str(exc):
            # the SDK's check of a range against the MD5 the service computed for it
            return IntegrityError(
                f"{prefix}checksum mismatch on read ({_short(exc)})",
                provider=self.provider_name,
                operation=operation,
                resource=resource,
            )
        if isinstance(exc, HttpResponseError) and (
            _code(exc) in ("Md5Mismatch", "Crc64Mismatch")
            or "contentMD5 doesn't match" in str(exc)  # Azurite's answer
        ):
            # the service refused a body that did not match its transactional checksum
            return IntegrityError(
                f"{prefix}checksum mismatch ({_short(exc)})",
                provider=self.provider_name,
                operation=operation,
                resource=resource,
                hint="The bytes were damaged in transit; they are sent again",
            )
        if isinstance(exc, HttpResponseError):
            status = exc.status_code
            code = _code(exc)
            if code in _THROTTLING_CODES and (status is None or status < 500):
                status = 503
            return error_for_status(
                status,
                f"{prefix}HTTP {exc.status_code} {code or ''} ({_short(exc)})".replace("  ", " "),
                provider=self.provider_name,
                operation=operation,
                resource=resource,
                kind=kind,
                auth_hint=self.auth_hint,
                not_found_hint=self.not_found_hint,
            )
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            # no answer, or the connection dropped mid-answer: worth another try
            return kind(
                f"{prefix}connection failed ({_short(exc)})",
                provider=self.provider_name,
                operation=operation,
                resource=resource,
                retryable=True,
                hint="Check that the endpoint is reachable",
            )
        return map_generic_error(
            exc, provider=self.provider_name, operation=operation, resource=resource, kind=kind
        )


def _code(exc: Exception) -> str | None:
    code = getattr(exc, "error_code", None)
    if code:
        return str(getattr(code, "value", code))  # Storage gives a StorageErrorCode enum
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", "") or "") or None


def _short(exc: Exception) -> str:
    """The first line of an SDK message (the rest repeats headers and request ids)."""
    text = str(getattr(exc, "message", None) or exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]


def sdk_import_error(package: str) -> CloudError:
    """ProviderNotAvailableError for a missing Azure SDK package."""
    from providers.errors import sdk_missing

    return sdk_missing("azure", package, "azure")
