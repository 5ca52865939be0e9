"""S3Storage against moto in server mode."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import pytest

from providers.aws import AWSProvider
from providers.aws.storage import MAX_PARTS, MiB, S3Storage, TransferSettings, part_size
from providers.base import CloudStorage
from providers.errors import (
    ConfigurationError,
    IntegrityError,
    NotFoundError,
)
from tests.aws.conftest import unique

_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_protocol(bucket: S3Storage) -> None:
    assert isinstance(bucket, CloudStorage)
    assert bucket.uri("a/b") == f"s3://{bucket.bucket}/a/b"


def test_upload_head_list_delete_round_trip(bucket: S3Storage, tmp_path: Path) -> None:
    data = b"hello s3\n" * 100
    uri = bucket.upload(write(tmp_path / "f.txt", data), "dir/f.txt", {"Owner": "me"})
    assert uri == f"s3://{bucket.bucket}/dir/f.txt"
    bucket.upload(write(tmp_path / "g.txt", b"g"), "other/g.txt")

    head = bucket.head("dir/f.txt")
    assert head.size == len(data)
    assert head.sha256 == hashlib.sha256(data).hexdigest()
    assert head.metadata["owner"] == "me"

    assert [o.key for o in bucket.list_objects("dir/")] == ["dir/f.txt"]
    assert {o.key for o in bucket.list_objects()} == {"dir/f.txt", "other/g.txt"}

    out = bucket.download("dir/f.txt", tmp_path / "out" / "f.txt")
    assert out.read_bytes() == data
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]

    with bucket.open_read("other/g.txt") as stream:
        assert stream.read() == b"g"

    assert bucket.delete("dir/f.txt") is True
    assert bucket.delete("dir/f.txt") is False
    with pytest.raises(NotFoundError):
        bucket.head("dir/f.txt")


def test_list_follows_pages(aws: AWSProvider, bucket: S3Storage) -> None:
    client = aws.client("s3")
    for i in range(1005):  # more than one ListObjectsV2 page of 1000
        client.put_object(Bucket=bucket.bucket, Key=f"many/{i:05d}", Body=b"")
    keys = [o.key for o in bucket.list_objects("many/")]
    assert len(keys) == 1005 and keys[-1] == "many/01004"


def test_upload_stream(bucket: S3Storage, tmp_path: Path) -> None:
    data = os.urandom(3000)
    digest = hashlib.sha256(data).hexdigest()
    src = write(tmp_path / "s", data)
    with src.open("rb") as stream:
        obj = bucket.upload_stream(stream, "s/obj", size=len(data), sha256=digest)
    assert obj.sha256 == digest
    head = bucket.head("s/obj")
    assert head.sha256 == digest
    # one PutObject: its ETag is the MD5 of what S3 stored, so the write verified itself
    assert obj.verified and obj.etag == head.etag == hashlib.md5(data).hexdigest()


@pytest.fixture
def multipart_bucket(aws: AWSProvider) -> S3Storage:
    """A bucket whose uploads go multipart from 5 MiB, in 5 MiB parts."""
    storage = S3Storage(
        aws.client("s3"),
        unique("spec-mp"),
        region=aws.region,
        transfer=TransferSettings(threshold=5 * MiB, chunk_size=5 * MiB, concurrency=4),
    )
    storage.create_bucket()
    return storage


def test_multipart_upload_stream_is_verified_by_s3s_full_object_crc32(
    multipart_bucket: S3Storage, tmp_path: Path
) -> None:
    storage = multipart_bucket
    data = os.urandom(5 * MiB + 1)
    digest = hashlib.sha256(data).hexdigest()
    with write(tmp_path / "m", data).open("rb") as stream:
        obj = storage.upload_stream(stream, "m", size=len(data), sha256=digest)
    # a multipart ETag is no MD5 of the content; the full-object CRC32 S3 computed over
    # the assembled parts is (and every part's ETag was compared with its MD5)
    assert obj.verified and obj.evidence in (
        "s3:crc32c-full-object+part-md5",  # with google-crc32c installed
        "s3:crc32-full-object+part-md5",
    )
    (alg,) = obj.hashes
    head = storage.head("m")
    assert (head.size, head.sha256) == (len(data), digest) and head.etag.endswith("-2")
    assert head.hashes[alg] == obj.hashes[alg]


def test_multipart_20mb_round_trip(multipart_bucket: S3Storage, tmp_path: Path) -> None:
    storage = multipart_bucket
    data = os.urandom(20 * MiB + 123)
    src = write(tmp_path / "big.bin", data)
    storage.upload(src, "big/big.bin")

    head = storage.head("big/big.bin")
    assert head.size == len(data)
    assert head.sha256 == hashlib.sha256(data).hexdigest()
    # a multipart ETag ends in -<parts>: 20 MiB + 123 B in 5 MiB parts is 5 parts
    assert head.etag is not None and head.etag.endswith("-5")

    out = storage.download("big/big.bin", tmp_path / "back.bin")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == head.sha256


def test_download_detects_corruption(aws: AWSProvider, bucket: S3Storage, tmp_path: Path) -> None:
    aws.client("s3").put_object(
        Bucket=bucket.bucket, Key="bad", Body=b"actual", Metadata={"sha256": "0" * 64}
    )
    target = tmp_path / "bad"
    with pytest.raises(IntegrityError, match="sha256 expected 0000"):
        bucket.download("bad", target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_part_size_stays_under_10000_parts() -> None:
    assert part_size(100 * MiB, 8 * MiB) == 8 * MiB
    assert part_size(10, 1) == 5 * MiB  # S3's minimum part
    huge = 5 * 1024**4  # 5 TiB, the S3 object limit
    chunk = part_size(huge, 8 * MiB)
    assert chunk % MiB == 0 and huge / chunk <= MAX_PARTS


def test_presigned_url_fetched_with_urllib(bucket: S3Storage, tmp_path: Path) -> None:
    bucket.upload(write(tmp_path / "p", b"presigned bytes"), "pre/p")
    url = bucket.get_url("pre/p", expires_in=60)
    assert "X-Amz-Expires=60" in url and "X-Amz-Signature=" in url
    with _HTTP.open(url, timeout=10) as resp:
        assert resp.read() == b"presigned bytes"
    for bad in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(ConfigurationError, match="7 days"):
            bucket.get_url("pre/p", expires_in=bad)
    assert "X-Amz-Expires=604800" in bucket.get_url("pre/p", expires_in=604800)


def test_versioning_and_versions(bucket: S3Storage, tmp_path: Path) -> None:
    assert bucket.versioning_enabled() is False
    bucket.set_versioning(True)
    assert bucket.versioning_enabled() is True
    bucket.upload(write(tmp_path / "v1", b"one"), "v/key")
    bucket.upload(write(tmp_path / "v2", b"two!"), "v/key")
    versions = bucket.list_versions("v/key")
    assert len(versions) == 2
    latest = [v for v in versions if v.is_latest]
    assert len(latest) == 1 and latest[0].size == 4
    older = next(v for v in versions if not v.is_latest)
    out = bucket.download("v/key", tmp_path / "old", version_id=older.version_id)
    assert out.read_bytes() == b"one"
    bucket.set_versioning(False)
    assert bucket.versioning_enabled() is False


def test_server_side_copy_keeps_checksum(bucket: S3Storage, tmp_path: Path) -> None:
    other = S3Storage(bucket.client, unique("spec-copy"), region=bucket.region)
    other.create_bucket()
    bucket.upload(write(tmp_path / "c", b"copy me"), "c/src", {"k": "v"})
    copied = other.copy("c/src", "c/dst", src_bucket=bucket.bucket)
    assert copied.sha256 == hashlib.sha256(b"copy me").hexdigest()
    assert copied.metadata["k"] == "v"
    same = bucket.copy("c/src", "c/again")
    assert same.size == 7


@pytest.mark.parametrize(("sse", "key_id"), [("AES256", None), ("aws:kms", "alias/specify")])
def test_server_side_encryption(
    aws: AWSProvider, tmp_path: Path, sse: str, key_id: str | None
) -> None:
    storage = S3Storage(aws.client("s3"), unique("spec-sse"), sse=sse, kms_key_id=key_id)
    storage.create_bucket()
    storage.upload(write(tmp_path / "e", b"secret-ish"), "e")
    head = aws.client("s3").head_object(Bucket=storage.bucket, Key="e")
    assert head["ServerSideEncryption"] == sse
    if key_id:
        assert key_id in head["SSEKMSKeyId"]
    copied = storage.copy("e", "e2")
    assert copied.size == 10


def test_bad_sse_is_refused(aws: AWSProvider) -> None:
    with pytest.raises(ConfigurationError, match="AES256"):
        S3Storage(aws.client("s3"), "whatever", sse="rot13")


def test_missing_bucket_is_mapped(aws: AWSProvider, tmp_path: Path) -> None:
    storage = aws.get_storage(unique("spec-missing"))
    with pytest.raises(NotFoundError) as info:
        storage.upload(write(tmp_path / "x", b"x"), "k/x")
    text = str(info.value)
    assert f"s3://{storage.bucket}/k/x" in text
    assert "us-east-1" in text
    assert "Create the bucket" in text
    with pytest.raises(NotFoundError, match="NoSuchBucket"):
        list(storage.list_objects())
    with pytest.raises(NotFoundError):
        storage.delete("k/x")
    assert storage.bucket_exists() is False


def test_missing_key_is_mapped(bucket: S3Storage, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        bucket.download("no/such", tmp_path / "x")
    assert "Check the key" in str(info.value)
    assert not (tmp_path / "x").exists()


def test_bad_keys_are_refused(bucket: S3Storage, tmp_path: Path) -> None:
    for key in ("../escape", "/abs", "a/./b"):
        with pytest.raises(ConfigurationError):
            bucket.upload(write(tmp_path / "k", b"k"), key)


def test_delete_bucket_with_versions(aws: AWSProvider, tmp_path: Path) -> None:
    storage = aws.get_storage(unique("spec-del"))
    assert storage.create_bucket() is True
    assert storage.create_bucket() is False  # exists already, exist_ok
    storage.set_versioning(True)
    storage.upload(write(tmp_path / "a", b"1"), "a")
    storage.upload(write(tmp_path / "a", b"2"), "a")
    storage.delete_bucket(force=True)
    assert storage.bucket_exists() is False
