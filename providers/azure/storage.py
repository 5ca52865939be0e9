"""Azure Blob Storage (azure-storage-blob) as CloudStorage.

One AzureBlobStorage works in one container. Uploads record the content's sha256 in blob
metadata and its MD5 as the blob's Content-MD5; large files go up as parallel blocks whose
size and concurrency are tunable. `get_url` signs a read-only SAS with a bounded expiry,
with the account key when the client has one, else a user delegation key (Entra ID).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import io
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, TypeVar, cast

from providers.azure.adapter import AzureAdapter, _code, sdk_import_error
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
)
from providers.httpenv import requests_env
from providers.integrity import checks_sha256
from providers.locations import check_key
from providers.native import DataPlaneSettings, NativeRefused, byte_path, native_for
from providers.operation import cloud_operation

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

    from providers.native.azure import AzureBytePath
    from providers.native.azure_account import AzureAccount
    from providers.native.azure_list import BlobEntry
    from providers.native.azure_put import PutBlob

try:
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise sdk_import_error("azure-storage-blob") from exc
if importlib.util.find_spec("azure.storage.blob") is None:  # pragma: no cover
    raise sdk_import_error("azure-storage-blob")
# azure.storage.blob itself (about 0.9 s of CPU to import: aiohttp, cryptography) is
# imported where a BlobServiceClient is built or used: a store opened from a connection
# string with a key or SAS moves and lists its blobs through providers.native's lean
# requests, and builds the client only for what those do not cover

MiB = 1024 * 1024
#: the longest a SAS URL may live: a user delegation key is valid for at most 7 days
MAX_URL_EXPIRY = 7 * 24 * 3600
_HASH_CHUNK = 4 * MiB


def service_client(
    *,
    connection_string: str | None = None,
    account_url: str | None = None,
    credential: Any = None,
    max_block_size: int = 4 * MiB,
    max_single_put_size: int = 8 * MiB,
    sdk_retries: int = 1,
) -> BlobServiceClient:
    """A BlobServiceClient from a connection string, or an account URL and a credential."""
    from azure.storage.blob import BlobServiceClient, LinearRetry

    options: dict[str, Any] = {
        "max_block_size": max_block_size,
        "max_single_put_size": max_single_put_size,
        # the SDK's default backoff starts at 15 s (a dead endpoint took 82 s per call);
        # the operation decorator retries with the project's policy on top of this
        "retry_policy": LinearRetry(backoff=1, random_jitter_range=1, retry_total=sdk_retries),
    }
    env = requests_env()
    options["use_env_settings"] = env.proxies
    if env.explicit_ca_bundle:
        options["connection_verify"] = env.explicit_ca_bundle
    if connection_string:
        try:
            return BlobServiceClient.from_connection_string(connection_string, **options)
        except ValueError as exc:  # never echo the string: it holds the account key
            raise ConfigurationError(
                f"the storage connection string is malformed ({exc})",
                provider="azure",
                operation="connect",
                hint="Fix AZURE_STORAGE_CONNECTION_STRING (or the block's connection "
                "string): 'DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...'",
            ) from None
    if not account_url:
        raise ConfigurationError(
            "no storage account configured",
            provider="azure",
            operation="connect",
            hint="Set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_URL with "
            "credentials DefaultAzureCredential can find",
        )
    if credential is None:
        from providers.azure.credentials import default_credential

        credential = default_credential()
    return BlobServiceClient(account_url, credential=credential, **options)


#: operations on the container itself: a not-found there is the container's
_CONTAINER_OPERATIONS = frozenset(
    {"list", "list_versions", "upload", "upload_stream", "versioning_enabled"}
)


def metadata_name(key: str) -> str:
    """A blob metadata name for key: names must be C# identifiers (case-insensitive)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", key).lower()
    return f"_{name}" if not name or name[0].isdigit() else name


def _clean_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {metadata_name(k): str(v) for k, v in (metadata or {}).items()}


T = TypeVar("T")


