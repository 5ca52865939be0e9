"""Google Cloud Storage through google-cloud-storage.

Every upload records the content's sha256 in the object's custom metadata (what
replication compares across clouds) and checks the md5/crc32c the service reports against
the bytes sent. Files at or above `resumable_threshold` go through a resumable upload in
`chunk_size` pieces. Downloads stream to a temporary file beside the target, are verified,
then renamed into place. `get_url` signs a V4 URL with a service-account key, or through
the IAM signBlob API when the credentials carry only an access token.

A store the provider opens lists, describes and writes single-shot objects through the
lean JSON API requests of providers/native (gcs_account, gcs_list, gcs_put) and builds its
storage.Client only for the rest (SPECIFY_DATA_PLANE=sdk: everything through the SDK).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from providers.base import (
    SHA256_METADATA_KEY,
    CheckedDownload,
    ObjectVersion,
    StorageObject,
    follow_pages,
    within_range,
)
from providers.errors import (
    BucketExistsError,
    BucketNotFoundError,
    CloudError,
    ConfigurationError,
    DeleteError,
    DownloadError,
    IntegrityError,
    NotFoundError,
    ObjectNotFoundError,
    StorageError,
    UploadError,
    refine_not_found,
    sdk_missing,
)
from providers.gcp.common import EXTRA, PROVIDER, GCPService, require, utc
from providers.integrity import b64_to_hex, hex_to_b64
from providers.locations import check_key
from providers.native import DataPlaneSettings, byte_path
from providers.operation import cloud_operation

if TYPE_CHECKING:
    from providers.native.gcs_account import GCSAccount
    from providers.native.gcs_list import GCSList

if importlib.util.find_spec("google.cloud.storage") is None:  # pragma: no cover
    # checked here, imported where a storage.Client is built (a store the provider opens
    # lists and writes through providers.native's lean requests until it needs one)
    raise sdk_missing(PROVIDER, "google-cloud-storage", EXTRA)

#: GCS wants resumable chunks in multiples of 256 KiB
CHUNK_QUANTUM = 256 * 1024
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
DEFAULT_RESUMABLE_THRESHOLD = 8 * 1024 * 1024
#: V4 signed URLs may live at most seven days
MAX_URL_EXPIRY = 7 * 24 * 3600
_READ_BLOCK = 1024 * 1024
#: operations on the bucket itself: a 404 there is the bucket's
_BUCKET_OPERATIONS = frozenset(
    {"list", "list_versions", "upload", "upload_stream", "set_versioning", "versioning_enabled"}
)


def _user_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The metadata a caller gave, names in lower case, without our sha256 entry."""
    return {
        k.lower(): str(v) for k, v in (metadata or {}).items() if k.lower() != SHA256_METADATA_KEY
    }


@dataclass(frozen=True)
class Digests:
    """The three checksums of one content: sha256 (hex), md5 and crc32c (GCS base64)."""

    sha256: str
    md5: str
    crc32c: str


_CRC32C: list[Any] = []


def _crc32c() -> Any:
    """google_crc32c, imported once."""
    if not _CRC32C:
        _CRC32C.append(require("google_crc32c", "google-crc32c"))
    return _CRC32C[0]


class _Hasher:
    """sha256 + md5 + crc32c over the same bytes in one pass."""

    def __init__(self) -> None:
        crc = _crc32c()
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc = crc.Checksum()
        self.nbytes = 0

    def update(self, data: bytes) -> None:
        self._sha.update(data)
        self._md5.update(data)
        self._crc.update(data)
        self.nbytes += len(data)

    def digests(self) -> Digests:
        return Digests(
            sha256=self._sha.hexdigest(),
            md5=base64.b64encode(self._md5.digest()).decode(),
            crc32c=base64.b64encode(self._crc.digest()).decode(),
        )


def file_digests(path: Path) -> Digests:
    hasher = _Hasher()
    with path.open("rb") as fh:
        while block := fh.read(_READ_BLOCK):
            hasher.update(block)
    return hasher.digests()


