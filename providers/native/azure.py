"""Azure blob bytes natively: Put Blob through the lean writer (providers/native/azure_put:
one signed PUT with a transactional Content-MD5), and the GET of a described blob's body
(downloads) through obstore.

object_store sends no transactional MD5, so writes do not go through it: single-shot
writes go through `PutBlob` (account key or SAS; a token credential keeps the SDK for
writes), block uploads stay on the SDK. A read goes native only when the blob's
description says what its bytes must hash to (its `Content-MD5`, or our sha256 record):
`CheckedReader` checks the whole body against it before the last byte is handed over. A
blob without either keeps the SDK's per-range MD5 (`validate_content`). Built from the
store's BlobServiceClient: account, key or token credential, endpoint, CA bundle and
timeouts of its transport, the proxy environment the SDK reads; obstore retries nothing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast
from urllib.parse import urlparse

from providers.errors import CloudError, DownloadError
from providers.httpenv import requests_env
from providers.native._common import (
    Body,
    NativeRefused,
    StoreMapper,
    answer_of,
    is_cut,
    refused_tls,
)
from providers.native.azure_put import PutBlob

try:
    import obstore
    from obstore.store import AzureStore
except ImportError as exc:  # pragma: no cover - the chooser asks first
    from providers.errors import sdk_missing

    raise sdk_missing("azure", "obstore", "native") from exc


def _credential(client: Any) -> dict[str, Any] | None:
    cred = client.credential
    key = getattr(cred, "account_key", None) or getattr(
        getattr(cred, "named_key", None), "key", None
    )
    if key:
        return {"account_key": key}
    if callable(getattr(cred, "get_token", None)):

        def provide() -> dict[str, Any]:
            token = cred.get_token("https://storage.azure.com/.default")
            return {
                "token": token.token,
                "expires_at": datetime.fromtimestamp(token.expires_on, UTC),
            }

        return {"credential_provider": provide}
    return None  # SAS or anonymous: the SDK path


def _azure_error(
    exc: BaseException, *, operation: str, key: str, kind: type[CloudError], mapper: StoreMapper
) -> CloudError:
    """An obstore exception as the azure-core exception the answer stands for, through
    the store's own mapping (codes, hints, container or blob not found)."""
    from azure.core.exceptions import (
        HttpResponseError,
        ResourceNotFoundError,
        ServiceResponseError,
    )

    status, code, message, text = answer_of(exc)
    if status is None and not code:
        err: Exception = ServiceResponseError(text.splitlines()[0][:300] if text else "")
        if not is_cut(text):
            return kind(
                f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}",
                provider="azure",
                operation=operation,
                resource=key,
                hint="Check that the endpoint is reachable, its certificate and the proxy",
            )
        return mapper(err, operation=operation, resource=key, kind=kind)
    cls = ResourceNotFoundError if status == 404 else HttpResponseError
    err = cls(message=f"{code or status}: {message}")
    err.status_code = status
    setattr(err, "error_code", code)  # noqa: B010 - what azure-core sets from the answer
    return mapper(err, operation=operation, resource=key, kind=kind)


class AzureBytePath:
    """The bytes of one container: reads through obstore (`store`, None when the
    credential is a SAS), single-shot writes through `writer` (None for a token
    credential)."""

    def __init__(self, store: Any, container: str, writer: PutBlob | None = None) -> None:
        self.store = store
        self.container = container
        self.writer = writer
        #: set when the endpoint's certificate was refused: the SDK moves the bytes
        self.refused = False

    @property
    def reads(self) -> bool:
        return self.store is not None

    @classmethod
    def from_client(cls, client: Any, container: str) -> AzureBytePath | None:
        writer = PutBlob.from_client(client, container)
        cred = _credential(client)
        if cred is None:
            return cls(None, container, writer) if writer is not None else None
        endpoint = str(client.url).rstrip("/")
        https = urlparse(endpoint).scheme != "http"
        config = getattr(getattr(client, "_pipeline", None), "_transport", None)
        config = getattr(config, "connection_config", None)
        options: dict[str, Any] = {
            "allow_http": not https,
            "connect_timeout": f"{int(getattr(config, 'timeout', 20) or 20)}s",
            "read_timeout": f"{int(getattr(config, 'read_timeout', 60) or 60)}s",
            "timeout": "86400s",
        }
        verify = getattr(config, "verify", True)
        env = requests_env()
        if verify is False:
            options["allow_invalid_certificates"] = True
        elif https:
            bundle = verify if isinstance(verify, str) else env.ca_bundle
            if bundle and os.path.isfile(bundle):
                with open(bundle) as fh:
                    options["root_certificate"] = fh.read()
        if env.proxies:
            url = os.environ.get("HTTPS_PROXY" if https else "HTTP_PROXY") or os.environ.get(
                "https_proxy" if https else "http_proxy"
            )
            if url:
                options["proxy_url"] = url
                excludes = os.environ.get("NO_PROXY") or os.environ.get("no_proxy")
                if excludes:
                    options["proxy_excludes"] = excludes
        store = AzureStore(
            container,
            account_name=client.account_name,
            endpoint=endpoint,
            client_options=cast(Any, options),
            retry_config={"max_retries": 0},
            **cred,
        )
        return cls(store, container, writer)

    def open(
        self,
        key: str,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
        map_error: StoreMapper,
        operation: str = "download",
    ) -> BinaryIO:
        options: dict[str, Any] = {}
        if version_id:
            options["version"] = version_id
        elif if_match:
            options["if_match"] = f'"{if_match.strip(chr(34))}"'

        def errors(exc: BaseException) -> CloudError:
            return _azure_error(
                exc, operation=operation, key=key, kind=DownloadError, mapper=map_error
            )

        try:
            result = obstore.get(self.store, key, options=options or None)  # type: ignore[arg-type]
            chunks = iter(result.stream(min_chunk_size=1024 * 1024))
        except Exception as exc:
            if refused_tls(exc):
                self.refused = True
                raise NativeRefused(str(exc).splitlines()[0][:300]) from exc
            raise errors(exc) from exc
        return Body(chunks, errors)  # type: ignore[return-value]