def _user_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The metadata a caller gave, without our sha256 entry."""
    return {k: v for k, v in metadata.items() if k != SHA256_METADATA_KEY}


def _to_object(props: Any) -> StorageObject:
    metadata = dict(props.metadata or {})
    md5 = getattr(getattr(props, "content_settings", None), "content_md5", None)
    return StorageObject(
        # the blob's Content-MD5: computed by the service for Put Blob; for a block list,
        # what the writer set on commit (ours: the MD5 of the blocks the service checked)
        hashes={"md5": bytes(md5).hex()} if md5 else {},
        key=props.name,
        size=int(props.size or 0),
        last_modified=props.last_modified,
        etag=(props.etag or "").strip('"') or None,
        sha256=metadata.get(SHA256_METADATA_KEY),
        metadata=_user_metadata(metadata),
        version_id=props.version_id,
    )


def _entry_object(entry: BlobEntry) -> StorageObject:
    """A lean listing's blob (providers/native/azure_list), as `_to_object` reads the
    SDK's BlobProperties."""
    return StorageObject(
        hashes={"md5": entry.content_md5.hex()} if entry.content_md5 else {},
        key=entry.name,
        size=entry.size,
        last_modified=entry.last_modified,
        etag=entry.etag,
        sha256=entry.metadata.get(SHA256_METADATA_KEY),
        metadata=_user_metadata(entry.metadata),
        version_id=entry.version_id,
    )