class _Forward:
    """A forward-only stream with the tell()/seek(current) the resumable upload asks for.

    A seek anywhere else would mean re-sent bytes, which a forward stream cannot give: it
    fails that upload (the engine retries from a fresh stream)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = offset if whence == os.SEEK_SET else self._pos + offset
        if whence == os.SEEK_END or target != self._pos:
            raise OSError("a forward-only stream cannot seek back")
        return self._pos


class GCSStorage(GCPService, CheckedDownload):
    """One Cloud Storage bucket.

    Built from a storage.Client (`client`), or lean: from the account the provider read
    from its settings (`lean_account`, providers/native/gcs_account) and a `connect`
    that builds the storage.Client on the first operation the lean requests do not cover
    (listing pages, single-shot writes and object descriptions are covered: a
    replication to GCS never imports google-cloud-storage)."""

    takes_digests: ClassVar[bool] = True

    service_name = "gcs"

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        project: str,
        connect: Callable[[], Any] | None = None,
        lean_account: GCSAccount | None = None,
        signing_credentials: Any = None,
        signing: Callable[[], Any] | None = None,
        kms_key_name: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        resumable_threshold: int = DEFAULT_RESUMABLE_THRESHOLD,
        api_access_endpoint: str | None = None,
        data_plane: DataPlaneSettings | None = None,
    ) -> None:
        super().__init__(project)
        # which client moves the bytes (providers.native): read and checked up front
        self.data_plane = data_plane or DataPlaneSettings.from_env()
        if chunk_size <= 0 or chunk_size % CHUNK_QUANTUM:
            raise ConfigurationError(
                f"chunk size {chunk_size} is not a positive multiple of 256 KiB",
                provider=self.provider_name,
                operation="configure",
                hint="Use a multiple of 262144 bytes, e.g. 8388608 (8 MiB)",
            )
        if client is None and connect is None:
            raise ConfigurationError(
                "GCSStorage needs a storage.Client or a way to build one",
                provider=self.provider_name,
                operation="configure",
                hint="Open the bucket through GCPProvider.get_storage(), or pass client=",
            )
        self.bucket_name = bucket
        self._client = client
        self._connect = connect
        self._client_lock = threading.Lock()
        self._bucket_handle: Any = None
        self._signing_credentials = signing_credentials
        self._signing = signing
        self.kms_key_name = kms_key_name
        self.chunk_size = chunk_size
        self.resumable_threshold = resumable_threshold
        # Signed URLs point at the emulator when one is in use, else at Google.
        self.api_access_endpoint = api_access_endpoint
        #: the endpoint and credentials as the lean requests (providers/native) read them
        #: from the provider's settings: the SDK client is then built on first use only
        self.lean_account = (
            lean_account if client is None and self.data_plane.mode != "sdk" else None
        )
        if self._client is None and self.lean_account is None:
            _ = self.client  # the SDK does everything: built now, as before

    @property
    def client(self) -> Any:
        """The storage.Client (built on first use when the store was opened lean)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    assert self._connect is not None
                    self._client = self._connect()
        return self._client

    @property
    def _bucket(self) -> Any:
        if self._bucket_handle is None:
            self._bucket_handle = self.client.bucket(self.bucket_name)
        return self._bucket_handle

    @property
    def signing_credentials(self) -> Any:
        """The credentials get_url signs with (resolved on first use), or None."""
        if self._signing_credentials is None and self._signing is not None:
            self._signing_credentials = self._signing()
        return self._signing_credentials

    def _lean(self) -> GCSList | None:
        """The lean JSON API reads of this bucket (providers/native/gcs_list), or None
        where the SDK reads (data plane 'sdk', or a client the lean requests do not know)."""
        chosen = byte_path(self)
        return getattr(chosen, "lister", None)

    def where(self) -> dict[str, Any]:
        return {"project": self.project, "bucket": self.bucket_name}

    def uri(self, remote_key: str = "") -> str:
        return f"gs://{self.bucket_name}/{remote_key}" if remote_key else f"gs://{self.bucket_name}"

    @property
    def encryption(self) -> str | None:
        """The Cloud KMS key every write asks for (SupportsEncryption), or None."""
        return f"kms:{self.kms_key_name}" if self.kms_key_name else None

    def map_error(
        self,
        exc: Exception,
        *,
        operation: str,
        resource: str | None,
        kind: type[CloudError],
    ) -> CloudError:
        """The GCP mapping, with a 404 told apart: the bucket's or the object's."""
        err = super().map_error(exc, operation=operation, resource=resource, kind=kind)
        if not isinstance(err, NotFoundError):
            return err
        if operation in _BUCKET_OPERATIONS or not self._bucket_found():
            return refine_not_found(err, BucketNotFoundError, self._bucket_hint())
        return refine_not_found(err, ObjectNotFoundError)

    def _bucket_found(self) -> bool:
        lean = self._lean()
        if lean is not None:
            return lean.bucket_exists(map_error=self.map_error)
        return bool(self._bucket.exists(retry=None))

    def _bucket_hint(self) -> str:
        return (
            f"Create the bucket first (create_bucket, or `specify cloud mb {self.uri()}`), "
            f"or check its name and the project ({self.project})"
        )

    # ------------------------------------------------------------------ helpers
    def _blob(self, key: str, generation: int | None = None) -> Any:
        # Retries are the decorator's job: the SDK's own retry is switched off per call
        # (retry=None) so a failure is tried again by one policy, not two nested ones.
        return self._bucket.blob(check_key(key), generation=generation)

    def _object(self, blob: Any) -> StorageObject:
        metadata = dict(blob.metadata or {})
        hashes: dict[str, str] = {}
        if blob.md5_hash:  # composite objects have none
            hashes["md5"] = b64_to_hex(blob.md5_hash)
        if blob.crc32c:
            hashes["crc32c"] = str(blob.crc32c)
        return StorageObject(
            hashes=hashes,
            key=blob.name,
            size=int(blob.size or 0),
            last_modified=utc(blob.updated),
            etag=blob.etag,
            sha256=metadata.get(SHA256_METADATA_KEY),
            metadata=_user_metadata(metadata),
            version_id=str(blob.generation) if blob.generation is not None else None,
        )

    @staticmethod
    def _object_of(resource: Mapping[str, Any]) -> StorageObject:
        """An object resource of the JSON API (a lean listing's item, a lean write's
        answer) read exactly as `_object` reads the Blob the SDK makes of it."""
        from providers.native.gcs_list import rfc3339_nanos

        metadata = dict(resource.get("metadata") or {})
        md5, crc = resource.get("md5Hash"), resource.get("crc32c")
        hashes: dict[str, str] = {}
        if md5:  # composite objects have none
            hashes["md5"] = b64_to_hex(md5)
        if crc:
            hashes["crc32c"] = str(crc)
        size, updated, generation = (resource.get(k) for k in ("size", "updated", "generation"))
        return StorageObject(
            hashes=hashes,
            key=resource.get("name"),  # type: ignore[arg-type]
            size=int(size or 0),
            last_modified=rfc3339_nanos(updated) if updated is not None else None,
            etag=resource.get("etag"),
            sha256=metadata.get(SHA256_METADATA_KEY),
            metadata=_user_metadata(metadata),
            version_id=str(int(generation)) if generation is not None else None,
        )

    def _put(
        self,
        stream: Any,
        key: str,
        size: int,
        metadata: Mapping[str, str],
        digests: Digests,
    ) -> Any:
        """One upload whose md5 and crc32c go in the object resource, so GCS checks the
        bytes it received against them and refuses to create the object on a mismatch
        (multipart upload, or the final request of a resumable one). Until then an older
        object under the key stays as it was."""
        blob = self._blob(key)
        blob.metadata = dict(metadata)
        blob.md5_hash = digests.md5
        blob.crc32c = digests.crc32c
        if self.kms_key_name:
            blob.kms_key_name = self.kms_key_name
        resumable = size >= self.resumable_threshold
        if resumable:
            blob.chunk_size = self.chunk_size
        blob.upload_from_file(
            stream,
            # the SDK sends anything up to 8 MiB in one multipart request unless the size
            # is left open, which forces a resumable session (chunked by chunk_size)
            size=size if (not resumable or size > 8 * 1024 * 1024) else None,
            content_type="application/octet-stream",
            checksum="crc32c",
            crc32c_checksum_value=digests.crc32c if resumable else None,
            retry=None,
        )
        return blob

    def _verified(self, blob: Any, digests: Digests, key: str, sha256: str) -> StorageObject:
        """The md5Hash/crc32c GCS reports for the stored object against the bytes sent."""
        return self._checked(self._object(blob), blob.md5_hash, blob.crc32c, digests, key, sha256)

    def _checked(
        self,
        obj: StorageObject,
        md5: str | None,
        crc32c: str | None,
        digests: Digests,
        key: str,
        sha256: str,
    ) -> StorageObject:
        """The service's md5Hash/crc32c (base64, as reported) and sha256 record of a
        written object against the bytes sent."""
        for name, ours, theirs in (("md5", digests.md5, md5), ("crc32c", digests.crc32c, crc32c)):
            if theirs and theirs != ours:
                raise IntegrityError(
                    f"{name} reported by the service ({theirs}) differs from the bytes sent "
                    f"({ours})",
                    provider=self.provider_name,
                    operation="upload",
                    resource=key,
                )
        if obj.sha256 != sha256:  # the metadata part of the request was damaged
            raise IntegrityError(
                f"the service recorded sha256 {obj.sha256!r}, sent {sha256}",
                provider=self.provider_name,
                operation="upload",
                resource=key,
            )
        evidence = "gcs:md5Hash" if md5 else "gcs:crc32c" if crc32c else None
        return replace(obj, sha256=sha256, verified=evidence is not None, evidence=evidence)

    # ------------------------------------------------------------------ protocol
    @cloud_operation("upload", kind=UploadError, mutating=True, metric="upload")
    def upload(
        self, local_path: Path | str, remote_key: str, metadata: Mapping[str, str] | None = None
    ) -> str:
        """Upload a file with its sha256 in metadata; resumable at/above the threshold.

        Retried here as a whole: each attempt reopens the file."""
        path = Path(local_path)
        check_key(remote_key)
        digests = file_digests(path)
        meta = {**_user_metadata(metadata), SHA256_METADATA_KEY: digests.sha256}
        with path.open("rb") as fh:
            blob = self._put(fh, remote_key, path.stat().st_size, meta, digests)
        self._verified(blob, digests, remote_key, digests.sha256)
        return self.uri(remote_key)

    # never retried here: the stream cannot be rewound (the caller reopens and retries)
    @cloud_operation("upload_stream", kind=UploadError, mutating=True, metric="upload", retry=False)
    def upload_stream(
        self,
        stream: BinaryIO,
        remote_key: str,
        *,
        size: int,
        sha256: str,
        metadata: Mapping[str, str] | None = None,
        digests: Mapping[str, str] | None = None,
    ) -> StorageObject:
        """Write from a stream whose size and sha256 are known, checked by the service.

        GCS needs the md5/crc32c up front: small objects are read into memory (bounded by
        the resumable threshold) and hashed; large ones use the caller's `digests` when
        given (e.g. a GCS source's own), else go through an unlinked temp file once."""
        check_key(remote_key)
        meta = {**_user_metadata(metadata), SHA256_METADATA_KEY: sha256}
        known = dict(digests or {})
        if size < self.resumable_threshold:
            data = stream.read(size + 1)
            hasher = _Hasher()
            hasher.update(data)
            got = hasher.digests()
            self._check_planned(remote_key, len(data), got.sha256, size, sha256)
            native = self._native_writer(remote_key)
            if native is not None:
                resource = self._native_put(native, remote_key, data, meta, got)
                md5, crc = resource.get("md5Hash"), resource.get("crc32c")
                return replace(
                    self._checked(self._object_of(resource), md5, crc, got, remote_key, sha256),
                    evidence=f"gcs:native-{'md5Hash' if md5 else 'crc32c'}",
                )
            blob = self._put(io.BytesIO(data), remote_key, size, meta, got)
            return self._verified(blob, got, remote_key, sha256)
        if "md5" in known and "crc32c" in known:
            want = Digests(sha256, hex_to_b64(known["md5"]), known["crc32c"])
            # GCS checks md5/crc32c at the end; a CheckedReader also checks our sha256
            blob = self._put(_Forward(stream), remote_key, size, meta, want)
            return self._verified(blob, want, remote_key, sha256)
        with tempfile.TemporaryFile(prefix="specify-gcs-") as spool:  # unlinked at once
            hasher = _Hasher()
            while block := stream.read(_READ_BLOCK):
                hasher.update(block)
                spool.write(block)
            got = hasher.digests()
            self._check_planned(remote_key, hasher.nbytes, got.sha256, size, sha256)
            spool.seek(0)
            blob = self._put(spool, remote_key, size, meta, got)
        return self._verified(blob, got, remote_key, sha256)

    def _native_writer(self, key: str) -> Any:
        """The lean multipart writer (providers.native chooses per store), or None: the
        SDK writes (KMS-keyed buckets keep it: the key goes in the upload's query)."""
        from providers.native import native_for

        if self.kms_key_name:
            return None
        native = native_for(self, key)
        return getattr(native, "writer", None)

    def _native_put(
        self, native: Any, key: str, data: bytes, meta: Mapping[str, str], got: Digests
    ) -> dict[str, Any]:
        """One multipart upload with md5Hash/crc32c in the resource (GCS refuses a body
        that does not match them before creating the object); the body is in memory, so
        this level resends it (the writer retries nothing). The answer is the object
        resource, read as the SDK reads it (`_object_of`) for the same checks."""
        resource: dict[str, Any] = self.retry_policy.call(
            lambda: native.insert(
                key, data, metadata=meta, md5=got.md5, crc32c=got.crc32c,
                map_error=self.map_error,
            )
        )  # fmt: skip
        return resource

    def _check_planned(self, key: str, nbytes: int, got: str, size: int, sha256: str) -> None:
        if nbytes != size or got != sha256:
            raise IntegrityError(
                f"the stream gave {nbytes} bytes with sha256 {got[:12]}, expected {size} "
                f"bytes with sha256 {sha256[:12]}; nothing was written",
                provider=self.provider_name,
                operation="upload_stream",
                resource=key,
            )

    @cloud_operation("download", kind=DownloadError, metric="download")
    def download(
        self, remote_key: str, local_path: Path | str, version_id: str | None = None
    ) -> Path:
        """Stream to a temp file beside local_path, checked against GCS's md5Hash/crc32c
        and our sha256, then rename."""
        return self._download_checked(remote_key, local_path, version_id)

    def _describe(self, key: str, version_id: str | None) -> StorageObject:
        blob = self._bucket.get_blob(
            check_key(key), generation=int(version_id) if version_id else None, retry=None
        )
        if blob is None:
            raise self._missing(key, "download")
        return self._object(blob)

    def _open_bytes(self, key: str, version_id: str | None, obj: StorageObject) -> BinaryIO:
        blob = self._bucket.blob(
            check_key(key), generation=int(obj.version_id) if obj.version_id else None
        )
        reader: BinaryIO = blob.open("rb", chunk_size=self.chunk_size, retry=None)
        return reader

    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        """Every live object under prefix, one listing page (1000 objects) at a time."""
        return follow_pages(lambda token: self.list_page(prefix, token))

    def list_range(
        self,
        prefix: str = "",
        start: str | None = None,
        end: str | None = None,
        *,
        page_size: int = 1000,
    ) -> Iterator[StorageObject]:
        """Objects under prefix with start <= key < end, ascending: GCS's startOffset
        (inclusive) and endOffset (exclusive) bound the listing on the service (a server
        that ignores them, such as the emulator, is bounded here)."""
        pages = follow_pages(
            lambda token: self.list_page(
                prefix, token, page_size, start_offset=start, end_offset=end
            )
        )
        return within_range(pages, start, end)

    @cloud_operation("list", kind=CloudError, resource="prefix")
    def list_page(
        self,
        prefix: str = "",
        page_token: str | None = None,
        page_size: int = 1000,
        *,
        start_offset: str | None = None,
        end_offset: str | None = None,
    ) -> tuple[list[StorageObject], str | None]:
        """One page of the listing and the token of the next (None after the last).

        A page is the unit that is retried, so a dropped connection deep in a long
        listing does not restart it. start_offset/end_offset: GCS's key range (give the
        same on every page).
        """
        lean = self._lean()
        if lean is not None:
            resources, token = lean.page(
                prefix, page_token, page_size, start_offset=start_offset,
                end_offset=end_offset, map_error=self.map_error,
            )  # fmt: skip
            return [self._object_of(r) for r in resources], token
        blobs = self.client.list_blobs(
            self.bucket_name,
            prefix=prefix or None,
            page_size=page_size,
            page_token=page_token,
            start_offset=start_offset,
            end_offset=end_offset,
            retry=None,
        )
        page = next(blobs.pages, None)
        objects = [self._object(b) for b in page] if page is not None else []
        return objects, blobs.next_page_token

    @cloud_operation("list_versions", kind=StorageError)
    def list_versions(self, remote_key: str) -> list[ObjectVersion]:
        """Every stored generation of one object, newest first."""
        check_key(remote_key)
        versions = [
            blob
            for blob in self.client.list_blobs(
                self.bucket_name, prefix=remote_key, versions=True, retry=None
            )
            if blob.name == remote_key
        ]
        live = [b for b in versions if b.time_deleted is None]
        latest = max((int(b.generation) for b in live), default=None)
        versions.sort(key=lambda b: int(b.generation), reverse=True)
        return [
            ObjectVersion(
                key=b.name,
                version_id=str(b.generation),
                size=int(b.size or 0),
                last_modified=utc(b.updated),
                is_latest=int(b.generation) == latest,
                sha256=(b.metadata or {}).get(SHA256_METADATA_KEY),
            )
            for b in versions
        ]

    @cloud_operation("set_versioning", kind=StorageError, mutating=True, resource=None)
    def set_versioning(self, enabled: bool = True) -> None:
        """Keep noncurrent generations when objects are overwritten or deleted."""
        self._bucket.versioning_enabled = enabled
        self._bucket.patch(retry=None)

    @cloud_operation("versioning_enabled", kind=StorageError, resource=None)
    def versioning_enabled(self) -> bool:
        """Whether the bucket keeps noncurrent generations (read from the service)."""
        self._bucket.reload(retry=None)
        return bool(self._bucket.versioning_enabled)

    @cloud_operation("delete", kind=DeleteError, mutating=True)
    def delete(self, remote_key: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self._blob(remote_key).delete(retry=None)
        except NotFound:
            if not self._bucket_found():
                raise
            return False
        return True

    @cloud_operation("get_url", kind=CloudError)
    def get_url(self, remote_key: str, expires_in: int = 3600) -> str:
        """A V4 signed GET URL valid for expires_in seconds (1 s to 7 days)."""
        if not 0 < expires_in <= MAX_URL_EXPIRY:
            raise ConfigurationError(
                f"expiry of {expires_in} s is outside 1..{MAX_URL_EXPIRY}",
                provider=self.provider_name,
                operation="get_url",
                resource=remote_key,
                hint="V4 signed URLs live at most seven days",
            )
        creds: Any = self.signing_credentials or getattr(self.client, "_credentials", None)
        extra: dict[str, Any] = {}
        signing = require("google.auth.credentials", "google-auth").Signing
        if not isinstance(creds, signing):
            # Tokens from the metadata server or user credentials cannot sign locally: ask
            # IAM to sign for the service account (needs roles/iam.serviceAccountTokenCreator).
            email = getattr(creds, "service_account_email", None)
            if creds is None or not email or email == "default":
                raise ConfigurationError(
                    "these credentials cannot sign URLs",
                    provider=self.provider_name,
                    operation="get_url",
                    resource=remote_key,
                    hint="Use a service-account key, or credentials of a service account "
                    "that may call signBlob on itself",
                )
            from google.auth.transport.requests import Request

            if not creds.valid:
                creds.refresh(Request())
            extra = {"service_account_email": email, "access_token": creds.token}
            creds = None
        return str(
            self._blob(remote_key).generate_signed_url(
                version="v4",
                expiration=timedelta(seconds=expires_in),
                method="GET",
                credentials=creds,
                api_access_endpoint=self.api_access_endpoint,
                **extra,
            )
        )

    @cloud_operation("head", kind=StorageError)
    def head(self, remote_key: str) -> StorageObject:
        lean = self._lean()
        if lean is not None:
            resource = lean.get(check_key(remote_key), operation="head", map_error=self.map_error)
            if resource is None:
                raise self._missing(remote_key, "head")
            return self._object_of(resource)
        blob = self._bucket.get_blob(check_key(remote_key), retry=None)
        if blob is None:
            raise self._missing(remote_key, "head")
        return self._object(blob)

    @cloud_operation("exists", kind=StorageError)
    def exists(self, remote_key: str) -> bool:
        """Whether the object exists (BucketNotFoundError when the bucket does not)."""
        lean = self._lean()
        if lean is not None:
            found = lean.get(check_key(remote_key), operation="exists", map_error=self.map_error)
        else:
            found = self._bucket.get_blob(check_key(remote_key), retry=None)
        if found is not None:
            return True
        if not self._bucket_found():
            raise self._missing(remote_key, "exists")
        return False

    @cloud_operation("open_read", kind=DownloadError)
    def open_read(self, remote_key: str) -> BinaryIO:
        """A stream over the object, read in chunk_size ranged requests."""
        found = self._bucket.get_blob(check_key(remote_key), retry=None)
        if found is None:
            raise self._missing(remote_key, "open_read")
        # a fresh blob pinned to the generation just described: its downloads go to the
        # client's endpoint (a listed blob's mediaLink may name another host)
        blob = self._bucket.blob(remote_key, generation=found.generation)
        reader: BinaryIO = blob.open("rb", chunk_size=self.chunk_size, retry=None)
        return reader

    @cloud_operation("create_bucket", kind=StorageError, mutating=True, resource=None)
    def create_bucket(
        self, *, exist_ok: bool = True, location: str | None = None, versioning: bool = False
    ) -> bool:
        """Create the bucket; False when it exists already (BucketExistsError without
        exist_ok). location and versioning apply to a new bucket only."""
        from google.api_core.exceptions import Conflict

        bucket = self.client.bucket(self.bucket_name)
        bucket.versioning_enabled = versioning
        if self.kms_key_name:
            bucket.default_kms_key_name = self.kms_key_name
        try:
            self.client.create_bucket(bucket, location=location, retry=None)
        except Conflict:
            if exist_ok:
                return False
            raise BucketExistsError(
                f"the bucket {self.bucket_name} exists already",
                provider=self.provider_name,
                operation="create_bucket",
                resource=self.uri(),
                hint="Use it as it is (exist_ok=True), or choose another name",
            ) from None
        return True

    @cloud_operation("bucket_exists", kind=StorageError, resource=None)
    def bucket_exists(self) -> bool:
        return self._bucket_found()

    def _missing(self, key: str, operation: str) -> NotFoundError:
        """The error for a get that found nothing: the bucket's when it is missing too."""
        if not self._bucket_found():
            return BucketNotFoundError(
                f"no bucket '{self.bucket_name}' (project {self.project})",
                provider=self.provider_name,
                operation=operation,
                resource=key,
                hint=self._bucket_hint(),
            )
        return ObjectNotFoundError(
            f"no object '{key}' in bucket '{self.bucket_name}' (project {self.project})",
            provider=self.provider_name,
            operation=operation,
            resource=key,
            hint="Check the key with `specify cloud ls gs://BUCKET/PREFIX`",
        )
