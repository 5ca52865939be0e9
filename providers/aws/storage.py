"""Amazon S3 as a CloudStorage: checksummed uploads, multipart transfers, presigned URLs,
versioning, server-side copy and server-side encryption."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, TypeVar, cast
from urllib.parse import urlencode

from providers.aws.adapter import AWSAdapter, client_error_code, find_botocore_error
from providers.base import (
    SHA256_METADATA_KEY,
    CheckedDownload,
    ObjectVersion,
    StorageObject,
    follow_pages,
    read_expectation,
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
from providers.integrity import FAST_CRC, Hasher, b64_to_hex, checks_sha256
from providers.locations import check_key
from providers.native import DataPlaneSettings, NativeRefused, native_for
from providers.operation import cloud_operation

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

    from providers.native.s3 import S3BytePath
    from providers.native.s3_account import S3Account
    from providers.native.s3_request import S3Requests

if importlib.util.find_spec("boto3") is None:  # pragma: no cover
    from providers.errors import sdk_missing

    raise sdk_missing("aws", "boto3", "aws")
# boto3 itself (about 0.5 s of CPU to import and build a client) is imported where a
# client is built or a transfer configured: a store opened with a lean account
# (providers/native/s3_account) lists, reads and writes single objects without it

MiB = 1024 * 1024
MAX_PARTS = 10_000
MIN_PART = 5 * MiB
MIN_EXPIRY = 1
MAX_EXPIRY = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days
SSE_MODES = ("AES256", "aws:kms")
_HASH_BLOCK = 4 * MiB
T = TypeVar("T")


def _etag(value: str | None) -> str | None:
    return (value or "").strip('"') or None


def _md5_of_etag(etag: str | None, encrypted_kms: bool) -> dict[str, str]:
    """A single-part ETag is the MD5 S3 computed over the stored bytes (not under SSE-KMS
    or SSE-C, and not for multipart objects, whose ETag ends in -N)."""
    if etag and len(etag) == 32 and "-" not in etag and not encrypted_kms:
        return {"md5": etag.lower()}
    return {}


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts = []
    while n > 0:
        data = stream.read(n)
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


#: operations on the bucket itself: a not-found there is the bucket's
_BUCKET_OPERATIONS = frozenset(
    {"list_objects", "list_versions", "upload", "upload_stream", "get_versioning"}
)
_MISSING_OBJECT_CODES = frozenset({"404", "NotFound", "NoSuchKey", "NoSuchVersion"})


#: an HTTP header name (RFC 9110 token)
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def plain_metadata(metadata: Mapping[str, str]) -> bool:
    """Metadata the lean PUT sends as botocore does: names that are header tokens,
    printable ASCII values without surrounding spaces (anything else goes through boto3)."""
    for name, value in metadata.items():
        if not _TOKEN.match(name):
            return False
        if not value.isascii() or not value.isprintable() or value != value.strip():
            return False
    return True


def _user_metadata(meta: Mapping[str, str]) -> dict[str, str]:
    """The metadata a caller gave (names lower-cased), without our sha256 entry."""
    return {k.lower(): v for k, v in meta.items() if k.lower() != SHA256_METADATA_KEY}


@dataclass(frozen=True)
class TransferSettings:
    """When to go multipart, how big the parts are and how many move at once."""

    threshold: int = 8 * MiB
    chunk_size: int = 8 * MiB
    concurrency: int = 8

    def for_size(self, size: int) -> TransferConfig:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.threshold,
            multipart_chunksize=part_size(size, self.chunk_size),
            max_concurrency=self.concurrency,
            use_threads=self.concurrency > 1,
        )


def part_size(size: int, chunk_size: int) -> int:
    """chunk_size, grown in whole MiB when needed so that size fits in 10,000 parts."""
    chunk = max(chunk_size, MIN_PART)
    if size <= chunk * MAX_PARTS:
        return chunk
    return math.ceil(size / MAX_PARTS / MiB) * MiB


def file_sha256(path: Path) -> tuple[str, int]:
    """(hex sha256, size) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class S3Storage(AWSAdapter, CheckedDownload):
    """One S3 bucket. Keys are checked with `check_key`; metadata keys are lower-case."""

    takes_digests: ClassVar[bool] = True

    service_name = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        region: str = "",
        transfer: TransferSettings | None = None,
        sse: str | None = None,
        kms_key_id: str | None = None,
        data_plane: DataPlaneSettings | None = None,
        account: S3Account | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        """client: the boto3 S3 client; or None with client_factory (which builds it on
        the first operation the lean requests do not cover) and account (what the lean
        requests of providers/native need: endpoint, region, static keys)."""
        # which client moves the bytes (providers.native): read and checked up front
        self.data_plane = data_plane or DataPlaneSettings.from_env()
        if sse is not None and sse not in SSE_MODES:
            raise ConfigurationError(
                f"unknown server-side encryption {sse!r}",
                provider="aws",
                operation="configure",
                hint=f"Use one of {', '.join(SSE_MODES)}",
            )
        if kms_key_id and sse != "aws:kms":
            raise ConfigurationError(
                "a KMS key id needs sse='aws:kms'", provider="aws", operation="configure"
            )
        self._client = client
        self._client_factory = client_factory
        self._client_lock = threading.Lock()
        self.bucket = bucket
        #: the account as the lean requests read it (None: boto3 for every request)
        self.lean_account: S3Account | None = None
        self._lean: S3Requests | None = None
        if account is not None and self.data_plane.mode != "sdk":
            target = account.target(bucket)
            if target is not None:
                from providers.native.s3_request import S3Requests

                self.lean_account = account
                self._lean = S3Requests(account, bucket, target)
        if client is None and client_factory is None:
            raise ConfigurationError(
                "an S3 store needs a boto3 client or a client factory",
                provider="aws",
                operation="configure",
            )
        if client is None and self._lean is None:
            self._client = cast(Callable[[], Any], client_factory)()
        self.region = region
        self.transfer = transfer or TransferSettings()
        self.sse = sse
        self.kms_key_id = kms_key_id

    @property
    def client(self) -> Any:
        """The boto3 S3 client (built on first use when the store was opened lean)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = cast(Callable[[], Any], self._client_factory)()
        return self._client

    @property
    def lean(self) -> S3Requests | None:
        """The lean requests of this bucket, unless absent or refused (another region)."""
        lean = self._lean
        return lean if lean is not None and not lean.refused else None

    # -- adapter hooks -----------------------------------------------------------------
    @property
    def location(self) -> str:
        return f"s3://{self.bucket}"

    def describe(self, resource: str | None) -> str:
        return self.uri(resource or "")

    def not_found_hint(self, code: str | None) -> str:
        if code == "NoSuchBucket":
            return (
                f"Create the bucket first (aws s3 mb s3://{self.bucket}) or check its name "
                "and AWS_REGION"
            )
        return "Check the key (list the bucket to see what is there)"

    def uri(self, remote_key: str = "") -> str:
        return f"s3://{self.bucket}/{remote_key}" if remote_key else f"s3://{self.bucket}"

    def map_error(
        self,
        exc: Exception,
        *,
        operation: str,
        resource: str | None,
        kind: type[CloudError],
    ) -> CloudError:
        """The AWS mapping, with a not-found told apart: the bucket's or the object's."""
        err = super().map_error(exc, operation=operation, resource=resource, kind=kind)
        if not isinstance(err, NotFoundError):
            return err
        code = client_error_code(find_botocore_error(exc))
        if code == "NoSuchBucket" or operation in _BUCKET_OPERATIONS:
            return refine_not_found(err, BucketNotFoundError, self.not_found_hint("NoSuchBucket"))
        return refine_not_found(err, ObjectNotFoundError)

    @property
    def encryption(self) -> str | None:
        """The server-side encryption every write asks for (SupportsEncryption)."""
        if self.sse == "aws:kms" and self.kms_key_id:
            return f"aws:kms:{self.kms_key_id}"
        return self.sse

    def _encryption(self) -> dict[str, str]:
        if self.sse is None:
            return {}
        args = {"ServerSideEncryption": self.sse}
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def _write_args(
        self, sha256: str, metadata: Mapping[str, str] | None, tags: Mapping[str, str] | None
    ) -> dict[str, Any]:
        meta = {k.lower(): str(v) for k, v in (metadata or {}).items()}
        meta[SHA256_METADATA_KEY] = sha256
        args: dict[str, Any] = {"Metadata": meta, **self._encryption()}
        if tags:
            args["Tagging"] = urlencode(dict(tags))
        return args

    # -- bucket ------------------------------------------------------------------------
    @cloud_operation("create_bucket", kind=StorageError, mutating=True, resource=None)
    def create_bucket(self, *, exist_ok: bool = True) -> bool:
        """Create the bucket in this region; False when it already exists and exist_ok
        (BucketExistsError without exist_ok)."""
        # us-east-1 answers 200 to re-creating a bucket you own, so ask first
        if self._bucket_found():
            if exist_ok:
                return False
            raise self._exists_error()
        args: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**args)
        except Exception as exc:
            if client_error_code(exc) in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                if exist_ok and client_error_code(exc) == "BucketAlreadyOwnedByYou":
                    return False
                raise self._exists_error() from exc
            raise
        return True

    def _exists_error(self) -> BucketExistsError:
        return BucketExistsError(
            f"the bucket {self.bucket} exists already",
            provider="aws",
            operation="create_bucket",
            resource=self.uri(),
            hint="Use it as it is (exist_ok=True), or choose another name",
        )

    @cloud_operation("bucket_exists", kind=StorageError, resource=None)
    def bucket_exists(self) -> bool:
        return self._bucket_found()

    def _head_object(
        self, key: str, version_id: str | None, part: int | None, args: dict[str, Any]
    ) -> dict[str, Any]:
        """HeadObject through the lean requests (failures raised unmapped, as boto3
        raises them), else boto3's."""
        lean = self.lean
        if lean is not None:
            with contextlib.suppress(NativeRefused):  # another region: boto3 from now on
                return lean.head_object(key, version_id, part)
        return cast(dict[str, Any], self.client.head_object(**args))

    def _bucket_found(self) -> bool:
        lean = self.lean
        if lean is not None:
            with contextlib.suppress(NativeRefused):
                return lean.bucket_found()
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if client_error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
                return False
            raise
        return True

    @cloud_operation("set_versioning", kind=StorageError, mutating=True, resource=None)
    def set_versioning(self, enabled: bool) -> None:
        """Turn bucket versioning on, or suspend it (S3 cannot turn it fully off)."""
        status = "Enabled" if enabled else "Suspended"
        self.client.put_bucket_versioning(
            Bucket=self.bucket, VersioningConfiguration={"Status": status}
        )

    @cloud_operation("get_versioning", kind=StorageError, resource=None)
    def versioning_enabled(self) -> bool:
        return self.client.get_bucket_versioning(Bucket=self.bucket).get("Status") == "Enabled"

    # -- objects -----------------------------------------------------------------------
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
        *,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Upload a file (multipart above the threshold) with its sha256 in the metadata.

        Retried here as a whole: each attempt reopens the file."""
        check_key(remote_key)
        path = Path(local_path)
        sha256, size = file_sha256(path)
        with path.open("rb") as fh:
            self._write(fh, remote_key, size, sha256, self._write_args(sha256, metadata, tags))
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
        return self._write(
            stream, remote_key, size, sha256, self._write_args(sha256, metadata, None)
        )

    def _write(
        self, stream: BinaryIO, key: str, size: int, sha256: str, args: dict[str, Any]
    ) -> StorageObject:
        if size >= self.transfer.threshold:
            return self._multipart(stream, key, size, sha256, args)
        # one PutObject with Content-MD5: S3 refuses a body that does not match (BadDigest)
        body = stream.read(size + 1)
        md5 = hashlib.md5(body, usedforsecurity=False)
        if len(body) != size or (
            not checks_sha256(stream, sha256) and hashlib.sha256(body).hexdigest() != sha256
        ):
            raise IntegrityError(
                f"the stream gave {len(body)} bytes not matching the planned {size} bytes / "
                f"sha256 {sha256[:12]}; nothing was written",
                provider="aws",
                operation="upload",
                resource=self.uri(key),
            )
        native = native_for(self, key) if "Tagging" not in args else None
        resp = None
        if native is not None and not (
            native is self._lean and not plain_metadata(args["Metadata"])
        ):  # x-amz-checksum-sha256 (and Content-MD5): S3 refuses a damaged body
            with contextlib.suppress(NativeRefused):  # refused: the SDK, from now on
                # the body is in memory: this level resends it (no native client retries)
                answer = self.retry_policy.call(
                    lambda: self._native_put(native, key, body, md5.digest(), sha256, args)
                )
                resp = {"ETag": answer["e_tag"], "VersionId": answer["version"]}
        if resp is None:
            resp = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentMD5=base64.b64encode(md5.digest()).decode(),
                **args,
            )
        etag = _etag(resp.get("ETag"))
        # a single-part ETag is the MD5 of what S3 stored, except under SSE-KMS
        verified = self.sse != "aws:kms" and etag == md5.hexdigest()
        return StorageObject(
            key=key,
            size=len(body),
            etag=etag,
            sha256=sha256,
            metadata=_user_metadata(args["Metadata"]),
            version_id=resp.get("VersionId"),
            verified=verified,
            hashes={"md5": md5.hexdigest()} if verified else {},
            evidence="s3:etag-md5" if verified else None,
        )

    def _native_put(
        self, native: Any, key: str, body: bytes, md5: bytes, sha256: str, args: dict[str, Any]
    ) -> dict[str, str | None]:
        if native is self._lean:  # the lean requests (providers/native/s3_request)
            return cast("S3Requests", native).put(
                key, body, args["Metadata"], md5=md5, sha256=bytes.fromhex(sha256),
                sse=self.sse, map_error=self.map_error,
            )  # fmt: skip
        path = cast("S3BytePath", native)
        return path.put(key, body, args["Metadata"], map_error=self.map_error)

    def _multipart(
        self, stream: BinaryIO, key: str, size: int, sha256: str, args: dict[str, Any]
    ) -> StorageObject:
        """Multipart upload: each part carries Content-MD5 and CRC32, which S3 checks
        before it keeps the part; the part's ETag (the MD5 S3 computed) is compared with
        ours and the part re-sent from memory when they differ. The object becomes visible
        only when CompleteMultipartUpload succeeds (with the full-object CRC32, which S3
        checks against the parts); any failure aborts the upload, leaving an older object
        under the key untouched."""
        chunk = part_size(size, self.transfer.chunk_size)
        checksum_field = "ChecksumCRC32C" if FAST_CRC == "crc32c" else "ChecksumCRC32"
        kms = self.sse == "aws:kms"
        mpu = self._mapped(
            "upload",
            key,
            lambda: self.retry_policy.call(
                lambda: self._mapped(
                    "upload",
                    key,
                    lambda: self.client.create_multipart_upload(
                        Bucket=self.bucket,
                        Key=key,
                        ChecksumAlgorithm=FAST_CRC.upper(),
                        ChecksumType="FULL_OBJECT",
                        **args,
                    ),
                )
            ),
        )
        upload_id = mpu["UploadId"]
        whole = Hasher((FAST_CRC,), sha256=False)
        parts: dict[int, dict[str, Any]] = {}
        slots = threading.BoundedSemaphore(max(1, self.transfer.concurrency))

        def send(number: int, data: bytes) -> None:
            try:
                md5 = hashlib.md5(data, usedforsecurity=False)
                crc = Hasher((FAST_CRC,), sha256=False)
                crc.update(data)
                crc_b64 = crc.value(FAST_CRC) or ""

                def once() -> dict[str, Any]:
                    resp = self._mapped(
                        "upload_part",
                        key,
                        lambda: self.client.upload_part(
                            Bucket=self.bucket,
                            Key=key,
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=data,
                            ContentMD5=base64.b64encode(md5.digest()).decode(),
                            **{checksum_field: crc_b64},
                        ),
                    )
                    etag = _etag(resp.get("ETag"))
                    if not kms and etag != md5.hexdigest():
                        raise IntegrityError(
                            f"part {number}: S3 stored MD5 {etag}, sent {md5.hexdigest()}",
                            provider="aws",
                            operation="upload_part",
                            resource=self.uri(key),
                        )
                    return {
                        "PartNumber": number,
                        "ETag": resp.get("ETag"),
                        checksum_field: crc_b64,
                    }

                # the part's bytes are in memory: this level can resend them
                parts[number] = self.retry_policy.call(once)
            finally:
                slots.release()

        pool = ThreadPoolExecutor(max(1, self.transfer.concurrency))
        futures: list[Future[None]] = []
        try:
            number = 0
            total = 0
            trusted = checks_sha256(stream, sha256)  # the stream checks it before EOF
            digest = hashlib.sha256()
            while total < size:
                data = _read_exact(stream, min(chunk, size - total))
                if not data:
                    break
                number += 1
                total += len(data)
                whole.update(data)
                if not trusted:
                    digest.update(data)
                slots.acquire()
                futures.append(pool.submit(send, number, data))
                for f in [f for f in futures if f.done()]:
                    f.result()  # fail fast
            if stream.read(1) or total != size or (not trusted and digest.hexdigest() != sha256):
                raise IntegrityError(
                    f"the stream gave {total} bytes not matching the planned {size} bytes / "
                    f"sha256 {sha256[:12]}; the multipart upload was aborted",
                    provider="aws",
                    operation="upload",
                    resource=self.uri(key),
                )
            for f in futures:
                f.result()
            full_crc = whole.value(FAST_CRC) or ""
            done = self._mapped(
                "upload",
                key,
                lambda: self.retry_policy.call(
                    lambda: self._mapped(
                        "upload",
                        key,
                        lambda: self.client.complete_multipart_upload(
                            Bucket=self.bucket,
                            Key=key,
                            UploadId=upload_id,
                            MultipartUpload={"Parts": [parts[n] for n in sorted(parts)]},
                            **{checksum_field: full_crc},
                            ChecksumType="FULL_OBJECT",
                            MpuObjectSize=size,
                        ),
                    )
                ),
            )
        except BaseException:
            for f in futures:
                f.cancel()
            pool.shutdown(wait=True)
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        pool.shutdown(wait=True)
        # what S3 computed over the assembled object (HEAD with checksum mode)
        head = self._head(key, None)
        stored = head.hashes.get(FAST_CRC)
        if stored != full_crc or head.size != size:
            raise IntegrityError(
                f"S3 reports {head.size} bytes with CRC32 {stored}; sent {size} bytes with "
                f"CRC32 {full_crc}",
                provider="aws",
                operation="verify",
                resource=self.uri(key),
            )
        return StorageObject(
            key=key,
            size=size,
            etag=_etag(done.get("ETag")) or head.etag,
            sha256=sha256,
            metadata=_user_metadata(args["Metadata"]),
            version_id=done.get("VersionId"),
            verified=True,
            hashes={FAST_CRC: full_crc},
            evidence=f"s3:{FAST_CRC}-full-object+part-md5",
        )

    @cloud_operation("download", kind=DownloadError, metric="download")
    def download(
        self, remote_key: str, local_path: Path | str, *, version_id: str | None = None
    ) -> Path:
        """Stream into a temp file beside local_path, checked against S3's own checksum
        (single-part ETag MD5 or full-object CRC32C) and our sha256, then rename."""
        check_key(remote_key)
        return self._download_checked(remote_key, local_path, version_id)

    def _describe(self, key: str, version_id: str | None) -> StorageObject:
        return self._head(key, version_id)

    def _open_bytes(self, key: str, version_id: str | None, obj: StorageObject) -> BinaryIO:
        native = cast("S3BytePath | S3Requests | None", native_for(self, key))
        if native is not None:  # checked by CheckedReader against S3's own hashes
            with contextlib.suppress(NativeRefused):  # its TLS refused: the SDK, from now on
                # a failed GET request consumed nothing: retried here, as botocore's
                # retries do for the SDK path; a body cut later is the caller's to reopen
                return self.retry_policy.call(
                    lambda: native.open(
                        key,
                        if_match=obj.etag,
                        version_id=version_id,
                        map_error=self.map_error,
                        operation="download",
                    )
                )
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        elif obj.etag:
            args["IfMatch"] = f'"{obj.etag}"'  # the version described, not a newer one
        return cast(BinaryIO, self.client.get_object(**args)["Body"])

    def _head(self, remote_key: str, version_id: str | None = None) -> StorageObject:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": remote_key, "ChecksumMode": "ENABLED"}
        if version_id:
            args["VersionId"] = version_id
        try:
            resp = self._head_object(remote_key, version_id, None, args)
        except Exception as exc:
            # HEAD answers a bare 404 for a missing key and a missing bucket alike
            if client_error_code(exc) in {"404", "NotFound"} and not self._bucket_found():
                raise BucketNotFoundError(
                    f"NoSuchBucket: the bucket does not exist (region {self.region})",
                    provider="aws",
                    operation="head",
                    resource=self.uri(remote_key),
                    hint=self.not_found_hint("NoSuchBucket"),
                ) from exc
            raise
        meta = {k.lower(): v for k, v in resp.get("Metadata", {}).items()}
        etag = _etag(resp.get("ETag"))
        kms = resp.get("ServerSideEncryption") == "aws:kms" or bool(
            resp.get("SSECustomerAlgorithm")
        )
        hashes = _md5_of_etag(etag, kms)
        if resp.get("ChecksumType") == "FULL_OBJECT":
            if resp.get("ChecksumCRC32C"):
                hashes["crc32c"] = str(resp["ChecksumCRC32C"])
            if resp.get("ChecksumCRC32"):
                hashes["crc32"] = str(resp["ChecksumCRC32"])
            if resp.get("ChecksumSHA256"):
                hashes["sha256"] = b64_to_hex(str(resp["ChecksumSHA256"]))
        elif "md5" in hashes and resp.get("ChecksumSHA256") and "-" not in resp["ChecksumSHA256"]:
            hashes["sha256"] = b64_to_hex(str(resp["ChecksumSHA256"]))
        if not hashes and etag and "-" in etag and not kms:
            # a multipart object with no full-object checksum: its ETag is the md5 of the
            # parts' md5s, checkable once the part size is known (HEAD of part 1)
            part_args = {k: v for k, v in args.items() if k != "ChecksumMode"}
            part = self._head_object(remote_key, version_id, 1, {**part_args, "PartNumber": 1})
            hashes["s3-etag"] = f"{etag}@{int(part.get('ContentLength', 0))}"
        return StorageObject(
            key=remote_key,
            size=int(resp.get("ContentLength", 0)),
            last_modified=resp.get("LastModified"),
            etag=etag,
            sha256=meta.get(SHA256_METADATA_KEY),
            metadata=_user_metadata(meta),
            version_id=resp.get("VersionId"),
            hashes=hashes,
        )

    def read_hashes(self, obj: StorageObject) -> dict[str, str]:
        """RefinesReadCheck: a listed multipart object needs HEAD to be checkable."""
        expected = read_expectation(obj)
        if not expected and obj.etag and "-" in obj.etag:
            expected = read_expectation(self.head(obj.key))
        return expected

    @cloud_operation("head", kind=DownloadError)
    def head(self, remote_key: str, *, version_id: str | None = None) -> StorageObject:
        check_key(remote_key)
        return self._head(remote_key, version_id)

    @cloud_operation("exists", kind=StorageError)
    def exists(self, remote_key: str) -> bool:
        """Whether the object exists (BucketNotFoundError when the bucket does not)."""
        check_key(remote_key)
        try:
            self._head(remote_key)
        except NotFoundError:
            raise  # the bucket is missing
        except Exception as exc:
            if client_error_code(exc) in _MISSING_OBJECT_CODES:
                return False
            raise
        return True

    @cloud_operation("open_read", kind=DownloadError, metric="download")
    def open_read(self, remote_key: str) -> BinaryIO:
        check_key(remote_key)
        native = cast("S3BytePath | S3Requests | None", native_for(self, remote_key))
        if native is not None:
            with contextlib.suppress(NativeRefused):  # its TLS refused: the SDK, from now on
                return self.retry_policy.call(
                    lambda: native.open(remote_key, map_error=self.map_error)
                )
        body = self.client.get_object(Bucket=self.bucket, Key=remote_key)["Body"]
        return cast(BinaryIO, body)

    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        """Every object under prefix, one ListObjectsV2 page at a time (sha256 needs
        `head`). A failed page is retried with its own continuation token."""
        return follow_pages(lambda token: self.list_page(prefix, token))

    def list_range(
        self,
        prefix: str = "",
        start: str | None = None,
        end: str | None = None,
        *,
        page_size: int = 1000,
    ) -> Iterator[StorageObject]:
        """Objects under prefix with start <= key < end, ascending (S3 lists by UTF-8
        bytes): the first page starts with StartAfter just before start (StartAfter is
        exclusive and any string: start without its last character, the few keys between
        are dropped here), and the walk stops at the first key at or past end."""
        after = start[:-1] if start and start[:-1] > prefix else None
        pages = follow_pages(
            lambda token: self.list_page(prefix, token, page_size, start_after=after)
        )
        return within_range(pages, start, end)

    @cloud_operation("list_objects", kind=StorageError, resource="prefix")
    def list_page(
        self,
        prefix: str = "",
        page_token: str | None = None,
        page_size: int = 1000,
        *,
        start_after: str | None = None,
    ) -> tuple[list[StorageObject], str | None]:
        """One ListObjectsV2 page and the continuation token of the next (None: last);
        start_after (the first page only) lists keys after that one."""
        lean = self.lean
        if lean is not None:
            from providers.native.s3_list import list_page

            with contextlib.suppress(NativeRefused):  # another region: boto3 from now on
                entries, next_token = list_page(
                    lean, prefix, page_token, page_size, start_after=start_after,
                    map_error=self.map_error,
                )  # fmt: skip
                kms = self.sse == "aws:kms"
                return [
                    StorageObject(
                        key=e.key,
                        size=e.size,
                        last_modified=e.last_modified,
                        etag=e.etag,
                        hashes=_md5_of_etag(e.etag, kms),
                    )
                    for e in entries
                ], next_token
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
        if page_token:
            args["ContinuationToken"] = page_token
        elif start_after:
            args["StartAfter"] = start_after
        page = self.client.list_objects_v2(**args)
        kms = self.sse == "aws:kms"
        objects = [
            StorageObject(
                key=item["Key"],
                size=int(item.get("Size", 0)),
                last_modified=item.get("LastModified"),
                etag=_etag(item.get("ETag")),
                hashes=_md5_of_etag(_etag(item.get("ETag")), kms),
            )
            for item in page.get("Contents", [])
        ]
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        return objects, token

    @cloud_operation("list_versions", kind=StorageError)
    def list_versions(self, remote_key: str) -> list[ObjectVersion]:
        """The stored versions of exactly this key, newest first (delete markers skipped;
        one version "null" when versioning was never on). sha256 comes from each version's
        metadata (a HEAD per version: listings carry no metadata)."""
        check_key(remote_key)
        out: list[ObjectVersion] = []
        for item in self._versions(remote_key):
            if item["Key"] != remote_key:
                continue  # the key is a prefix of other keys
            version_id = str(item.get("VersionId"))
            head = self._head(remote_key, None if version_id == "null" else version_id)
            out.append(
                ObjectVersion(
                    key=item["Key"],
                    version_id=version_id,
                    size=int(item.get("Size", 0)),
                    last_modified=item.get("LastModified"),
                    is_latest=bool(item.get("IsLatest")),
                    sha256=head.sha256,
                )
            )
        return out

    def _versions(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Every stored version under prefix, as S3 lists them (newest first per key)."""
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            yield from page.get("Versions", [])

    @cloud_operation("delete", kind=DeleteError, mutating=True)
    def delete(self, remote_key: str, *, version_id: str | None = None) -> bool:
        """Delete an object (or one version of it); False when it did not exist."""
        check_key(remote_key)
        try:
            self._head(remote_key, version_id)
        except NotFoundError:
            raise  # the bucket is missing
        except Exception as exc:
            if client_error_code(exc) in {"404", "NotFound", "NoSuchKey", "NoSuchVersion"}:
                return False
            raise
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": remote_key}
        if version_id:
            args["VersionId"] = version_id
        self.client.delete_object(**args)
        return True

    @cloud_operation("copy", kind=StorageError, mutating=True, resource="dst_key")
    def copy(self, src_key: str, dst_key: str, *, src_bucket: str | None = None) -> StorageObject:
        """Server-side copy inside S3 (multipart for big objects); metadata is kept."""
        check_key(src_key)
        check_key(dst_key)
        source = {"Bucket": src_bucket or self.bucket, "Key": src_key}
        self.client.copy(
            source,
            self.bucket,
            dst_key,
            ExtraArgs={"MetadataDirective": "COPY", **self._encryption()},
            Config=self.transfer.for_size(0),
        )
        return self._head(dst_key)

    @cloud_operation("get_url", kind=StorageError)
    def get_url(self, remote_key: str, expires_in: int = 3600) -> str:
        """A presigned GET URL valid for expires_in seconds (1 s .. 7 days)."""
        check_key(remote_key)
        if not MIN_EXPIRY <= int(expires_in) <= MAX_EXPIRY:
            raise ConfigurationError(
                f"expiry {expires_in}s is out of range",
                provider="aws",
                operation="get_url",
                resource=self.uri(remote_key),
                hint=f"Use {MIN_EXPIRY} to {MAX_EXPIRY} seconds (7 days)",
            )
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": remote_key},
                ExpiresIn=int(expires_in),
            )
        )

    @cloud_operation("delete_bucket", kind=DeleteError, mutating=True, resource=None)
    def delete_bucket(self, *, force: bool = False) -> None:
        """Delete the bucket; with force, every object version in it first."""
        if force:
            for version in list(self._versions("")):
                self.client.delete_object(
                    Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"]
                )
            for obj in list(self.list_objects()):
                self.client.delete_object(Bucket=self.bucket, Key=obj.key)
        self.client.delete_bucket(Bucket=self.bucket)
