"""Amazon S3 as a CloudStorage: checksummed uploads, multipart transfers, presigned URLs,
versioning, server-side copy and server-side encryption."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlencode

from providers.aws.adapter import AWSAdapter, client_error_code, find_botocore_error
from providers.base import SHA256_METADATA_KEY, ObjectVersion, StorageObject
from providers.errors import (
    BucketExistsError,
    BucketNotFoundError,
    CloudError,
    ConfigurationError,
    DeleteError,
    DownloadError,
    NotFoundError,
    ObjectNotFoundError,
    StorageError,
    UploadError,
    refine_not_found,
)
from providers.locations import check_key
from providers.operation import cloud_operation

try:
    from boto3.s3.transfer import TransferConfig
except ImportError as exc:  # pragma: no cover
    from providers.errors import sdk_missing

    raise sdk_missing("aws", "boto3", "aws") from exc

MiB = 1024 * 1024
MAX_PARTS = 10_000
MIN_PART = 5 * MiB
MIN_EXPIRY = 1
MAX_EXPIRY = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days
SSE_MODES = ("AES256", "aws:kms")
_HASH_BLOCK = 4 * MiB
#: operations on the bucket itself: a not-found there is the bucket's
_BUCKET_OPERATIONS = frozenset(
    {"list_objects", "list_versions", "upload", "upload_stream", "get_versioning"}
)
_MISSING_OBJECT_CODES = frozenset({"404", "NotFound", "NoSuchKey", "NoSuchVersion"})


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


class S3Storage(AWSAdapter):
    """One S3 bucket. Keys are checked with `check_key`; metadata keys are lower-case."""

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
    ) -> None:
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
        self.client = client
        self.bucket = bucket
        self.region = region
        self.transfer = transfer or TransferSettings()
        self.sse = sse
        self.kms_key_id = kms_key_id

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

    def _bucket_found(self) -> bool:
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
    @cloud_operation("upload", kind=UploadError, mutating=True, metric="upload")
    def upload(
        self,
        local_path: Path | str,
        remote_key: str,
        metadata: Mapping[str, str] | None = None,
        *,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Upload a file (multipart above the threshold) with its sha256 in the metadata."""
        check_key(remote_key)
        path = Path(local_path)
        sha256, size = file_sha256(path)
        self.client.upload_file(
            str(path),
            self.bucket,
            remote_key,
            ExtraArgs=self._write_args(sha256, metadata, tags),
            Config=self.transfer.for_size(size),
        )
        return self.uri(remote_key)

    @cloud_operation("upload_stream", kind=UploadError, mutating=True, metric="upload")
    def upload_stream(
        self,
        stream: BinaryIO,
        remote_key: str,
        *,
        size: int,
        sha256: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StorageObject:
        check_key(remote_key)
        args = self._write_args(sha256, metadata, None)
        if size >= self.transfer.threshold:
            self.client.upload_fileobj(
                stream, self.bucket, remote_key, ExtraArgs=args, Config=self.transfer.for_size(size)
            )
            # a multipart ETag is no MD5 of the content: the caller verifies with head
            return StorageObject(
                key=remote_key, size=size, sha256=sha256, metadata=_user_metadata(args["Metadata"])
            )
        # one PutObject: s3transfer's thread and future machinery costs more client CPU
        # than the request itself for small objects (bounded: below the threshold)
        body = stream.read(size + 1)
        md5 = hashlib.md5(body, usedforsecurity=False)
        resp = self.client.put_object(
            Bucket=self.bucket,
            Key=remote_key,
            Body=body,
            # S3 rejects a body that does not match (BadDigest): no corrupted write lands
            ContentMD5=base64.b64encode(md5.digest()).decode(),
            **args,
        )
        etag = (resp.get("ETag") or "").strip('"') or None
        return StorageObject(
            key=remote_key,
            size=len(body),
            etag=etag,
            sha256=sha256,
            metadata=_user_metadata(args["Metadata"]),
            version_id=resp.get("VersionId"),
            # a single-part ETag is the MD5 of what S3 stored, except under SSE-KMS
            verified=self.sse != "aws:kms" and etag == md5.hexdigest() and len(body) == size,
        )

    @cloud_operation("download", kind=DownloadError, metric="download")
    def download(
        self, remote_key: str, local_path: Path | str, *, version_id: str | None = None
    ) -> Path:
        """Stream into a temp file beside local_path, check size and sha256, then rename."""
        check_key(remote_key)
        target = Path(local_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        head = self._head(remote_key, version_id)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            extra = {"VersionId": version_id} if version_id else None
            self.client.download_file(
                self.bucket,
                remote_key,
                str(tmp),
                ExtraArgs=extra,
                Config=self.transfer.for_size(head.size),
            )
            sha256, size = file_sha256(tmp)
            if size != head.size or (head.sha256 and sha256 != head.sha256):
                raise DownloadError(
                    f"content check failed: got {size} bytes sha256 {sha256}, expected "
                    f"{head.size} bytes sha256 {head.sha256}",
                    provider="aws",
                    operation="download",
                    resource=self.uri(remote_key),
                    hint="The object changed during the download or was corrupted; try again",
                    retryable=True,
                )
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return target

    def _head(self, remote_key: str, version_id: str | None = None) -> StorageObject:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": remote_key}
        if version_id:
            args["VersionId"] = version_id
        try:
            resp = self.client.head_object(**args)
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
        return StorageObject(
            key=remote_key,
            size=int(resp.get("ContentLength", 0)),
            last_modified=resp.get("LastModified"),
            etag=(resp.get("ETag") or "").strip('"') or None,
            sha256=meta.get(SHA256_METADATA_KEY),
            metadata=_user_metadata(meta),
            version_id=resp.get("VersionId"),
        )

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
        body = self.client.get_object(Bucket=self.bucket, Key=remote_key)["Body"]
        return cast(BinaryIO, body)

    @cloud_operation("list_objects", kind=StorageError, resource="prefix")
    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        """Every object under prefix (ListObjectsV2 pages; sha256 needs `head`)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield StorageObject(
                    key=item["Key"],
                    size=int(item.get("Size", 0)),
                    last_modified=item.get("LastModified"),
                    etag=(item.get("ETag") or "").strip('"') or None,
                )

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
