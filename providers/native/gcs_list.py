"""Lean GCS reads of metadata: objects.list pages, objects.get and buckets.get (JSON API).

google-cloud-storage's `list_blobs(...).pages` sends, per page:

    GET {API base}/storage/v1/b/{bucket}/o?projection=noAcl&prettyPrint=false
        &maxResults=N[&prefix=P][&startOffset=S][&endOffset=E][&pageToken=T][&fields=F]

and reads each item of the answer's `items` into a Blob (`_set_properties`), then the
answer's `nextPageToken` (absent after the last page). This module sends the same
request through the account's keep-alive pool, with `fields=` naming only what planning
reads (name, size, updated, etag, metadata, md5Hash, crc32c, generation), and hands the
store the same object resources; the store reads them as it reads a Blob
(`GCSStorage._object_of`). objects.get (`Bucket.get_blob`: GET .../o/{quoted name}) and
buckets.get (`Bucket.exists`: GET .../b/{bucket}?fields=name) the same way.
tests/native/test_gcs_list.py compares pages, tokens and every field with the SDK's own
reading of the same emulator bucket. Nothing here retries: the store's page operation
does, with the page's own token.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from providers.errors import CloudError, StorageError
from providers.native._common import StoreMapper, transport_error
from providers.native.gcs_account import USER_AGENT, GCSAccount, error_message
from providers.native.http import Answer, SendFailed

#: what planning reads of an object (GCSStorage._object_of), and the listing's token
OBJECT_FIELDS = "name,size,updated,etag,metadata,md5Hash,crc32c,generation"
LIST_FIELDS = f"items({OBJECT_FIELDS}),nextPageToken"

#: google.cloud._helpers._RFC3339_NANOS: what Blob.updated parses
_RFC3339_NANOS = re.compile(
    r"(?P<no_fraction>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.(?P<nanos>\d{1,9}))?Z"
)


def rfc3339_nanos(value: str) -> datetime:
    """A JSON API timestamp as google-cloud-storage reads it (`updated`, `timeCreated`):
    aware UTC, nanoseconds truncated to microseconds; ValueError for any other form."""
    found = _RFC3339_NANOS.match(value)
    if found is None:
        raise ValueError(f"Timestamp: {value!r}, does not match {_RFC3339_NANOS.pattern!r}")
    # the SDK's strptime("%Y-%m-%dT%H:%M:%S") of the matched digits, field by field (the
    # constructor refuses the same out-of-range values, with ValueError)
    fraction = found.group("nanos")
    micros = 0 if fraction is None else int(fraction) * 10 ** (9 - len(fraction)) // 1000
    v = found.group("no_fraction")
    return datetime(
        int(v[0:4]), int(v[5:7]), int(v[8:10]), int(v[11:13]), int(v[14:16]), int(v[17:19]),
        micros, tzinfo=UTC,
    )  # fmt: skip


def parse_page(body: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """(object resources, next page token or None) of an objects.list answer."""
    answer = json.loads(body)
    if not isinstance(answer, dict):
        raise ValueError("an objects.list answer is a JSON object")
    items = answer.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("the answer's items are no object resources")
    token = answer.get("nextPageToken") or None
    return items, str(token) if token is not None else None


class GCSList:
    """Listings, object descriptions and the bucket's existence of one bucket."""

    def __init__(self, account: GCSAccount, bucket: str) -> None:
        self.account = account
        self.bucket = bucket
        self.bucket_path = f"{account.path}/storage/v1/b/{quote(bucket, safe='')}"

    def __repr__(self) -> str:
        return f"GCSList({self.account.base!r}, bucket={self.bucket!r})"

    def list_target(
        self,
        prefix: str = "",
        page_token: str | None = None,
        page_size: int = 1000,
        *,
        start_offset: str | None = None,
        end_offset: str | None = None,
    ) -> str:
        params: list[tuple[str, str]] = [
            ("projection", "noAcl"),
            ("prettyPrint", "false"),
            ("maxResults", str(page_size)),
            ("fields", LIST_FIELDS),
        ]
        if prefix:
            params.append(("prefix", prefix))
        if start_offset:
            params.append(("startOffset", start_offset))
        if end_offset:
            params.append(("endOffset", end_offset))
        if page_token:
            params.append(("pageToken", page_token))
        return f"{self.bucket_path}/o?{urlencode(params)}"

    def _get(self, target: str, key: str, operation: str, map_error: StoreMapper) -> Answer:
        try:
            return self.account.send("GET", target, b"", {"User-Agent": USER_AGENT})
        except SendFailed as exc:
            raise _transport_error(exc, key, map_error, operation) from exc

    def page(
        self,
        prefix: str = "",
        page_token: str | None = None,
        page_size: int = 1000,
        *,
        start_offset: str | None = None,
        end_offset: str | None = None,
        map_error: StoreMapper,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One listing page: its object resources and the next page's token (None after
        the last), or the store's error for the answer."""
        target = self.list_target(
            prefix, page_token, page_size, start_offset=start_offset, end_offset=end_offset
        )
        answer = self._get(target, prefix, "list", map_error)
        if answer.status != 200:
            raise answer_error(answer, prefix, map_error, "list", CloudError)
        try:
            return parse_page(answer.body)
        except ValueError as exc:
            raise _malformed(answer, prefix, "list") from exc

    def get(self, key: str, *, operation: str, map_error: StoreMapper) -> dict[str, Any] | None:
        """The object resource of key (objects.get), or None when there is none (404)."""
        params = urlencode(
            [("projection", "noAcl"), ("prettyPrint", "false"), ("fields", OBJECT_FIELDS)]
        )
        target = f"{self.bucket_path}/o/{quote(key, safe='')}?{params}"
        answer = self._get(target, key, operation, map_error)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise answer_error(answer, key, map_error, operation, StorageError)
        try:
            resource = json.loads(answer.body)
        except ValueError as exc:
            raise _malformed(answer, key, operation) from exc
        if not isinstance(resource, dict):
            raise _malformed(answer, key, operation)
        return resource

    def bucket_exists(self, *, map_error: StoreMapper) -> bool:
        """buckets.get with fields=name, as Bucket.exists: 404 is False."""
        target = f"{self.bucket_path}?{urlencode([('fields', 'name'), ('prettyPrint', 'false')])}"
        answer = self._get(target, "", "bucket_exists", map_error)
        if answer.status == 404:
            return False
        if answer.status != 200:
            raise answer_error(answer, "", map_error, "bucket_exists", StorageError)
        return True


