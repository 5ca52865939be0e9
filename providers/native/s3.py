"""S3 bytes through obstore: one PUT of an object's body, one GET of an object's body.

Built from the store's boto3 client, so credentials (refreshed through botocore's own
credential object), endpoint, region, addressing style, proxies, CA bundle and timeouts
are the ones the SDK path uses. obstore retries nothing (`max_retries=0`): the levels
of docs/replication.md ("Retries: one owner per level") retry, with fresh streams.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from providers.errors import CloudError, DownloadError, UploadError
from providers.native._common import (
    CHUNK,
    Body,
    NativeRefused,
    StoreMapper,
    answer_of,
    is_cut,
    refused_tls,
)

try:
    import obstore
    from obstore.store import S3Store
except ImportError as exc:  # pragma: no cover - the chooser asks first
    from providers.errors import sdk_missing

    raise sdk_missing("aws", "obstore", "native") from exc


def native_error(
    exc: BaseException,
    *,
    operation: str,
    key: str,
    uri: str,
    kind: type[CloudError],
    mapper: StoreMapper,
) -> CloudError:
    """An obstore exception as the project's CloudError (retryable where transient).

    An answer of the service (status, XML error code) goes through the store's own
    mapping as the botocore ClientError it stands for; a failure with no answer
    (connection refused or reset, body cut, timeout, TLS) is retryable when transient.
    object_store puts no credentials in its errors."""
    status, code, message, text = answer_of(exc)
    if status is not None or code:
        from botocore.exceptions import ClientError

        answer: Any = {
            "Error": {"Code": code or str(status), "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return mapper(ClientError(answer, operation), operation=operation, resource=key, kind=kind)
    what = text.splitlines()[0][:300] if text else type(exc).__name__
    transient = is_cut(text)
    return kind(
        f"{type(exc).__name__}: {what}",
        provider="aws",
        operation=operation,
        resource=uri,
        retryable=transient,
        hint="Check that the endpoint is reachable (AWS_ENDPOINT_URL / the block's endpoint "
        "URL), its certificate and the proxy settings",
    )


def _credentials(client: Any) -> Callable[[], dict[str, Any]] | None:
    """A credential callback over botocore's own credential object (refreshed by it)."""
    signer = getattr(client, "_request_signer", None)
    creds = getattr(signer, "_credentials", None)
    if creds is None:
        return None
    refreshable = hasattr(creds, "refresh_needed")

    def provide() -> dict[str, Any]:
        frozen = creds.get_frozen_credentials()
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            # refreshable credentials: ask botocore again in a while (it renews them)
            "expires_at": datetime.now(UTC) + timedelta(minutes=5) if refreshable else None,
        }

    return provide


def _proxy_options(client: Any, https: bool) -> dict[str, str]:
    """botocore's proxy choice: the client's config, else the *_PROXY environment."""
    proxies = dict(getattr(client.meta.config, "proxies", None) or {})
    env = os.environ
    url = proxies.get("https" if https else "http") or (
        env.get("HTTPS_PROXY") or env.get("https_proxy") if https else None
    )
    url = url or env.get("HTTP_PROXY") or env.get("http_proxy") or env.get("ALL_PROXY")
    if not url:
        return {}
    out = {"proxy_url": url}
    excludes = env.get("NO_PROXY") or env.get("no_proxy")
    if excludes:
        out["proxy_excludes"] = excludes
    return out


