"""A lean Azure Put Blob: one signed HTTP PUT per blob through a keep-alive pool.

azure-storage-blob spends about 1.9 ms of Python CPU on each Put Blob (pipeline policies,
serialisation, response deserialisation); this writer sends the same request the SDK
sends for a single-shot upload with `validate_content=True`, and nothing else:

    PUT {container URL}/{quoted blob name}[?{SAS}]
    x-ms-blob-type: BlockBlob
    Content-MD5: {base64 MD5 of the body}     <- transactional: the service computes the
                                                  MD5 of what it received and refuses a
                                                  mismatch (400 Md5Mismatch) before storing
    x-ms-blob-content-md5: {the same}         <- the blob's Content-MD5 property
    x-ms-meta-{name}: {value}                 <- our sha256 record and the caller's metadata
    x-ms-encryption-scope (when the store has one), x-ms-version (the client's API version),
    x-ms-date, Authorization: SharedKey {account}:{signature} (account key), or the SAS
    query string (SAS credential)

The answer (201) carries the Content-MD5 the service computed, the ETag, Last-Modified
and, on versioned accounts, x-ms-version-id: the store compares that Content-MD5 with the
MD5 of the bytes sent, exactly as the SDK path compares the SDK's `content_md5`.

The Shared Key string-to-sign follows the published Azure Storage REST contract
("Authorize with Shared Key", version 2009-09-19 and later); `string_to_sign` is tested
against the published examples (tests/native/vectors) and against Azurite, which checks
every signature. Built from the store's own BlobServiceClient (account, key or SAS, API
version, endpoint, CA bundle and timeouts of its transport, the proxy environment the SDK
reads): there is no second configuration. Token (Entra ID) credentials are not handled
here: those stores keep the SDK for writes. Nothing here retries: the body is in memory,
and the store level resends it (docs/replication.md, "Retries: one owner per level").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from functools import cmp_to_key, lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from providers.errors import CloudError, UploadError
from providers.native._common import StoreMapper
from providers.native.http import Pool, SendFailed, pool_for

#: the headers whose values open the string-to-sign, in the published order
SIGNED_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
USER_AGENT = "specify-native-azure/1 (http.client)"
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_PLAIN = re.compile(r"[\x21-\x7e]+( [\x21-\x7e]+)*")


def plain_value(value: str) -> bool:
    """Whether a header value is printable ASCII with single inner spaces: signed the same
    by every reading of the contract (folding, trimming). Others keep the SDK path."""
    return value == "" or _PLAIN.fullmatch(value) is not None


def _header_compare() -> Any:
    """The order of x-ms- header names the service signs with. The published contract
    says "lexicographically"; the service compares them with the Windows string collation
    (hyphens weigh nothing at the first level), which the Azure SDKs reproduce with a
    weight table. azure-storage-blob is a dependency of every Azure store: its table is
    used, so that names such as `x-ms-meta-a_b` / `x-ms-meta-ab` sort as the service's."""
    try:
        from azure.storage.blob._shared.authentication import compare
    except ImportError:  # pragma: no cover - azure-storage-blob is required by the store
        return None
    return compare


_COMPARE = _header_compare()


@lru_cache(maxsize=256)
def _order(names: tuple[str, ...]) -> tuple[str, ...]:
    """The x-ms- names in signing order (the same few sets recur: cached)."""
    if _COMPARE is None:  # pragma: no cover
        return tuple(sorted(names))
    return tuple(sorted(names, key=cmp_to_key(_COMPARE)))


def canonicalized_headers(headers: Mapping[str, str]) -> str:
    """Every x-ms- header as `name:value\\n`: lowercase names in the service's order,
    values without the whitespace around them (HTTP drops it on the wire). Values are
    not folded further: the store sends only values without runs of whitespace or
    control characters natively (`plain_value`), so folding never matters."""
    xms = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-ms-")}
    return "".join(f"{name}:{xms[name].strip()}\n" for name in _order(tuple(xms)))


