"""What the lean GCS requests need to know of a storage client, without the SDK.

Importing google-cloud-storage costs about 0.75 s of CPU (google.api_core, grpc, and
google.auth.transport.requests, which pulls requests), more than a replication of a few
hundred objects spends on their bytes. A store the provider opens (its settings or block)
reads here what its lean requests (providers/native/gcs_put, gcs_list) need, resolved as
google-cloud-storage 3.x resolves it in `storage.Client.__init__` and `Connection`:

- the API base URL: the client options' `api_endpoint` (the settings' storage endpoint,
  an emulator's URL included), else `STORAGE_EMULATOR_HOST`, else
  `API_ENDPOINT_OVERRIDE`, else https://storage.googleapis.com;
- the credentials: none (anonymous) exactly where the provider hands the SDK
  AnonymousCredentials (an emulator), else the provider's google.auth credentials
  (Application Default Credentials, or the settings'/block's service account, maybe
  impersonated), which add their bearer token per request and refresh it when due
  through `PoolRequest` (providers/native/gcs_auth), a google.auth transport over our
  socket pool, so `requests` is not imported;
- the project, and the CA bundle the client's session would trust.

Where the lean requests cannot stand in exactly for the SDK, `for_provider` gives None
and the store builds its SDK client as before: client certificates (mTLS), an API
version override, credentials of another universe than googleapis.com (the SDK refuses
them), credentials that need scopes added, and credential types outside the few whose
refresh is known to go through the transport contract alone. tests/native/test_gcs_list.py
compares every field with the SDK client the provider builds from the same settings.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from providers.httpenv import requests_env
from providers.native.http import Answer, Pool, pool_for

DEFAULT_API_ENDPOINT = "https://storage.googleapis.com"
USER_AGENT = "specify-native-gcs/1 (socket)"
UNIVERSE = "googleapis.com"
#: google-auth's requests transport waits this long by default (seconds)
AUTH_TIMEOUT = 120.0
#: AuthorizedSession: a 401 refreshes the credentials and resends, at most twice
MAX_REFRESH_ATTEMPTS = 2
#: credential classes whose refresh and before_request use nothing but the transport
#: contract (google.auth.transport.Request); any other kind keeps the SDK
LEAN_CREDENTIALS = frozenset(
    {
        "google.oauth2.service_account.Credentials",
        "google.oauth2.credentials.Credentials",
        "google.auth.compute_engine.credentials.Credentials",
        "google.auth.impersonated_credentials.Credentials",
    }
)
_ANONYMOUS = "google.auth.credentials.AnonymousCredentials"


class StorageSettings(Protocol):
    """What the account reads of a GCPProvider (its resolved settings)."""

    @property
    def endpoints(self) -> Mapping[str, str]: ...

    @property
    def storage_emulator(self) -> bool: ...

    @property
    def credentials(self) -> Any: ...

    @property
    def project(self) -> str: ...


def _kind(credentials: Any) -> str:
    cls = type(credentials)
    return f"{cls.__module__}.{cls.__qualname__}"


def api_base(endpoint: str | None, env: Mapping[str, str] | None = None) -> str:
    """The API base URL storage.Client would use for this client-options endpoint."""
    e = os.environ if env is None else env
    if endpoint:
        return endpoint
    if e.get("STORAGE_EMULATOR_HOST"):
        return e["STORAGE_EMULATOR_HOST"]
    return e.get("API_ENDPOINT_OVERRIDE") or DEFAULT_API_ENDPOINT


def lean_credentials(credentials: Any) -> bool:
    """Whether these credentials authorize lean requests exactly as the SDK's session."""
    kind = _kind(credentials)
    if kind == _ANONYMOUS:
        return True
    if kind not in LEAN_CREDENTIALS or getattr(credentials, "requires_scopes", False):
        return False
    if kind == "google.auth.impersonated_credentials.Credentials":
        source = getattr(credentials, "_source_credentials", None)
        return source is not None and _kind(source) != _ANONYMOUS and lean_credentials(source)
    return True


