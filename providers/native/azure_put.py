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
from providers.native._common import StoreMapper, transport_error
from providers.native.azure_account import AzureAccount
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
USER_AGENT = "specify-native-azure/1 (socket)"
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_PLAIN = re.compile(r"[\x21-\x7e]+( [\x21-\x7e]+)*")


def plain_value(value: str) -> bool:
    """Whether a header value is printable ASCII with single inner spaces: signed the same
    by every reading of the contract (folding, trimming). Others keep the SDK path."""
    return value == "" or _PLAIN.fullmatch(value) is not None


# The order of x-ms- header names the service signs with. The published contract says
# "lexicographically"; the service compares them with the Windows string collation
# (hyphens weigh nothing at the first level), which the Azure SDKs reproduce with a weight
# table, so that names such as `x-ms-meta-a_b` / `x-ms-meta-ab` sort as the service's.
# The two tables and `_compare` below are those of azure-storage-blob 12.31
# (Azure/azure-sdk-for-python, sdk/storage/azure-storage-blob/azure/storage/blob/_shared/
# authentication.py: `table_lv0`, `table_lv4`, `compare`; Copyright (c) Microsoft
# Corporation, MIT License), carried here so that signing does not import that package
# (about 0.9 s of CPU); tests/native/test_azure_put.py checks them against the SDK's.
# fmt: off
_TABLE_LV0 = (
    0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0,
    0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0,
    0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x71c, 0x0, 0x71f, 0x721, 0x723, 0x725,
    0x0, 0x0, 0x0, 0x72d, 0x803, 0x0, 0x0, 0x733, 0x0, 0xd03, 0xd1a, 0xd1c, 0xd1e,
    0xd20, 0xd22, 0xd24, 0xd26, 0xd28, 0xd2a, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0,
    0xe02, 0xe09, 0xe0a, 0xe1a, 0xe21, 0xe23, 0xe25, 0xe2c, 0xe32, 0xe35, 0xe36, 0xe48, 0xe51,
    0xe70, 0xe7c, 0xe7e, 0xe89, 0xe8a, 0xe91, 0xe99, 0xe9f, 0xea2, 0xea4, 0xea6, 0xea7, 0xea9,
    0x0, 0x0, 0x0, 0x743, 0x744, 0x748, 0xe02, 0xe09, 0xe0a, 0xe1a, 0xe21, 0xe23, 0xe25,
    0xe2c, 0xe32, 0xe35, 0xe36, 0xe48, 0xe51, 0xe70, 0xe7c, 0xe7e, 0xe89, 0xe8a, 0xe91, 0xe99,
    0xe9f, 0xea2, 0xea4, 0xea6, 0xea7, 0xea9, 0x0, 0x74c, 0x0, 0x750, 0x0,
)
_TABLE_LV4 = (0x0,) * 39 + (0x8012,) + (0x0,) * 5 + (0x8212,) + (0x0,) * 82
# fmt: on
_TABLES = (_TABLE_LV0, _TABLE_LV4)


def _compare(lhs: str, rhs: str) -> int:
    """-1, 0 or 1: lhs before, as, or after rhs in the service's order (ASCII names)."""
    level, i, j, n = 0, 0, 0, len(_TABLES)
    while level < n:
        if level == n - 1 and i != j:
            return -1 if i > j else 1
        w1 = _TABLES[level][ord(lhs[i])] if i < len(lhs) else 0x1
        w2 = _TABLES[level][ord(rhs[j])] if j < len(rhs) else 0x1
        if w1 == 0x1 and w2 == 0x1:
            i = j = 0
            level += 1
        elif w1 == w2:
            i += 1
            j += 1
        elif w1 == 0:
            i += 1
        elif w2 == 0:
            j += 1
        else:
            return -1 if w1 < w2 else 1
    return 0


@lru_cache(maxsize=256)
def _order(names: tuple[str, ...]) -> tuple[str, ...]:
    """The x-ms- names in signing order (the same few sets recur: cached)."""
    return tuple(sorted(names, key=cmp_to_key(_compare)))


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


def account_pool(account: AzureAccount) -> Pool:
    """A connection pool to the account's blob endpoint with the CA bundle, timeouts and
    proxy the SDK client uses (one per endpoint: the writer and the lister share it)."""
    url = urlsplit(account.blob_url)
    return pool_for(
        f"{url.scheme}://{url.netloc}",
        verify=account.verify,
        connect_timeout=account.connect_timeout,
        read_timeout=account.read_timeout,
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
        account = AzureAccount.from_client(client)
        return cls.from_account(account, container) if account is not None else None

    @classmethod
    def from_account(
        cls, account: AzureAccount, container: str, pool: Pool | None = None
    ) -> PutBlob:
        return cls(
            base=account.container_url(container),
            account=account.account,
            api_version=account.api_version,
            key=account.key,
            sas=account.sas,
            pool=pool or account_pool(account),
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
    status: int, headers: Mapping[str, str], data: bytes, key: str, mapper: StoreMapper,
    *, operation: str = "upload", kind: type[CloudError] = UploadError,
) -> CloudError:  # fmt: skip
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
    return mapper(err, operation=operation, resource=key, kind=kind)


def _no_answer(exc: SendFailed, text: str) -> Exception:
    """azure-core's exception for no answer: the request could not be sent, or its
    answer did not come whole (both retryable on the SDK path)."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    return ServiceResponseError(text) if exc.connected else ServiceRequestError(text)


TLS_HINT = (
    "Check the endpoint's certificate and the CA bundle (REQUESTS_CA_BUNDLE, or the "
    "client's connection_verify)"
)


def _transport_error(
    exc: SendFailed, key: str, mapper: StoreMapper, *, operation: str = "upload",
    kind: type[CloudError] = UploadError,
) -> CloudError:  # fmt: skip
    return transport_error(
        exc, key, mapper, provider="azure", hint=TLS_HINT, cause=_no_answer,
        operation=operation, kind=kind,
    )  # fmt: skip


__all__ = [
    "USER_AGENT",
    "PutBlob",
    "canonicalized_headers",
    "canonicalized_resource",
    "plain_value",
    "sign",
    "string_to_sign",
]
