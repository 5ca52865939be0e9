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
from providers.native.azure_account import AzureAccount
from providers.native.azure_list import ListBlobs
from providers.native.azure_put import PutBlob, account_pool

try:
    import obstore
    from obstore.store import AzureStore
except ImportError as exc:  # pragma: no cover - the chooser asks first
    from providers.errors import sdk_missing

    raise sdk_missing("azure", "obstore", "native") from exc


def _credential(client: Any) -> dict[str, Any] | None:
    """obstore's credential for a token (Entra ID) credential of the client, or None."""
    cred = client.credential
    if callable(getattr(cred, "get_token", None)):

        def provide() -> dict[str, Any]:
            token = cred.get_token("https://storage.azure.com/.default")
            return {
                "token": token.token,
                "expires_at": datetime.fromtimestamp(token.expires_on, UTC),
            }

        return {"credential_provider": provide}
    return None  # anonymous: the SDK path


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


def _obstore(
    container: str,
    *,
    account_name: str,
    endpoint: str,
    verify: bool | str,
    connect_timeout: float,
    read_timeout: float,
    credential: dict[str, Any],
) -> Any:
    """An obstore AzureStore for reads, trusting and routing as the SDK client does."""
    https = urlparse(endpoint).scheme != "http"
    options: dict[str, Any] = {
        "allow_http": not https,
        "connect_timeout": f"{int(connect_timeout or 20)}s",
        "read_timeout": f"{int(read_timeout or 60)}s",
        "timeout": "86400s",
    }
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
    return AzureStore(
        container,
        account_name=account_name,
        endpoint=endpoint,
        client_options=cast(Any, options),
        retry_config={"max_retries": 0},
        **credential,
    )


class AzureBytePath:
    """The bytes of one container: reads through obstore (`store`, None when the
    credential is a SAS), single-shot writes through `writer` and listings through
    `lister` (None for a token credential: the SDK writes and lists)."""

    def __init__(
        self,
        store: Any,
        container: str,
        writer: PutBlob | None = None,
        lister: ListBlobs | None = None,
    ) -> None:
        self.store = store
        self.container = container
        self.writer = writer
        self.lister = lister
        #: set when the endpoint's certificate was refused: the SDK moves the bytes
        self.refused = False

    @property
    def reads(self) -> bool:
        return self.store is not None

    @classmethod
    def from_account(cls, account: AzureAccount, container: str) -> AzureBytePath:
        """Key or SAS: lean writes and listings (one pool); reads through obstore with a
        key (a SAS keeps the SDK for reads)."""
        pool = account_pool(account)
        store = None
        if account.key:
            store = _obstore(
                container,
                account_name=account.account,
                endpoint=account.blob_url,
                verify=account.verify,
                connect_timeout=account.connect_timeout,
                read_timeout=account.read_timeout,
                credential={"account_key": account.account_key},
            )
        return cls(
            store,
            container,
            PutBlob.from_account(account, container, pool),
            ListBlobs(account, container, pool),
        )

    @classmethod
    def from_client(cls, client: Any, container: str) -> AzureBytePath | None:
        account = AzureAccount.from_client(client)
        if account is not None:
            return cls.from_account(account, container)
        cred = _credential(client)
        if cred is None:
            return None
        config = getattr(getattr(client, "_pipeline", None), "_transport", None)
        config = getattr(config, "connection_config", None)
        store = _obstore(
            container,
            account_name=client.account_name,
            endpoint=str(client.url).rstrip("/"),
            verify=getattr(config, "verify", True),
            connect_timeout=float(getattr(config, "timeout", 20) or 20),
            read_timeout=float(getattr(config, "read_timeout", 60) or 60),
            credential=cred,
        )
        return cls(store, container)

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