@dataclass(frozen=True)
class GCSAccount:
    """One Cloud Storage endpoint and the credentials its requests carry (never in repr)."""

    #: scheme://host[:port][/path], as the SDK's Connection.API_BASE_URL
    base: str
    project: str | None
    #: google.auth credentials; None: anonymous (nothing is added to a request)
    credentials: Any = field(default=None, repr=False, compare=False)
    verify: bool | str = True
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.credentials is None

    @property
    def origin(self) -> str:
        url = urlsplit(self.base)
        return f"{url.scheme}://{url.netloc}"

    @property
    def path(self) -> str:
        """The base URL's path ('' for a bare host), which every request target starts with."""
        return urlsplit(self.base.rstrip("/")).path

    # ------------------------------------------------------------------ building
    @classmethod
    def for_provider(cls, provider: StorageSettings) -> GCSAccount | None:
        """The account the provider's storage client would reach, or None where the SDK
        must do it (see the module's list). Resolves credentials as the SDK path does."""
        if os.environ.get("GOOGLE_API_USE_CLIENT_CERTIFICATE", "").lower() == "true":
            return None  # the client configures its own mTLS session
        if os.environ.get("API_VERSION_OVERRIDE"):
            return None
        base = api_base(provider.endpoints.get("storage"))
        url = urlsplit(base)
        if url.scheme not in ("http", "https") or not url.netloc or url.query:
            return None  # the SDK's reading of such an endpoint is its own
        credentials: Any = None
        if not provider.storage_emulator:
            credentials = provider.credentials
            if not lean_credentials(credentials):
                return None
            if getattr(credentials, "universe_domain", UNIVERSE) != UNIVERSE:
                return None  # storage.Client refuses them: let it say so
            if _kind(credentials) == _ANONYMOUS:
                credentials = None
        return cls(
            base=base,
            project=provider.project,
            credentials=credentials,
            verify=requests_env().explicit_ca_bundle or True,
        )

    @classmethod
    def from_client(cls, client: Any) -> GCSAccount | None:
        """The account a storage.Client reaches (None when its connection or session is
        not the plain JSON API one these requests know)."""
        connection = getattr(client, "_connection", None)
        base = getattr(connection, "API_BASE_URL", None)
        session = getattr(client, "_http", None)
        credentials = getattr(session, "credentials", None) or getattr(client, "_credentials", None)
        if not base or credentials is None or not lean_credentials(credentials):
            return None
        if getattr(session, "is_mtls", False):
            return None
        verify = getattr(session, "verify", True)
        return cls(
            base=str(base),
            project=getattr(client, "project", None),
            credentials=None if _kind(credentials) == _ANONYMOUS else credentials,
            verify=verify if isinstance(verify, bool | str) else True,
        )

    # ------------------------------------------------------------------ requests
    @property
    def pool(self) -> Pool:
        """The keep-alive pool to the API origin (one per account, shared by every
        request of every bucket of it)."""
        pool = self._state.get("pool")
        if pool is None:
            with _STATE_LOCK:
                pool = self._state.get("pool")
                if pool is None:
                    pool = self._state["pool"] = pool_for(self.origin, verify=self.verify)
        return pool  # type: ignore[no-any-return]

    def _auth(self) -> tuple[Any, threading.Lock]:
        from providers.native.gcs_auth import PoolRequest

        with _STATE_LOCK:
            if "auth" not in self._state:
                self._state["auth"] = (PoolRequest(), threading.Lock())
        return self._state["auth"]  # type: ignore[no-any-return]

    def authorize(self, method: str, url: str, headers: dict[str, str]) -> None:
        """Add the credentials' headers (bearer token, quota project), refreshing the
        token first when it is due (google-auth's before_request, as AuthorizedSession
        calls it). Anonymous: nothing."""
        if self.credentials is None:
            return
        request, lock = self._auth()
        with lock:
            self.credentials.before_request(request, method, url, headers)

    def refresh(self) -> None:
        if self.credentials is None:
            return
        request, lock = self._auth()
        with lock:
            self.credentials.refresh(request)

    def send(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One authorized request (target: path and query) and its whole answer. A 401
        refreshes the credentials and resends (body in memory), at most twice, as
        google-auth's AuthorizedSession does; SendFailed is the caller's to map."""
        url = f"{self.origin}{target}"
        attempt = 0
        while True:
            sent = dict(headers)
            self.authorize(method, url, sent)
            answer = self.pool.request(method, target, body, sent)
            if answer.status != 401 or self.credentials is None:
                return answer
            if attempt >= MAX_REFRESH_ATTEMPTS:
                return answer
            attempt += 1
            self.refresh()


_STATE_LOCK = threading.Lock()


def error_message(data: bytes) -> str:
    """The message of a JSON API error answer (or its first part)."""
    message = data.decode("utf-8", "replace")[:2000]
    try:
        return str(json.loads(data)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return message


__all__ = [
    "DEFAULT_API_ENDPOINT",
    "LEAN_CREDENTIALS",
    "USER_AGENT",
    "GCSAccount",
    "api_base",
    "error_message",
    "lean_credentials",
]
