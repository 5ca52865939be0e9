"""Lean S3 requests of one bucket: signed with providers/native/sigv4, sent on the
keep-alive socket pool of providers/native/http (no boto3, no obstore).

What goes here (the store's byte path and its listing, providers/aws/storage.py):
ListObjectsV2 (providers/native/s3_list), GetObject of an object's bytes (streamed,
checked by the caller's CheckedReader against S3's own hashes) and a single PutObject
(Content-MD5 and x-amz-checksum-sha256, which S3 checks before it stores; the answer's
ETag is compared with the MD5 sent by the store). Everything else stays on boto3.

An error answer becomes `ServiceAnswer` (botocore's ClientError shape) and goes through
the store's own mapping; no answer becomes a ConnectionError through it (retryable, as
botocore's connection errors are). A redirect to another region (AWS answers 301 with
x-amz-bucket-region; botocore follows it, this does not) raises NativeRefused: the
store then moves this and every later request through boto3. Nothing here retries: the
store's levels do, with fresh streams (docs/replication.md, "Retries: one owner per
level").
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from providers.errors import CloudError, DownloadError, UploadError
from providers.native._common import Body, NativeRefused, StoreMapper, transport_error
from providers.native.http import Answer, Pool, SendFailed, pool_for
from providers.native.s3_account import S3Account, S3Target
from providers.native.sigv4 import EMPTY_SHA256, S3Signer, uri_encode

USER_AGENT = "specify-cloud-lean/1 (s3)"
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_REDIRECTS = frozenset({301, 302, 307, 308})
TLS_HINT = "Check the endpoint's certificate and the CA bundle (AWS_CA_BUNDLE)"


class S3Requests:
    """Signed requests to one bucket (the account's keys never in repr)."""

    def __init__(self, account: S3Account, bucket: str, target: S3Target) -> None:
        self.account = account
        self.bucket = bucket
        self.target = target
        self.signer = S3Signer(account.credentials, account.region)
        self._pool: Pool | None = None
        #: set when the service sent us elsewhere (another region): boto3 from now on
        self.refused = False

    def __repr__(self) -> str:
        where = f"{self.target.origin}{self.target.prefix}"
        return f"S3Requests({where!r}, region={self.account.region})"

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            self._pool = pool_for(
                self.target.origin,
                verify=self.account.verify,
                connect_timeout=self.account.connect_timeout,
                read_timeout=self.account.read_timeout,
            )
        return self._pool

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def prepare(
        self,
        method: str,
        key: str | None,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        *,
        payload_hash: str = EMPTY_SHA256,
    ) -> tuple[str, dict[str, str]]:
        """(request target, signed headers); key None: the bucket itself."""
        raw = f"{self.target.prefix}/{key}" if key is not None else (self.target.prefix or "/")
        pairs = list(query)
        base = {"User-Agent": USER_AGENT, **(headers or {})}
        signed = self.signer.sign(
            method, self.target.host, raw, pairs, base, payload_hash=payload_hash
        )
        wire = uri_encode(raw, keep_slash=True)
        if pairs:
            wire += "?" + "&".join(
                f"{uri_encode(k, keep_slash=False)}={uri_encode(v, keep_slash=False)}"
                for k, v in pairs
            )
        return wire, signed

    # -- errors --------------------------------------------------------------------------
    def answer_error(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        operation: str,
        resource: str,
        kind: type[CloudError],
        mapper: StoreMapper,
    ) -> CloudError:
        """An error answer as the store's CloudError (the redirect of another region:
        NativeRefused, raised)."""
        where = headers.get("x-amz-bucket-region")
        if status in _REDIRECTS or (where and where != self.account.region):
            self.refused = True
            raise NativeRefused(
                f"S3 answered {status} (bucket region {where or 'unknown'}, "
                f"asked {self.account.region})"
            )
        from providers.aws.adapter import ServiceAnswer

        text = body.decode("utf-8", "replace")[:4000]
        code = _CODE.search(text)
        message = _MESSAGE.search(text)
        err = ServiceAnswer(
            status,
            code.group(1) if code else None,
            message.group(1) if message else "",
            operation,
            headers,
        )
        return mapper(err, operation=operation, resource=resource, kind=kind)

    def no_answer(
        self, exc: SendFailed, *, operation: str, resource: str, kind: type[CloudError],
        mapper: StoreMapper,
    ) -> CloudError:  # fmt: skip
        where = self.target.origin + self.target.prefix
        return transport_error(
            exc, resource, mapper, provider="aws", hint=TLS_HINT,
            cause=lambda e, text: ConnectionError(f"{text} (endpoint URL {where})"),
            operation=operation, kind=kind,
        )  # fmt: skip

    # -- requests ------------------------------------------------------------------------
    def send(
        self,
        method: str,
        key: str | None,
        query: Iterable[tuple[str, str]] = (),
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        payload_hash: str = EMPTY_SHA256,
        operation: str,
        kind: type[CloudError],
        mapper: StoreMapper,
        ok: frozenset[int] = frozenset({200}),
        resource: str | None = None,
    ) -> Answer:
        """One whole request and answer (an error answer raised as the store's error)."""
        target, signed = self.prepare(method, key, query, headers, payload_hash=payload_hash)
        resource = resource if resource is not None else (key or "")
        try:
            answer = self.pool.request(method, target, body, signed)
        except SendFailed as exc:
            raise self.no_answer(
                exc, operation=operation, resource=resource, kind=kind, mapper=mapper
            ) from exc
        if answer.status not in ok:
            raise self.answer_error(
                answer.status, answer.headers, answer.body, operation=operation,
                resource=resource, kind=kind, mapper=mapper,
            )  # fmt: skip
        return answer

    def raw(
        self,
        method: str,
        key: str | None,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        *,
        operation: str,
    ) -> Answer:
        """One body-less request whose failures are raised unmapped, as boto3 raises
        them to the store: an error answer as ServiceAnswer (ClientError's shape), no
        answer as ConnectionError (a refused certificate as a plain OSError); the
        store's operation maps them at its edge as it maps botocore's."""
        target, signed = self.prepare(method, key, query, headers)
        try:
            answer = self.pool.request(method, target, b"", signed)
        except SendFailed as exc:
            raise ConnectionError(
                str(exc).splitlines()[0][:300] if str(exc) else "no answer"
            ) from exc
        if answer.status >= 300:
            where = answer.headers.get("x-amz-bucket-region")
            if answer.status in _REDIRECTS or (where and where != self.account.region):
                self.refused = True
                raise NativeRefused(f"S3 answered {answer.status} (bucket region {where})")
            from providers.aws.adapter import ServiceAnswer

            text = answer.body.decode("utf-8", "replace")[:4000]
            code, message = _CODE.search(text), _MESSAGE.search(text)
            raise ServiceAnswer(
                answer.status,
                code.group(1) if code else None,
                message.group(1) if message else _REASONS.get(answer.status, ""),
                operation,
                answer.headers,
            )
        return answer

    def head_object(
        self, key: str, version_id: str | None = None, part_number: int | None = None
    ) -> dict[str, Any]:
        """HeadObject (checksum mode on) as boto3 answers it: the fields the store reads
        (ContentLength, LastModified, ETag, Metadata, VersionId, ServerSideEncryption,
        SSECustomerAlgorithm, ChecksumType and the Checksum* values)."""
        query: list[tuple[str, str]] = []
        if part_number is not None:
            query.append(("partNumber", str(part_number)))
        if version_id:
            query.append(("versionId", version_id))
        headers = {} if part_number is not None else {"x-amz-checksum-mode": "ENABLED"}
        answer = self.raw("HEAD", key, query, headers, operation="HeadObject")
        return head_fields(answer.headers)

    def bucket_found(self) -> bool:
        """HeadBucket: True, False on 404; any other answer raised as ServiceAnswer."""
        try:
            self.raw("HEAD", None, operation="HeadBucket")
        except Exception as exc:
            response = getattr(exc, "response", None)
            if response and response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise
        return True

    def open(
        self,
        key: str,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
        map_error: StoreMapper,
        operation: str = "open_read",
    ) -> BinaryIO:
        """GetObject: a forward-only stream of the object's bytes (pinned to the ETag
        or the version); a cut body raises a retryable DownloadError from read()."""
        query = [("versionId", version_id)] if version_id else []
        headers: dict[str, str] = {}
        if if_match and not version_id:
            headers["If-Match"] = f'"{if_match.strip(chr(34))}"'
        target, signed = self.prepare("GET", key, query, headers)

        def cut(exc: BaseException) -> CloudError:
            if isinstance(exc, SendFailed):
                return self.no_answer(
                    exc, operation=operation, resource=key, kind=DownloadError, mapper=map_error
                )
            return map_error(exc, operation=operation, resource=key, kind=DownloadError)  # type: ignore[arg-type]

        try:
            answer = self.pool.stream("GET", target, signed)
        except SendFailed as exc:
            raise cut(exc) from exc
        if answer.status not in (200, 206):
            try:
                data = answer.read_all()
            except SendFailed:
                data = b""
            raise self.answer_error(
                answer.status, answer.headers, data, operation=operation, resource=key,
                kind=DownloadError, mapper=map_error,
            )  # fmt: skip
        return Body(answer.chunks, cut)  # type: ignore[return-value]

    def put(
        self,
        key: str,
        body: bytes,
        metadata: Mapping[str, str],
        *,
        md5: bytes,
        sha256: bytes,
        sse: str | None = None,
        map_error: StoreMapper,
    ) -> dict[str, str | None]:
        """One PutObject with Content-MD5 and x-amz-checksum-sha256 (S3 refuses a body
        matching neither: BadDigest); the payload is signed with its sha256 too.
        {'e_tag', 'version'} of the answer."""
        headers: dict[str, str] = {
            "Content-MD5": base64.b64encode(md5).decode(),
            "x-amz-checksum-sha256": base64.b64encode(sha256).decode(),
            "x-amz-sdk-checksum-algorithm": "SHA256",
            "Content-Type": "binary/octet-stream",
            "Content-Length": str(len(body)),
        }
        if sse:
            headers["x-amz-server-side-encryption"] = sse
        for name, value in metadata.items():
            headers[f"x-amz-meta-{name}"] = value
        answer = self.send(
            "PUT", key, body=body, headers=headers, payload_hash=sha256.hex(),
            operation="upload", kind=UploadError, mapper=map_error,
        )  # fmt: skip
        return {
            "e_tag": answer.headers.get("etag"),
            "version": answer.headers.get("x-amz-version-id"),
        }


#: botocore's message for a bare HEAD error answer (http.client's reason phrases)
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 412: "Precondition Failed"}
#: HeadObject answer headers -> boto3's response keys (the ones the store reads)
_HEAD_FIELDS = {
    "etag": "ETag",
    "x-amz-version-id": "VersionId",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-customer-algorithm": "SSECustomerAlgorithm",
    "x-amz-checksum-type": "ChecksumType",
    "x-amz-checksum-crc32": "ChecksumCRC32",
    "x-amz-checksum-crc32c": "ChecksumCRC32C",
    "x-amz-checksum-crc64nvme": "ChecksumCRC64NVME",
    "x-amz-checksum-sha1": "ChecksumSHA1",
    "x-amz-checksum-sha256": "ChecksumSHA256",
}


def head_fields(headers: Mapping[str, str]) -> dict[str, Any]:
    """boto3's reading of a HeadObject answer's headers, for the fields the store uses."""
    from email.utils import parsedate_to_datetime

    out: dict[str, Any] = {
        "ContentLength": int(headers.get("content-length") or 0),
        "Metadata": {
            name[len("x-amz-meta-") :]: value
            for name, value in headers.items()
            if name.startswith("x-amz-meta-")
        },
    }
    if headers.get("last-modified"):
        out["LastModified"] = parsedate_to_datetime(headers["last-modified"])
    for name, field_name in _HEAD_FIELDS.items():
        if name in headers:
            out[field_name] = headers[name]
    return out


def sha256_md5(body: bytes) -> tuple[bytes, bytes]:
    return hashlib.sha256(body).digest(), hashlib.md5(body, usedforsecurity=False).digest()


__all__ = ["S3Requests", "sha256_md5"]
