"""AWS Signature Version 4, header form, for the lean S3 requests (no botocore).

`canonical_request` / `string_to_sign` / `signing_key` follow the published algorithm
(docs.aws.amazon.com, "Create a signed AWS API request"); tests/native/test_s3_sigv4.py
checks them against AWS's own signing test suite (vendored under
tests/native/vectors/sigv4/) and, over awkward keys and queries, against botocore's
`S3SigV4Auth`.

S3's variant (`S3Signer`): the path is URI-encoded ONCE (each byte outside
``A-Za-z0-9-_.~`` as %XX, '/' kept) and never normalized (S3 keys may hold '//' and '.'
segments); query names and values are encoded the same way with '/' encoded too;
``x-amz-content-sha256`` carries the payload's sha256 (S3 then checks the body against
it) or the empty string's for a body-less GET/HEAD/list; a session token is sent and
signed as ``x-amz-security-token``.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SAFE = "-_.~"  # unreserved besides letters and digits, which quote never encodes
#: headers sent but never signed (botocore's SIGNED_HEADERS_BLACKLIST: proxies and
#: agents may change them on the way)
UNSIGNED_HEADERS = frozenset({"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"})


def uri_encode(text: str, *, keep_slash: bool) -> str:
    """SigV4's UriEncode: UTF-8 bytes, every byte but A-Za-z0-9-_.~ (and '/' in a path)
    as %XX with upper-case hex."""
    return quote(text, safe=_SAFE + "/" if keep_slash else _SAFE)


def canonical_uri(path: str, *, normalize: bool = False) -> str:
    """The canonical path of a raw (decoded) path; normalize removes '.'/'..' segments
    and empty ones (the generic services do; S3 does not)."""
    if normalize:
        trailing = path.endswith("/") and path != "/"
        path = posixpath.normpath(path) if path else "/"
        path = "/" + "/".join(p for p in path.split("/") if p)
        if trailing and path != "/":
            path += "/"
    return uri_encode(path or "/", keep_slash=True)


def canonical_query(query: Iterable[tuple[str, str]]) -> str:
    """Raw (decoded) name/value pairs, encoded and sorted by name, then value."""
    pairs = sorted(
        (uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False)) for k, v in query
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trim(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(canonical header block, signed header list) of the headers to sign; repeated
    names are joined with ',' in their order."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.strip().lower(), []).append(_trim(value))
    names = sorted(merged)
    block = "".join(f"{n}:{','.join(merged[n])}\n" for n in names)
    return block, ";".join(names)


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    payload_hash: str,
    *,
    normalize: bool = False,
) -> tuple[str, str]:
    """(canonical request, signed headers)."""
    block, signed = canonical_headers(headers)
    text = "\n".join(
        (
            method.upper(),
            canonical_uri(path, normalize=normalize),
            canonical_query(query),
            block,
            signed,
            payload_hash,
        )
    )
    return text, signed


def string_to_sign(amz_date: str, scope: str, request: str) -> str:
    digest = hashlib.sha256(request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode("utf-8"), day)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def amz_date(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Credentials:
    """Static AWS keys (the secret and token never in repr)."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


class S3Signer:
    """Signs S3 requests (header authorization) for one region; the day's signing key
    is derived once per UTC day."""

    def __init__(self, credentials: Credentials, region: str, service: str = "s3") -> None:
        self.credentials = credentials
        self.region = region
        self.service = service
        self._keys: tuple[str, bytes] | None = None
        self._lock = threading.Lock()

    def _key(self, day: str) -> bytes:
        cached = self._keys
        if cached is not None and cached[0] == day:
            return cached[1]
        key = signing_key(self.credentials.secret_key, day, self.region, self.service)
        with self._lock:
            self._keys = (day, key)
        return key

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        *,
        payload_hash: str = EMPTY_SHA256,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """The headers to send: the given ones plus x-amz-date, x-amz-content-sha256,
        x-amz-security-token (with a session token) and Authorization; all but
        UNSIGNED_HEADERS signed. path is the raw
        (decoded) path, e.g. '/bucket/a key'; host is the Host header's value."""
        date = amz_date(now)
        out = dict(headers or {})
        out["x-amz-date"] = date
        out["x-amz-content-sha256"] = payload_hash
        if self.credentials.token:
            out["x-amz-security-token"] = self.credentials.token
        to_sign = [(k, v) for k, v in out.items() if k.lower() not in UNSIGNED_HEADERS]
        request, signed = canonical_request(
            method, path, query, [("host", host), *to_sign], payload_hash
        )
        day = date[:8]
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        signature = hmac.new(
            self._key(day), string_to_sign(date, scope, request).encode("utf-8"), hashlib.sha256
        ).hexdigest()
        out["Authorization"] = (
            f"{ALGORITHM} Credential={self.credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        return out


__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "UNSIGNED_PAYLOAD",
    "Credentials",
    "S3Signer",
    "amz_date",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "signing_key",
    "string_to_sign",
    "uri_encode",
]
