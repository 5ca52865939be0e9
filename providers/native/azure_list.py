"""A lean Azure List Blobs: one signed GET per page through the writer's keep-alive pool.

azure-storage-blob's `list_blobs(...).by_page()` sends, for a flat listing with metadata:

    GET {container URL}?restype=container&comp=list&include=metadata&maxresults=N
        [&prefix=P][&marker=M][&{SAS}]
    x-ms-date, x-ms-version, Authorization: SharedKey ... (or the SAS in the query)

and reads the EnumerationResults answer ("List Blobs", Azure Storage REST API): per
`Blob`, its `Name` (percent-encoded when `Encoded="true"`), `VersionId`, the `Properties`
`Content-Length`, `Last-Modified`, `Etag` and `Content-MD5`, and its `Metadata`; then
`NextMarker`, empty after the last page. This module sends the same request, signed as
the lean writer signs (providers/native/azure_put), and parses the same fields with
xml.etree; tests/native/test_azure_list.py compares every field with the SDK's reading
of the same container on Azurite (which checks every signature) and with the List Blobs
answer documented by the REST reference (tests/native/vectors). Nothing here retries:
the store's page operation does, with the page's own marker.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree

from providers.errors import CloudError, DownloadError
from providers.native._common import StoreMapper
from providers.native.azure_account import AzureAccount
from providers.native.azure_put import (
    USER_AGENT,
    _answer_error,
    _http_date,
    _transport_error,
    sign,
    string_to_sign,
)
from providers.native.http import Pool, SendFailed


@dataclass(frozen=True)
class BlobEntry:
    """One blob of a listing page, as the service described it."""

    name: str
    size: int
    last_modified: datetime | None
    etag: str | None
    content_md5: bytes | None
    metadata: dict[str, str] = field(default_factory=dict)
    version_id: str | None = None


def parse_page(body: bytes) -> tuple[list[BlobEntry], str | None]:
    """(blobs, next marker or None) of an EnumerationResults answer."""
    root = ElementTree.fromstring(body)
    out: list[BlobEntry] = []
    blobs = root.find("Blobs")
    for blob in blobs.iterfind("Blob") if blobs is not None else ():
        name_el = blob.find("Name")
        name = (name_el.text or "") if name_el is not None else ""
        if name_el is not None and (name_el.get("Encoded") or "").lower() == "true":
            name = unquote(name)
        props: dict[str, str] = {}
        props_el = blob.find("Properties")
        if props_el is not None:
            props = {child.tag: child.text or "" for child in props_el}
        meta_el = blob.find("Metadata")
        metadata = (
            {child.tag: child.text or "" for child in meta_el if child.tag != "x-ms-invalid-name"}
            if meta_el is not None
            else {}
        )
        md5: bytes | None = None
        if props.get("Content-MD5"):
            try:
                md5 = base64.b64decode(props["Content-MD5"], validate=True)
            except (binascii.Error, ValueError):
                md5 = None
        version = blob.findtext("VersionId") or None
        out.append(
            BlobEntry(
                name=name,
                size=int(props.get("Content-Length") or 0),
                last_modified=_http_date(props.get("Last-Modified")),
                etag=(props.get("Etag") or "").strip('"') or None,
                content_md5=md5,
                metadata=metadata,
                version_id=version,
            )
        )
    marker = root.findtext("NextMarker") or None
    return out, marker


class ListBlobs:
    """List Blobs of one container, signed with the account key or carrying a SAS."""

    def __init__(self, account: AzureAccount, container: str, pool: Pool) -> None:
        self._account = account
        self.container = container
        self.path = urlsplit(account.container_url(container)).path
        self._pool = pool
        self.auth = account.auth

    def __repr__(self) -> str:  # the key and the SAS stay out of repr
        return f"ListBlobs({self._account.container_url(self.container)!r}, auth={self.auth})"

    def request(
        self, prefix: str, marker: str | None, page_size: int
    ) -> tuple[str, dict[str, str]]:
        """(path and query, headers) of one page's GET, signed."""
        query = [
            ("restype", "container"),
            ("comp", "list"),
            ("include", "metadata"),
            ("maxresults", str(int(page_size))),
        ]
        if prefix:
            query.append(("prefix", quote(prefix, safe="")))
        if marker:
            query.append(("marker", quote(marker, safe="")))
        headers = {
            "x-ms-date": formatdate(usegmt=True),
            "x-ms-version": self._account.api_version,
            "Accept": "application/xml",
            "User-Agent": USER_AGENT,
        }
        target = f"{self.path}?{'&'.join(f'{k}={v}' for k, v in query)}"
        account = self._account
        if account.key is not None:
            text = string_to_sign(account.account, "GET", self.path, query, headers)
            headers["Authorization"] = f"SharedKey {account.account}:{sign(account.key, text)}"
        elif account.sas:
            target = f"{target}&{account.sas}"
        return target, headers

    def page(
        self, prefix: str, marker: str | None, page_size: int, *, map_error: StoreMapper
    ) -> tuple[list[BlobEntry], str | None]:
        """One page and the marker of the next (None after the last); a refusal as the
        store's CloudError (a wrong key or SAS: CredentialsError; no container:
        BucketNotFoundError)."""
        target, headers = self.request(prefix, marker, page_size)
        where = prefix or self.container
        try:
            answer = self._pool.request("GET", target, b"", headers)
        except SendFailed as exc:
            raise _transport_error(
                exc, where, map_error, operation="list", kind=DownloadError
            ) from exc
        if answer.status != 200:
            raise _answer_error(
                answer.status, answer.headers, answer.body, where, map_error,
                operation="list", kind=DownloadError,
            )  # fmt: skip
        try:
            return parse_page(answer.body)
        except (ElementTree.ParseError, ValueError) as exc:
            raise _bad_answer(answer.body, where) from exc


def _bad_answer(body: bytes, where: str) -> CloudError:
    return DownloadError(
        f"the List Blobs answer is no EnumerationResults ({body[:100]!r})",
        provider="azure",
        operation="list",
        resource=where,
        retryable=True,
    )


__all__ = ["BlobEntry", "ListBlobs", "parse_page"]