def canonicalized_resource(account: str, path: str, query: Iterable[tuple[str, str]]) -> str:
    """`/{account}{path as sent}` then, per query parameter sorted by lowercase name,
    `\\n{name}:{decoded values, sorted, comma-separated}`."""
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        grouped.setdefault(name.lower(), []).append(unquote(value))
    out = f"/{account}{path or '/'}"
    for name in sorted(grouped):
        out += f"\n{name}:{','.join(sorted(grouped[name]))}"
    return out


def string_to_sign(
    account: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """The Shared Key string-to-sign (Blob service, version 2009-09-19 and later)."""
    lower = {k.lower(): v for k, v in headers.items()}
    if lower.get("content-length") == "0":  # an empty line, not "0" (2015-02-21 and later)
        lower["content-length"] = ""
    standard = "".join(f"{lower.get(name, '')}\n" for name in SIGNED_STANDARD_HEADERS)
    return (
        f"{method.upper()}\n{standard}{canonicalized_headers(headers)}"
        f"{canonicalized_resource(account, path, query)}"
    )


def sign(key: bytes, text: str) -> str:
    """Base64(HMAC-SHA256(decoded account key, UTF-8 string-to-sign))."""
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()).decode()


def _pool(client: Any, origin: str) -> Pool:
    """A connection pool with the CA bundle, timeouts and proxy the SDK client uses."""
    config = getattr(getattr(getattr(client, "_pipeline", None), "_transport", None),
                     "connection_config", None)  # fmt: skip
    return pool_for(
        origin,
        verify=getattr(config, "verify", True),
        connect_timeout=float(getattr(config, "timeout", 20) or 20),
        read_timeout=float(getattr(config, "read_timeout", 60) or 60),
    )