def file_digests(path: Path) -> tuple[str, bytes, int]:
    """sha256 hex, MD5 digest and size of a file, read once."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.digest(), size


class _DownloadStream(io.RawIOBase):
    """A raw stream over a StorageStreamDownloader (fetched in chunks, never whole)."""

    def __init__(self, downloader: Any) -> None:
        self._downloader = downloader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._downloader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class AzureBlobStorage(AzureAdapter, CheckedDownload):
    """Blob Storage in one container."""

    takes_digests: ClassVar[bool] = True

    service_name: ClassVar[str] = "blob"
    not_found_hint: ClassVar[str] = (
        "Check the container and blob names; create the container with ensure_container()"
    )

    def __init__(
        self,
        container: str,
        *,
        client: BlobServiceClient | None = None,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: Any = None,
        max_concurrency: int = 4,
        max_block_size: int = 4 * MiB,
        max_single_put_size: int = 8 * MiB,
        encryption_scope: str | None = None,
        max_url_expiry: int = MAX_URL_EXPIRY,
        sdk_retries: int = 1,
        data_plane: DataPlaneSettings | None = None,
    ) -> None:
        # which client moves the bytes (providers.native): read and checked up front
        self.data_plane = data_plane or DataPlaneSettings.from_env()
        self.container = container
        self._client = client
        self._client_lock = threading.Lock()
        self._client_options: dict[str, Any] = {
            "connection_string": connection_string,
            "account_url": account_url,
            "credential": credential,
            "max_block_size": max_block_size,
            "max_single_put_size": max_single_put_size,
            "sdk_retries": sdk_retries,
        }
        #: the account as the lean requests (providers/native) read it from a connection
        #: string with a key or SAS: the SDK client is then built on first use only
        self.lean_account: AzureAccount | None = None
        if client is None and connection_string and self.data_plane.mode != "sdk":
            from providers.native.azure_account import AzureAccount

            self.lean_account = AzureAccount.from_connection_string(
                connection_string, verify=requests_env().explicit_ca_bundle or True
            )
        if self.lean_account is None and client is None:
            self._client = service_client(**self._client_options)
        self.max_concurrency = max(1, max_concurrency)
        # up to this size the SDK sends one Put Blob (a given client may have a lower limit:
        # then the answer carries no content MD5 and the copy is verified with head)
        self.max_single_put_size = max_single_put_size
        self.max_block_size = max_block_size
        self.encryption_scope = encryption_scope
        self.max_url_expiry = min(max_url_expiry, MAX_URL_EXPIRY)
        self._container_client: ContainerClient | None = None

    @property
    def client(self) -> BlobServiceClient:
        """The SDK client (built on first use when the store was opened lean)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = service_client(**self._client_options)
        return self._client

    @property
    def _container(self) -> ContainerClient:
        if self._container_client is None:
            self._container_client = self.client.get_container_client(self.container)
        return self._container_client

    def __repr__(self) -> str:  # the client's credential stays out of repr
        return f"AzureBlobStorage(account={self.account!r}, container={self.container!r})"

    @property
    def account(self) -> str:
        if self._client is None and self.lean_account is not None:
            return self.lean_account.account
        return str(self.client.account_name or "")

    @property
    def location(self) -> str:
        return f"{self.account}/{self.container}"

    def describe(self, resource: str | None) -> str:
        return f"account {self.account}, container {self.container}"

    def uri(self, remote_key: str = "") -> str:
        return f"az://{self.container}/{remote_key}" if remote_key else f"az://{self.container}"

    @property
    def encryption(self) -> str | None:
        """The encryption scope every write asks for (SupportsEncryption), or None."""
        return f"scope:{self.encryption_scope}" if self.encryption_scope else None

    def map_error(
        self,
        exc: Exception,
        *,
        operation: str,
        resource: str | None,
        kind: type[CloudError],
    ) -> CloudError:
        """The Azure mapping, with a not-found told apart: the container's or the blob's."""
        err = super().map_error(exc, operation=operation, resource=resource, kind=kind)
        if not isinstance(err, NotFoundError):
            return err
        code = _code(exc)
        if code == "ContainerNotFound" or (
            code != "BlobNotFound"
            and (operation in _CONTAINER_OPERATIONS or not self._container.exists())
        ):
            return refine_not_found(err, BucketNotFoundError, self._container_hint())
        return refine_not_found(err, ObjectNotFoundError)

    def _container_hint(self) -> str:
        return (
            f"Create the container first (create_bucket, or `specify cloud mb {self.uri()}`), "
            f"or check its name and the account ({self.account})"
        )

    # ------------------------------------------------------------------ container
    @cloud_operation("create_bucket", kind=StorageError, mutating=True, resource=None)
    def create_bucket(self, *, exist_ok: bool = True) -> bool:
        """Create the container; False when it exists already (BucketExistsError without
        exist_ok)."""
        try:
            self._container.create_container()
        except ResourceExistsError:
            if exist_ok:
                return False
            raise BucketExistsError(
                f"the container {self.container} exists already",
                provider=self.provider_name,
                operation="create_bucket",
                resource=self.uri(),
                hint="Use it as it is (exist_ok=True), or choose another name",
            ) from None
        return True

    def ensure_container(self) -> bool:
        """create_bucket() under its Azure name: True when the container was created."""
        return self.create_bucket(exist_ok=True)

    @cloud_operation("bucket_exists", kind=StorageError, resource=None)
    def bucket_exists(self) -> bool:
        return bool(self._container.exists())

    @cloud_operation("versioning_enabled", kind=StorageError, resource=None)
    def versioning_enabled(self) -> bool:
        """Whether the account keeps blob versions, seen in a listing with versions (the
        switch is an account property of the management plane, so an empty container
        answers False)."""
        for blob in self._container.list_blobs(include=["versions"], results_per_page=1):
            return blob.version_id is not None
        return False

    # ------------------------------------------------------------------ write
    def _mapped(self, op: str, key: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except CloudError:
            raise
        except Exception as exc:
            raise self.map_error(exc, operation=op, resource=key, kind=UploadError) from exc

    @cloud_operation("upload", kind=UploadError, mutating=True, metric="upload")
    def upload(
        self,
        local_path: Path | str,
        remote_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Upload a file; retried here as a whole (each attempt reopens the file)."""
        check_key(remote_key)
        path = Path(local_path)
        sha256, _, size = file_digests(path)
        with path.open("rb") as fh:
            # resend=False: this operation is retried as a whole (one owner per level)
            self._write(fh, remote_key, size=size, sha256=sha256, metadata=metadata, resend=False)
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
        check_key(remote_key)
        return self._write(stream, remote_key, size=size, sha256=sha256, metadata=metadata)

    def _write(
        self,
        stream: BinaryIO,
        key: str,
        *,
        size: int,
        sha256: str,
        metadata: Mapping[str, str] | None,
        resend: bool = True,
    ) -> StorageObject:
        """resend: whether a native Put Blob that failed is sent again here (its body is
        in memory); False where the operation itself is retried (upload reopens the file)."""
        meta = _clean_metadata(metadata)
        meta[SHA256_METADATA_KEY] = sha256
        options: dict[str, Any] = {}
        if self.encryption_scope:
            options["encryption_scope"] = self.encryption_scope
        if size > self.max_single_put_size:
            return self._blocks(stream, key, size, sha256, meta, options)
        # one Put Blob with a transactional MD5 (validate_content): the service refuses a
        # body that does not match (Md5Mismatch) and answers with the MD5 it computed
        data = stream.read(size + 1)
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        if not checks_sha256(stream, sha256):
            self._check_planned(key, len(data), hashlib.sha256(data).hexdigest(), size, sha256)
        elif len(data) != size:
            self._check_planned(key, len(data), "", size, sha256)
        native = self._native_writer(key, meta)
        if native is not None:
            # the lean Put Blob (providers/native/azure_put): the same request with the
            # same transactional Content-MD5; the body is in memory, so this level
            # resends it unless the operation is retried as a whole (the writer itself
            # retries nothing; the SDK's pipeline retries its own requests likewise)
            scope = self.encryption_scope

            def send() -> dict[str, Any]:
                return native.put(
                    key, data, md5, meta, map_error=self.map_error, encryption_scope=scope
                )

            result = self.retry_policy.call(send) if resend else send()
            evidence = "azure:native-put-blob-md5"
        else:
            from azure.storage.blob import ContentSettings

            blob = self._container.get_blob_client(key)
            result = blob.upload_blob(
                data,
                length=len(data),
                overwrite=True,
                metadata=meta,
                validate_content=True,
                content_settings=ContentSettings(content_md5=bytearray(md5)),
                **options,
            )
            evidence = "azure:put-blob-md5"
        # the MD5 the service computed over the bytes it stored, against ours
        reported = result.get("content_md5")
        verified = reported is not None and bytes(reported) == md5
        return StorageObject(
            key=key,
            size=len(data),
            last_modified=result.get("last_modified"),
            etag=str(result.get("etag") or "").strip('"') or None,
            sha256=sha256,
            metadata=_user_metadata(meta),
            version_id=result.get("version_id"),
            verified=verified,
            hashes={"md5": md5.hex()} if verified else {},
            evidence=evidence if verified else None,
        )

    def _native_writer(self, key: str, meta: Mapping[str, str]) -> PutBlob | None:
        """The lean Put Blob writer for this key and metadata, or None (the SDK writes):
        providers.native chooses per store; keys and values it could not sign exactly as
        the SDK does stay on the SDK."""
        native = cast("AzureBytePath | None", native_for(self, key))
        if native is None or native.writer is None:
            return None
        from providers.native.azure_put import plain_value

        if not all(plain_value(v) for v in meta.values()):
            return None
        return native.writer

    def _check_planned(self, key: str, nbytes: int, got: str, size: int, sha256: str) -> None:
        if nbytes != size or got != sha256:
            raise IntegrityError(
                f"the stream gave {nbytes} bytes with sha256 {got[:12]}, expected {size} "
                f"bytes with sha256 {sha256[:12]}; nothing was committed",
                provider=self.provider_name,
                operation="upload",
                resource=key,
            )

    def _blocks(
        self,
        stream: BinaryIO,
        key: str,
        size: int,
        sha256: str,
        meta: dict[str, str],
        options: dict[str, Any],
    ) -> StorageObject:
        """Put Block per chunk, each with a transactional MD5 the service checks before it
        keeps the block (a damaged block is re-sent from memory), then Put Block List with
        the whole content's MD5 as the blob's Content-MD5. Nothing is visible before the
        commit, so a failed upload leaves an older blob under the key as it was. Block ids
        are unique per upload: two writers of one blob never mix their blocks."""
        blob = self._container.get_blob_client(key)
        run = uuid.uuid4().hex
        trusted = checks_sha256(stream, sha256)  # the stream checks it before EOF
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        ids: list[str] = []
        slots = threading.BoundedSemaphore(self.max_concurrency)

        def send(block_id: str, data: bytes) -> None:
            try:
                self.retry_policy.call(
                    lambda: self._mapped(
                        "put_block",
                        key,
                        lambda: blob.stage_block(
                            block_id, data, length=len(data), validate_content=True, **options
                        ),
                    )
                )
            finally:
                slots.release()

        total = 0
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            try:
                while total < size:
                    data = stream.read(min(self.max_block_size, size - total))
                    if not data:
                        break
                    total += len(data)
                    if not trusted:
                        sha.update(data)
                    md5.update(data)
                    block_id = base64.b64encode(f"{run}-{len(ids):06d}".encode()).decode()
                    ids.append(block_id)
                    slots.acquire()
                    futures.append(pool.submit(send, block_id, data))
                    for f in [f for f in futures if f.done()]:
                        f.result()
                for f in futures:
                    f.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        self._check_planned(key, total, sha256 if trusted else sha.hexdigest(), size, sha256)
        from azure.storage.blob import BlobBlock, ContentSettings

        result: dict[str, Any] = self.retry_policy.call(
            lambda: self._mapped(
                "put_block_list",
                key,
                lambda: blob.commit_block_list(
                    [BlobBlock(block_id=i) for i in ids],
                    metadata=meta,
                    content_settings=ContentSettings(content_md5=bytearray(md5.digest())),
                    **options,
                ),
            )
        )
        return StorageObject(
            key=key,
            size=size,
            last_modified=result.get("last_modified"),
            etag=str(result.get("etag") or "").strip('"') or None,
            sha256=sha256,
            metadata=_user_metadata(meta),
            version_id=result.get("version_id"),
            verified=True,
            hashes={"md5": md5.hexdigest()},
            evidence="azure:block-md5",
        )

    # ------------------------------------------------------------------ read
    @cloud_operation("head", kind=DownloadError)
    def head(self, remote_key: str, version_id: str | None = None) -> StorageObject:
        blob = self._container.get_blob_client(check_key(remote_key), version_id=version_id)
        return _to_object(blob.get_blob_properties())

    @cloud_operation("exists", kind=StorageError)
    def exists(self, remote_key: str) -> bool:
        """Whether the blob exists (BucketNotFoundError when the container does not)."""
        if self._container.get_blob_client(check_key(remote_key)).exists():
            return True
        if not self._container.exists():
            raise BucketNotFoundError(
                f"no container {self.container} in account {self.account}",
                provider=self.provider_name,
                operation="exists",
                resource=remote_key,
                hint=self._container_hint(),
            )
        return False

    @cloud_operation("download", kind=DownloadError, metric="download")
    def download(
        self, remote_key: str, local_path: Path | str, version_id: str | None = None
    ) -> Path:
        """Stream to a temp file beside local_path, checked against the blob's Content-MD5
        and our sha256, then rename."""
        return self._download_checked(remote_key, local_path, version_id)

    def _describe(self, key: str, version_id: str | None) -> StorageObject:
        blob = self._container.get_blob_client(check_key(key), version_id=version_id)
        return _to_object(blob.get_blob_properties())

    def _open_bytes(self, key: str, version_id: str | None, obj: StorageObject) -> BinaryIO:
        from azure.core import MatchConditions

        # native (providers.native) only when CheckedReader has a hash of the whole blob
        native = native_for(self, key) if obj.hashes.get("md5") or obj.sha256 else None
        native = cast("AzureBytePath | None", native)
        if native is not None and native.reads:
            with contextlib.suppress(NativeRefused):  # its TLS refused: the SDK, from now on
                # a failed GET request consumed nothing: retried here, as the SDK's own
                # retry policy does for its path; a body cut later is the caller's to reopen
                return self.retry_policy.call(
                    lambda: native.open(
                        key, if_match=obj.etag, version_id=version_id, map_error=self.map_error
                    )
                )
        blob = self._container.get_blob_client(key, version_id=version_id)
        condition: dict[str, Any] = {}
        if obj.etag and not version_id:  # the version described, not a newer one
            condition = {"etag": f'"{obj.etag}"', "match_condition": MatchConditions.IfNotModified}
        # validate_content: each range (<= 4 MiB) comes with the MD5 the service computed
        # for it, which the SDK checks (blobs committed without a Content-MD5 have no other)
        downloader = blob.download_blob(max_concurrency=1, validate_content=True, **condition)
        return io.BufferedReader(_DownloadStream(downloader), buffer_size=MiB)  # type: ignore[return-value]

    @cloud_operation("open_read", kind=DownloadError)
    def open_read(self, remote_key: str, version_id: str | None = None) -> BinaryIO:
        blob = self._container.get_blob_client(check_key(remote_key), version_id=version_id)
        downloader = blob.download_blob(max_concurrency=1, validate_content=True)
        return io.BufferedReader(_DownloadStream(downloader), buffer_size=MiB)  # type: ignore[return-value]

    def list_objects(self, prefix: str = "", page_size: int = 1000) -> Iterator[StorageObject]:
        """Every blob under prefix, one page at a time; a failed page is retried with its
        own continuation marker."""
        return follow_pages(lambda token: self.list_page(prefix, token, page_size))

    def list_range(
        self,
        prefix: str = "",
        start: str | None = None,
        end: str | None = None,
        *,
        page_size: int = 1000,
    ) -> Iterator[StorageObject]:
        """Objects under prefix with start <= key < end, ascending. List Blobs has no
        start key (its marker is opaque), so the pages before start are read and dropped
        here; the listing stops at the first key at or past end."""
        return within_range(self.list_objects(prefix, page_size), start, end)

    @cloud_operation("list", kind=DownloadError, resource="prefix")
    def list_page(
        self, prefix: str = "", page_token: str | None = None, page_size: int = 1000
    ) -> tuple[list[StorageObject], str | None]:
        """One List Blobs page and the marker of the next (None after the last): the
        lean List Blobs of providers/native/azure_list where the data plane has one
        (a key or SAS), else the SDK's."""
        native = cast("AzureBytePath | None", byte_path(self))
        if native is not None and native.lister is not None:
            entries, marker = native.lister.page(
                prefix, page_token, page_size, map_error=self.map_error
            )
            return [_entry_object(e) for e in entries], marker
        pages = self._container.list_blobs(
            name_starts_with=prefix or None, include=["metadata"], results_per_page=page_size
        ).by_page(continuation_token=page_token)
        page = next(pages, None)
        objects = [_to_object(p) for p in page] if page is not None else []
        return objects, pages.continuation_token or None  # type: ignore[attr-defined]

    @cloud_operation("list_versions", kind=StorageError)
    def list_versions(self, remote_key: str) -> list[ObjectVersion]:
        """Stored versions of exactly this blob, newest first (one entry, version id "",
        when versioning is off)."""
        check_key(remote_key)
        out = []
        for props in self._container.list_blobs(
            name_starts_with=remote_key, include=["versions", "metadata"]
        ):
            if props.name != remote_key:
                continue
            out.append(
                ObjectVersion(
                    key=props.name,
                    version_id=props.version_id or "",
                    size=int(props.size or 0),
                    last_modified=props.last_modified,
                    # Azure marks only the current version; with versioning off there are
                    # no version ids and the one entry is the blob itself
                    is_latest=bool(props.is_current_version) or not props.version_id,
                    sha256=(props.metadata or {}).get(SHA256_METADATA_KEY),
                )
            )
        out.reverse()  # listed oldest first (version ids are timestamps)
        return out

    # ------------------------------------------------------------------ delete
    @cloud_operation("delete", kind=DeleteError, mutating=True)
    def delete(self, remote_key: str) -> bool:
        try:
            self._container.delete_blob(check_key(remote_key), delete_snapshots="include")
            return True
        except ResourceNotFoundError as exc:
            if _code(exc) == "ContainerNotFound":
                raise  # mapped to BucketNotFoundError
            return False

    # ------------------------------------------------------------------ SAS
    @cloud_operation("get_url", kind=DownloadError)
    def get_url(self, remote_key: str, expires_in: int = 3600) -> str:
        """A read-only SAS URL valid for expires_in seconds (1 s to max_url_expiry)."""
        if not 1 <= expires_in <= self.max_url_expiry:
            raise ConfigurationError(
                f"expires_in={expires_in} is outside 1..{self.max_url_expiry} seconds",
                provider=self.provider_name,
                operation="get_url",
                resource=remote_key,
                hint="Ask for a shorter-lived URL",
            )
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        check_key(remote_key)
        expiry = datetime.now(UTC) + timedelta(seconds=expires_in)
        key = getattr(self.client.credential, "account_key", None)
        signing: dict[str, Any] = {"account_key": key}
        if not key:
            # Entra ID credential: sign with a user delegation key, valid until the URL expires
            signing = {
                "user_delegation_key": self.client.get_user_delegation_key(
                    datetime.now(UTC) - timedelta(minutes=5), expiry
                )
            }
        sas = generate_blob_sas(
            account_name=self.account,
            container_name=self.container,
            blob_name=remote_key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
            **signing,
        )
        blob_url = self._container.get_blob_client(remote_key).url
        return f"{blob_url}?{sas}"
