"""Faults: 503s and dropped connections in front of moto; failover with emulators stopped."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import boto3
import pytest

from providers.aws.storage import S3Storage
from providers.errors import DownloadError
from providers.local.storage import LocalStorage
from providers.locations import open_location
from providers.multicloud import UnifiedCloudStorage
from providers.replication import ReplicationOptions, replicate_prefix, verify_prefix
from tests.emulators import Emulators
from tests.fakes.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.emulators


def s3_client(url: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1")


def s3_store(url: str, bucket: str, opened: str) -> S3Storage:
    """'client': a store given a boto3 client; 'lean': one opened with static keys, as
    AWSProvider opens it (listing and single-object bytes through providers/native/s3_*)."""
    if opened == "client":
        return S3Storage(s3_client(url), bucket)
    from providers.aws.settings import AWSCredentials
    from providers.native.s3_account import S3Account

    keys = AWSCredentials(aws_access_key_id="testing", aws_secret_access_key="testing")
    account = S3Account.resolve(keys, "us-east-1", url)
    assert account is not None
    return S3Storage(None, bucket, account=account, client_factory=lambda: s3_client(url))


@pytest.mark.parametrize("opened", ["client", "lean"])
def test_500_objects_through_503s_and_dropped_connections(tmp_path: Path, opened: str) -> None:
    moto = os.environ["SPECIFY_MOTO_URL"]
    bucket = f"faults-{uuid.uuid4().hex[:10]}"
    direct = S3Storage(s3_client(moto), bucket)
    direct.create_bucket()
    src_root = tmp_path / "src"
    for i in range(500):
        path = src_root / f"batch-{i // 100}" / f"obj-{i:03d}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(512 + i))
    src = LocalStorage(src_root)

    with FaultyProxy(moto, p503=0.1, pdrop=0.05, seed=11) as proxy:
        faulty = s3_store(proxy.url, bucket, opened)
        assert (faulty.lean is not None) == (opened == "lean")
        options = ReplicationOptions(journal_dir=str(tmp_path / "state"), transfers=8)
        started = time.perf_counter()
        (report,) = replicate_prefix(src, "", [(faulty, "")], options)
        elapsed = time.perf_counter() - started
        assert report.ok, dict(list(report.errors.items())[:3])
        assert report.copied == 500
        # reading back through the same faults: S3 -> local
        (back,) = replicate_prefix(faulty, "", [(LocalStorage(tmp_path / "back"), "")], options)
        assert back.ok and back.copied == 500
        counts = dict(proxy.counts)
    assert counts["503"] > 20 and counts["drop"] > 10, counts
    # every object verified again, without the proxy, by sha256 recorded in metadata
    (check,) = verify_prefix(src, "", [(direct, "")])
    assert check.ok and check.match == 500 and not check.extra
    (check_back,) = verify_prefix(src, "", [(LocalStorage(tmp_path / "back"), "")])
    assert check_back.ok and check_back.match == 500
    print(f"500 objects through faults in {elapsed:.1f} s; proxy counts {counts}")


def test_download_fails_over_when_emulators_stop(emulators: Emulators, tmp_path: Path) -> None:
    name = f"failover-{uuid.uuid4().hex[:10]}"
    s3, _ = open_location(f"s3://{name}")
    gcs, _ = open_location(f"gs://{name}")
    s3.create_bucket()  # type: ignore[attr-defined]
    gcs.create_bucket()  # type: ignore[attr-defined]
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(4096))
    unified = UnifiedCloudStorage(s3, [gcs])
    unified.upload(payload, "docs/payload.bin")
    assert gcs.head("docs/payload.bin").sha256 is not None

    emulators.stop_one("moto")
    try:
        path, served_by = unified.download_from("docs/payload.bin", tmp_path / "got.bin")
        assert path.read_bytes() == payload.read_bytes()
        assert served_by == gcs.uri()
        emulators.stop_one("gcs")
        try:
            with pytest.raises(DownloadError) as info:
                unified.download("docs/payload.bin", tmp_path / "none.bin")
        finally:
            emulators.start_one("gcs")
    finally:
        emulators.start_one("moto")
    text = str(info.value)
    assert s3.uri() in text and gcs.uri() in text
    assert "every store failed (2)" in text
    assert not (tmp_path / "none.bin").exists()