def _bucket_region(client: Any, bucket: str, host: str) -> str | None:
    """On AWS itself, the region the bucket lives in (x-amz-bucket-region of a HEAD
    bucket, also sent with 301/403 answers): botocore follows region redirects by itself,
    object_store does not. Custom endpoints (moto, MinIO) have one region: None."""
    if not host.endswith(".amazonaws.com"):
        return None
    try:
        answer = client.head_bucket(Bucket=bucket)
    except Exception as exc:
        answer = getattr(exc, "response", None) or {}
    headers = (answer.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    region = headers.get("x-amz-bucket-region")
    return str(region) if region else None


class S3BytePath:
    """The bytes of one bucket through obstore."""

    def __init__(self, store: Any, bucket: str) -> None:
        self.store = store
        self.bucket = bucket
        #: set when the endpoint's certificate was refused: the SDK moves the bytes
        self.refused = False

    def _refuse(self, exc: BaseException) -> None:
        if refused_tls(exc):
            self.refused = True
            raise NativeRefused(str(exc).splitlines()[0][:300]) from exc

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @classmethod
    def from_client(cls, client: Any, bucket: str, *, sse: str | None = None) -> S3BytePath | None:
        """The byte path of the bucket a boto3 S3 client reaches (None: cannot be built
        from this client, e.g. it holds no credentials; the SDK path stays)."""
        provide = _credentials(client)
        if provide is None:
            return None
        meta = client.meta
        endpoint = str(meta.endpoint_url or "")
        parsed = urlparse(endpoint)
        https = parsed.scheme != "http"
        config = meta.config
        options: dict[str, Any] = {
            "allow_http": not https,
            "connect_timeout": f"{int(config.connect_timeout or 60)}s",
            # per-read like botocore's read_timeout; no bound on a whole long transfer
            "read_timeout": f"{int(config.read_timeout or 60)}s",
            "timeout": "86400s",
            **_proxy_options(client, https),
        }
        verify = getattr(getattr(client, "_endpoint", None), "http_session", None)
        verify = getattr(verify, "_verify", True)
        if verify is False:
            options["allow_invalid_certificates"] = True
        elif isinstance(verify, str) and https and Path(verify).is_file():
            options["root_certificate"] = Path(verify).read_text()
        addressing = (getattr(config, "s3", None) or {}).get("addressing_style")
        kwargs: dict[str, Any] = {
            "region": _bucket_region(client, bucket, parsed.hostname or "")
            or meta.region_name
            or "us-east-1",
            "checksum_algorithm": "SHA256",
            "client_options": options,
            "retry_config": {"max_retries": 0},
            "credential_provider": provide,
        }
        if not (parsed.hostname or "").endswith(".amazonaws.com"):
            kwargs["endpoint"] = endpoint.rstrip("/")
            kwargs["virtual_hosted_style_request"] = addressing == "virtual"
        elif addressing == "path":
            kwargs["virtual_hosted_style_request"] = False
        if sse:
            kwargs["server_side_encryption"] = sse
        return cls(S3Store(bucket, **kwargs), bucket)

    def put(
        self,
        key: str,
        body: bytes,
        metadata: Mapping[str, str],
        *,
        map_error: StoreMapper,
    ) -> dict[str, str | None]:
        """One PutObject of body (with x-amz-checksum-sha256): {'e_tag', 'version'}."""
        try:
            result = obstore.put(
                self.store, key, body, attributes=dict(metadata), use_multipart=False
            )
        except Exception as exc:  # obstore raises its own and builtin exceptions
            self._refuse(exc)
            raise native_error(
                exc,
                operation="upload",
                key=key,
                uri=self.uri(key),
                kind=UploadError,
                mapper=map_error,
            ) from exc
        return {"e_tag": result.get("e_tag"), "version": result.get("version")}

    def open(
        self,
        key: str,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
        map_error: StoreMapper,
        operation: str = "open_read",
    ) -> BinaryIO:
        """A forward-only stream of the object's bytes (pinned to etag or version)."""
        options: dict[str, Any] = {}
        if version_id:
            options["version"] = version_id
        elif if_match:
            options["if_match"] = f'"{if_match.strip(chr(34))}"'

        def errors(exc: BaseException) -> CloudError:
            return native_error(
                exc,
                operation=operation,
                key=key,
                uri=self.uri(key),
                kind=DownloadError,
                mapper=map_error,
            )

        try:
            result = obstore.get(self.store, key, options=options or None)  # type: ignore[arg-type]
            chunks = iter(result.stream(min_chunk_size=CHUNK))
        except Exception as exc:  # obstore raises its own and builtin exceptions
            self._refuse(exc)
            raise errors(exc) from exc
        return Body(chunks, errors)  # type: ignore[return-value]