def answer_error(
    answer: Answer, key: str, mapper: StoreMapper, operation: str, kind: type[CloudError]
) -> CloudError:
    """An error answer as the google.api_core exception the SDK raises for it, through
    the store's own mapping (codes, hints, bucket or object not found)."""
    from google.api_core import exceptions as gexc

    err = gexc.from_http_status(answer.status, error_message(answer.body))
    return mapper(err, operation=operation, resource=key or None, kind=kind)


def _malformed(answer: Answer, key: str, operation: str) -> CloudError:
    return StorageError(
        f"the answer is no JSON API resource ({answer.body[:100]!r})",
        provider="gcp",
        operation=operation,
        resource=key or None,
        retryable=True,
    )


def _no_answer(exc: SendFailed, text: str) -> Exception:
    """requests' ConnectionError: what the SDK path sees with no answer (retryable)."""
    import requests

    return requests.exceptions.ConnectionError(text)


def _transport_error(exc: SendFailed, key: str, mapper: StoreMapper, operation: str) -> CloudError:
    return transport_error(
        exc, key, mapper, provider="gcp", cause=_no_answer, operation=operation,
        kind=StorageError if operation != "list" else CloudError,
        hint="Check the endpoint's certificate and the CA bundle (REQUESTS_CA_BUNDLE)",
    )  # fmt: skip


__all__ = ["LIST_FIELDS", "OBJECT_FIELDS", "GCSList", "answer_error", "parse_page", "rfc3339_nanos"]
