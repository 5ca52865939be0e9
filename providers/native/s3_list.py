"""A lean ListObjectsV2: one signed GET per page (providers/native/s3_request).

boto3's `list_objects_v2(Bucket, Prefix, MaxKeys, ContinuationToken | StartAfter)`
sends ``GET /{bucket}?list-type=2&prefix=P&max-keys=N[&continuation-token=T |
&start-after=S]&encoding-type=url`` (botocore adds encoding-type=url itself and
url-decodes, with unquote_plus, the keys and prefixes of the answer). This module sends
the same request and reads the same fields of the ListBucketResult ("ListObjectsV2",
Amazon S3 API Reference): per `Contents`, its `Key`, `Size`, `LastModified` and `ETag`
(plus `ChecksumAlgorithm` / `ChecksumType` when present); `IsTruncated` and
`NextContinuationToken`. tests/native/test_s3_list.py compares every page and token
with boto3's reading of the same moto bucket, over awkward keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_plus
from xml.etree import ElementTree

from providers.errors import StorageError
from providers.native._common import StoreMapper
from providers.native.s3_request import S3Requests

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class S3Entry:
    """One object of a listing page, as S3 described it."""

    key: str
    size: int
    last_modified: datetime | None
    etag: str | None
    checksum_algorithms: tuple[str, ...] = ()
    checksum_type: str | None = None


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_page(body: bytes) -> tuple[list[S3Entry], str | None]:
    """(objects, the next page's continuation token or None) of a ListBucketResult."""
    root = ElementTree.fromstring(body)
    ns = _NS if root.tag.startswith(_NS) else ""
    encoded = (root.findtext(f"{ns}EncodingType") or "").lower() == "url"
    out: list[S3Entry] = []
    for item in root.iterfind(f"{ns}Contents"):
        key = item.findtext(f"{ns}Key") or ""
        out.append(
            S3Entry(
                key=unquote_plus(key) if encoded else key,
                size=int(item.findtext(f"{ns}Size") or 0),
                last_modified=_timestamp(item.findtext(f"{ns}LastModified")),
                etag=(item.findtext(f"{ns}ETag") or "").strip('"') or None,
                checksum_algorithms=tuple(
                    el.text or "" for el in item.iterfind(f"{ns}ChecksumAlgorithm")
                ),
                checksum_type=item.findtext(f"{ns}ChecksumType") or None,
            )
        )
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    token = root.findtext(f"{ns}NextContinuationToken") if truncated else None
    return out, token or None


def list_query(
    prefix: str, token: str | None, page_size: int, start_after: str | None
) -> list[tuple[str, str]]:
    query = [
        ("list-type", "2"),
        ("prefix", prefix),
        ("max-keys", str(int(page_size))),
        ("encoding-type", "url"),
    ]
    if token:
        query.append(("continuation-token", token))
    elif start_after:
        query.append(("start-after", start_after))
    return query


def list_page(
    requests: S3Requests,
    prefix: str,
    token: str | None,
    page_size: int,
    *,
    start_after: str | None = None,
    map_error: StoreMapper,
) -> tuple[list[S3Entry], str | None]:
    """One page and the token of the next (None after the last); an error answer as the
    store's error (no bucket: BucketNotFoundError through its mapping)."""
    answer = requests.send(
        "GET",
        None,
        list_query(prefix, token, page_size, start_after),
        operation="list_objects",
        kind=StorageError,
        mapper=map_error,
        resource=prefix,
    )
    try:
        return parse_page(answer.body)
    except (ElementTree.ParseError, ValueError) as exc:
        raise StorageError(
            f"the ListObjectsV2 answer is no ListBucketResult ({answer.body[:100]!r})",
            provider="aws",
            operation="list_objects",
            resource=requests.uri(prefix),
            retryable=True,
        ) from exc


__all__ = ["S3Entry", "list_page", "list_query", "parse_page"]
