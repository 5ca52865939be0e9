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

Built from the store's storage.Client: its API base URL (the emulator's, when
STORAGE_EMULATOR_HOST / client options name one), its credentials (`before_request`
adds and refreshes the bearer token, as google-auth's AuthorizedSession does; anonymous
credentials add nothing), the CA bundle and proxy environment requests reads. Nothing here
retries: the body is in memory and the store level resends it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from providers.errors import CloudError, UploadError
from providers.native._common import StoreMapper, transport_error
from providers.native.http import Pool, SendFailed, pool_for

USER_AGENT = "specify-native-gcs/1 (socket)"


class GCSInsert:
    """Multipart uploads into one bucket."""

    def __init__(self, *, base: str, bucket: str, credentials: Any, pool: Pool) -> None:
        self.base = base.rstrip("/")
        self.path = urlsplit(self.base).path
        self.bucket = bucket
        self._credentials = credentials
        self._pool = pool
        self._auth_request: Any = None
        self._auth_lock = threading.Lock()

    def __repr__(self) -> str:  # credentials stay out of repr
        return f"GCSInsert({self.base!r}, bucket={self.bucket!r})"

    @classmethod
    def from_client(cls, client: Any, bucket: str) -> GCSInsert | None:
        """The writer for a storage.Client's bucket, or None (the SDK writes) when the
        client's connection is not the plain JSON API one this writer knows."""
        connection = getattr(client, "_connection", None)
        base = getattr(connection, "API_BASE_URL", None)
        credentials = getattr(client, "_credentials", None)
        if (
            not base
            or credentials is None
            or not callable(getattr(credentials, "before_request", None))
        ):
            return None
        session = getattr(client, "_http", None)
        verify = getattr(session, "verify", True)
        return cls(
            base=str(base),
            bucket=bucket,
            credentials=credentials,
            pool=pool_for(str(base), verify=verify if isinstance(verify, bool | str) else True),
        )

    def _authorize(self, method: str, url: str, headers: dict[str, str]) -> None:
        """Bearer token from the client's credentials, refreshed when due (google-auth)."""
        with self._auth_lock:
            if self._auth_request is None:
                import requests
                from google.auth.transport.requests import Request

                from providers.httpenv import configure_session

                self._auth_request = Request(configure_session(requests.Session()))
            self._credentials.before_request(self._auth_request, method, url, headers)

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
        self._authorize("POST", f"{urlsplit(self.base).scheme}://{urlsplit(self.base).netloc}"
                        f"{target}", headers)  # fmt: skip
        try:
            answer = self._pool.request("POST", target, payload, headers)
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
    """The native byte path of one GCS bucket: single-shot writes only (reads keep the
    SDK, whose downloads are checked against md5Hash/crc32c)."""

    reads = False

    def __init__(self, writer: GCSInsert) -> None:
        self.writer = writer
        self.refused = False  # no obstore TLS here: kept for the chooser's protocol

    @classmethod
    def from_client(cls, client: Any, bucket: str) -> GCSBytePath | None:
        writer = GCSInsert.from_client(client, bucket)
        return cls(writer) if writer is not None else None


def _answer_error(status: int, data: bytes, key: str, mapper: StoreMapper) -> CloudError:
    """An error answer as the google.api_core exception it stands for, through the
    store's own mapping."""
    from google.api_core import exceptions as gexc

    message = data.decode("utf-8", "replace")[:2000]
    with contextlib.suppress(ValueError, KeyError, TypeError):
        message = str(json.loads(data)["error"]["message"])
    err = gexc.from_http_status(status, message)
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
