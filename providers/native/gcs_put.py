"""A lean GCS single-shot write: one JSON API multipart upload through a keep-alive pool.

google-cloud-storage spends a few ms of Python CPU per small upload (its resumable-media
layer, requests' adapters, the Blob resource round trip). This writer sends the request
the SDK sends for `upload_from_file(size=...)` below its resumable threshold, and nothing
else:

    POST {API base}/upload/storage/v1/b/{bucket}/o?uploadType=multipart
    Content-Type: multipart/related; boundary=...
      part 1, application/json: {"name", "contentType", "metadata" (our sha256 + the
                                 caller's), "md5Hash", "crc32c"}
      part 2, application/octet-stream: the bytes

GCS computes the MD5 and CRC32C of the bytes it received and refuses to create the
object when they differ from `md5Hash`/`crc32c` in the resource (the JSON API contract;
gcp-storage-emulator does the same, 409/400), so an older object under the key stays as it
was. The answer is the object resource: the store checks its md5Hash, crc32c and our
sha256 record exactly as on the SDK path (`GCSStorage._verified`).

Sent through the store's GCSAccount (providers/native/gcs_account: read from the
provider's settings or block without google-cloud-storage, or from a given storage.Client):
its API base URL (the emulator's, when STORAGE_EMULATOR_HOST / client options name one),
its credentials (`before_request` adds and refreshes the bearer token, as google-auth's
AuthorizedSession does, and a 401 refreshes and resends; anonymous adds nothing), the CA
bundle and proxy environment requests reads. Nothing else here retries: the body is in
memory and the store level resends it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from providers.errors import CloudError, UploadError
from providers.native._common import StoreMapper, transport_error
from providers.native.gcs_account import USER_AGENT, GCSAccount, error_message
from providers.native.http import SendFailed


class GCSInsert:
    """Multipart uploads into one bucket, sent through the account's pool."""

    def __init__(self, account: GCSAccount, bucket: str) -> None:
        self.account = account
        self.base = account.base.rstrip("/")
        self.path = account.path
        self.bucket = bucket

    def __repr__(self) -> str:  # credentials stay out of repr
        return f"GCSInsert({self.base!r}, bucket={self.bucket!r})"

    @classmethod
    def from_client(cls, client: Any, bucket: str) -> GCSInsert | None:
        """The writer for a storage.Client's bucket, or None (the SDK writes) when the
        client's connection is not the plain JSON API one this writer knows."""
        account = GCSAccount.from_client(client)
        return cls(account, bucket) if account is not None else None

    def _authorize(self, method: str, url: str, headers: dict[str, str]) -> None:
        """Bearer token from the account's credentials, refreshed when due (google-auth)."""
        self.account.authorize(method, url, headers)

    def request(
        self, key: str, body: bytes, resource: Mapping[str, Any]
    ) -> tuple[str, dict[str, str], bytes]:
        """(target, headers, body) of the multipart upload of body under key."""
        boundary = f"==={uuid.uuid4().hex}=="
        meta = json.dumps({"name": key, **resource}, separators=(",", ":")).encode()
        payload = b"".join(
            (
                f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n".encode(),
                meta,
                f"\r\n--{boundary}\r\ncontent-type: application/octet-stream\r\n\r\n".encode(),
                body,
                f"\r\n--{boundary}--".encode(),
            )
        )
        target = (
            f"{self.path}/upload/storage/v1/b/{quote(self.bucket, safe='')}/o?uploadType=multipart"
        )
        headers = {
            "Content-Type": f'multipart/related; boundary="{boundary}"',
            "Content-Length": str(len(payload)),
            "User-Agent": USER_AGENT,
        }
        return target, headers, payload

    def insert(
        self,
        key: str,
        body: bytes,
        *,
        metadata: Mapping[str, str],
        md5: str,
        crc32c: str,
        map_error: StoreMapper,
    ) -> dict[str, Any]:
        """One multipart upload; the object resource GCS answers with."""
        resource = {
            "contentType": "application/octet-stream",
            "metadata": dict(metadata),
            "md5Hash": md5,
            "crc32c": crc32c,
        }
        target, headers, payload = self.request(key, body, resource)
        try:
            answer = self.account.send("POST", target, payload, headers)
        except SendFailed as exc:
            raise _transport_error(exc, key, map_error) from exc
        if not 200 <= answer.status < 300:
            raise _answer_error(answer.status, answer.body, key, map_error)
        try:
            out: dict[str, Any] = json.loads(answer.body)
        except ValueError as exc:
            raise UploadError(
                f"the upload answer is no object resource ({answer.body[:100]!r})",
                provider="gcp",
                operation="upload",
                resource=key,
                retryable=True,
            ) from exc
        return out


class GCSBytePath:
    """The native byte path of one GCS bucket: single-shot writes, listings and object
    descriptions (reads of bytes keep the SDK, whose downloads are checked against
    md5Hash/crc32c)."""

    reads = False

    def __init__(self, account: GCSAccount, bucket: str) -> None:
        from providers.native.gcs_list import GCSList

        self.account = account
        self.writer = GCSInsert(account, bucket)
        self.lister = GCSList(account, bucket)
        self.refused = False  # no obstore TLS here: kept for the chooser's protocol

    @classmethod
    def from_account(cls, account: GCSAccount, bucket: str) -> GCSBytePath:
        return cls(account, bucket)

    @classmethod
    def from_client(cls, client: Any, bucket: str) -> GCSBytePath | None:
        account = GCSAccount.from_client(client)
        return cls(account, bucket) if account is not None else None


def _answer_error(status: int, data: bytes, key: str, mapper: StoreMapper) -> CloudError:
    """An error answer as the google.api_core exception it stands for, through the
    store's own mapping."""
    from google.api_core import exceptions as gexc

    err = gexc.from_http_status(status, error_message(data))
    return mapper(err, operation="upload", resource=key, kind=UploadError)


def _no_answer(exc: SendFailed, text: str) -> Exception:
    """requests' ConnectionError: what the SDK path sees with no answer (retryable)."""
    import requests

    return requests.exceptions.ConnectionError(text)


def _transport_error(exc: SendFailed, key: str, mapper: StoreMapper) -> CloudError:
    return transport_error(
        exc, key, mapper, provider="gcp", cause=_no_answer,
        hint="Check the endpoint's certificate and the CA bundle (REQUESTS_CA_BUNDLE)",
    )  # fmt: skip


__all__ = ["USER_AGENT", "GCSBytePath", "GCSInsert"]
