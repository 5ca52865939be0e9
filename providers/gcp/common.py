"""What every GCP service module shares: the SDK import guard and the error mapping.

Google's clients raise `google.api_core.exceptions.GoogleAPICallError` subclasses that carry
the HTTP status, `google.auth.exceptions` for credential trouble, `google.resumable_media`
errors for media transfers and `requests` errors for dropped connections. All of them are
turned into this package's errors here, once, for every service.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, ClassVar

from providers.errors import CloudError, CredentialsError, IntegrityError, sdk_missing
from providers.httpenv import configure_session
from providers.operation import ServiceAdapter, error_for_status, map_generic_error
from providers.retry import is_transient_exception

PROVIDER = "gcp"
EXTRA = "gcp"

AUTH_HINT = (
    "Check GOOGLE_APPLICATION_CREDENTIALS (or the block's service account) and that the "
    "account has the roles listed in docs/iam/gcp-roles.yaml"
)
NOT_FOUND_HINT = "Check the name and the project, or create it first"


def require(module: str, package: str) -> ModuleType:
    """Import an SDK module, or raise ProviderNotAvailableError naming the pip extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise sdk_missing(PROVIDER, package, EXTRA) from exc


def utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    return (utc(value) or value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _status_of(exc: BaseException) -> tuple[int | None, str] | None:
    """(HTTP status, message) for the SDK exceptions that carry one; None otherwise."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        code = exc.code
        return (code if isinstance(code, int) else None), exc.message or type(exc).__name__
    try:
        from google.resumable_media import common as media
    except ImportError:  # pragma: no cover - shipped with google-cloud-storage
        return None
    if isinstance(exc, media.InvalidResponse):
        status = getattr(exc.response, "status_code", None)
        return status, f"unexpected HTTP {status} during a media transfer"
    return None


def map_gcp_error(
    exc: Exception,
    *,
    operation: str,
    resource: str | None,
    kind: type[CloudError],
    where: str,
) -> CloudError:
    """Map one Google SDK exception; `where` names project, bucket, zone for the message."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    suffix = f" ({where})" if where else ""
    if isinstance(exc, gexc.RetryError) and isinstance(exc.cause, Exception):
        exc = exc.cause
    if isinstance(exc, auth_exc.TransportError):
        return kind(
            f"could not reach Google's token service: {exc}{suffix}",
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            retryable=True,
            hint="Check the network connection",
        )
    if isinstance(exc, auth_exc.GoogleAuthError):
        return CredentialsError(
            f"{type(exc).__name__}: {exc}{suffix}",
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            hint=AUTH_HINT,
        )
    status = _status_of(exc)
    if type(exc).__name__ == "DataCorruption" or (
        status is not None and status[0] in (400, 409) and "doesn't match calculated" in str(exc)
    ):
        # the service (or the SDK's own check) found the bytes differ from their checksum:
        # damaged in transit, so the level that holds the bytes sends or reads them again
        return IntegrityError(
            f"checksum mismatch: {str(exc)[:300]}{suffix}",
            provider=PROVIDER,
            operation=operation,
            resource=resource,
        )
    if status is not None:
        code, message = status
        return error_for_status(
            code,
            f"{message}{suffix}",
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            kind=kind,
            auth_hint=AUTH_HINT,
            not_found_hint=NOT_FOUND_HINT,
        )
    try:
        import requests
    except ImportError:  # pragma: no cover - a dependency of google-auth
        requests = None  # type: ignore[assignment]
    if requests is not None and isinstance(
        exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    ):
        return kind(
            f"connection failed ({type(exc).__name__}){suffix}",
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            retryable=True,
            hint="Check that the endpoint is reachable",
        )
    if isinstance(exc, ConnectionError | TimeoutError):
        return map_generic_error(
            exc, provider=PROVIDER, operation=operation, resource=resource, kind=kind
        )
    return kind(
        f"{type(exc).__name__}: {exc}{suffix}",
        provider=PROVIDER,
        operation=operation,
        resource=resource,
        retryable=is_transient_exception(exc),
    )


class GCPService(ServiceAdapter):
    """Base of the GCP service classes: the project and the SDK error mapping."""

    provider_name: ClassVar[str] = PROVIDER

    def __init__(self, project: str) -> None:
        self.project = project

    def where(self) -> dict[str, Any]:
        """What the message of a failure names (project, bucket, zone...)."""
        return {"project": self.project}

    @property
    def location(self) -> str | None:
        return ", ".join(f"{k} {v}" for k, v in self.where().items() if v)

    def map_error(
        self,
        exc: Exception,
        *,
        operation: str,
        resource: str | None,
        kind: type[CloudError],
    ) -> CloudError:
        return map_gcp_error(
            exc,
            operation=operation,
            resource=resource,
            kind=kind,
            where=self.location or "",
        )


class RestClient:
    """Authorized JSON calls for Google APIs whose Python client speaks only gRPC (or
    does not exist). Non-2xx answers raise google.api_core exceptions, so they are mapped
    exactly like the generated clients' errors."""

    def __init__(self, base_url: str, credentials: Any, session: Any = None) -> None:
        self.base_url = base_url.rstrip("/")
        if session is None:
            transport = require("google.auth.transport.requests", "google-auth")
            session = configure_session(transport.AuthorizedSession(credentials))
        self.session = session

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        timeout: float = 60.0,
    ) -> Any:
        from google.api_core import exceptions as gexc

        response = self.session.request(
            method, f"{self.base_url}/{path}", json=body, params=params or None, timeout=timeout
        )
        if response.status_code >= 400:
            raise gexc.from_http_response(response)
        return response.json() if response.content else {}