class PutBlob:
    """Put Blob into one container, signed with the account key or carrying a SAS."""

    def __init__(
        self,
        *,
        base: str,
        account: str,
        api_version: str,
        key: bytes | None,
        sas: str | None,
        pool: Pool,
    ) -> None:
        self.base = base.rstrip("/")  # scheme://host[:port][/account]/container
        self.path = urlsplit(self.base).path
        self.account = account
        self.api_version = api_version
        self._key = key
        self._sas = sas
        self._pool = pool
        self.auth = "shared-key" if key else "sas"

    def __repr__(self) -> str:  # the key and the SAS stay out of repr
        return f"PutBlob({self.base!r}, auth={self.auth})"

    @classmethod
    def from_client(cls, client: Any, container: str) -> PutBlob | None:
        """The writer for a BlobServiceClient's container, or None when its credential
        is neither an account key nor a SAS (a token credential: the SDK writes)."""
        cred = client.credential
        key = getattr(cred, "account_key", None) or getattr(
            getattr(cred, "named_key", None), "key", None
        )
        url = urlsplit(str(client.get_container_client(container).url))
        sas = url.query or getattr(cred, "signature", None)
        if not key and not (sas and "sig=" in sas):
            return None
        base = f"{url.scheme}://{url.netloc}{url.path}"
        return cls(
            base=base,
            account=str(client.account_name),
            api_version=str(client.api_version),
            key=base64.b64decode(key) if key else None,
            sas=None if key else str(sas).lstrip("?"),
            pool=_pool(client, f"{url.scheme}://{url.netloc}"),
        )

    def request(
        self, key: str, body: bytes, md5: bytes, metadata: Mapping[str, str],
        *, encryption_scope: str | None = None,
    ) -> tuple[str, dict[str, str]]:  # fmt: skip
        """(path and query, headers) of the Put Blob of body under key, signed."""
        quoted = quote(key, safe="~/")  # the SDK's quoting of blob names
        b64md5 = base64.b64encode(md5).decode()
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "x-ms-date": formatdate(usegmt=True),
            "x-ms-version": self.api_version,
            "Content-Length": str(len(body)),
            # transactional (checked by the service against the body it received) and
            # the blob's property, as azure-storage-blob sends them for validate_content
            # with ContentSettings(content_md5=...)
            "Content-MD5": b64md5,
            "x-ms-blob-content-md5": b64md5,
            "Content-Type": "application/octet-stream",
            "User-Agent": USER_AGENT,
        }
        for name, value in metadata.items():
            headers[f"x-ms-meta-{name}"] = value
        if encryption_scope:
            headers["x-ms-encryption-scope"] = encryption_scope
        url = f"{self.path}/{quoted}"
        if self._key is not None:
            text = string_to_sign(self.account, "PUT", f"{self.path}/{quoted}", (), headers)
            headers["Authorization"] = f"SharedKey {self.account}:{sign(self._key, text)}"
        elif self._sas:
            url = f"{url}?{self._sas}"
        return url, headers

    def put(
        self,
        key: str,
        body: bytes,
        md5: bytes,
        metadata: Mapping[str, str],
        *,
        map_error: StoreMapper,
        encryption_scope: str | None = None,
    ) -> dict[str, Any]:
        """One Put Blob: {'content_md5' (bytes or None), 'etag', 'last_modified',
        'version_id'} of the service's answer; a refusal as the store's CloudError."""
        target, headers = self.request(key, body, md5, metadata, encryption_scope=encryption_scope)
        try:
            resp = self._pool.request("PUT", target, body, headers)
        except SendFailed as exc:
            raise _transport_error(exc, key, map_error) from exc
        answer = resp.headers
        if resp.status != 201:
            raise _answer_error(resp.status, answer, resp.body, key, map_error)
        md5_answer = answer.get("content-md5")
        return {
            "content_md5": base64.b64decode(md5_answer) if md5_answer else None,
            "etag": (answer.get("etag") or "").strip('"') or None,
            "last_modified": _http_date(answer.get("last-modified")),
            "version_id": answer.get("x-ms-version-id"),
        }


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _answer_error(
    status: int, headers: Mapping[str, str], data: bytes, key: str, mapper: StoreMapper
) -> CloudError:
    """An error answer as the azure-core exception it stands for, through the store's
    own mapping (codes, hints, container or blob not found, Md5Mismatch)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
    )

    text = data.decode("utf-8", "replace")[:4000]
    code_match, message_match = _CODE.search(text), _MESSAGE.search(text)
    code = headers.get("x-ms-error-code") or (code_match.group(1) if code_match else None)
    message = (message_match.group(1) if message_match else "").strip().splitlines()
    first = message[0] if message else ""
    cls: type[HttpResponseError] = HttpResponseError
    if status == 404:
        cls = ResourceNotFoundError
    elif status == 403 and code in ("AuthenticationFailed", "AuthorizationFailure", None):
        cls = ClientAuthenticationError
    err = cls(message=f"{code or status}: {first}")
    err.status_code = status
    setattr(err, "error_code", code)  # noqa: B010 - what azure-core sets from the answer
    return mapper(err, operation="upload", resource=key, kind=UploadError)


def _transport_error(exc: SendFailed, key: str, mapper: StoreMapper) -> CloudError:
    """No answer: a refused certificate names the CA bundle to check; a connection that
    could not be made, or broke while sending or waiting (reset, cut, timeout), is worth
    another try, as on the SDK path (azure-core's ServiceRequest/ServiceResponseError)."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if exc.tls:
        return UploadError(
            f"TLS failed ({text})",
            provider="azure",
            operation="upload",
            resource=key,
            hint="Check the endpoint's certificate and the CA bundle (REQUESTS_CA_BUNDLE, or "
            "the client's connection_verify)",
        )
    err = ServiceResponseError(text) if exc.connected else ServiceRequestError(text)
    return mapper(err, operation="upload", resource=key, kind=UploadError)


__all__ = [
    "USER_AGENT",
    "PutBlob",
    "canonicalized_headers",
    "canonicalized_resource",
    "plain_value",
    "sign",
    "string_to_sign",
]
