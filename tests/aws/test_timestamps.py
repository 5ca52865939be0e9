"""The S3 clients' timestamp parser agrees with botocore's own on every form AWS sends."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from providers.aws.session import parse_timestamp
from providers.aws.storage import S3Storage


@pytest.mark.parametrize(
    "value",
    [
        "Thu, 26 Nov 2026 15:58:34 GMT",  # Last-Modified header
        "2026-11-26T15:58:34.000Z",  # ListObjectsV2 XML
        "2026-11-26T15:58:34Z",
        "2026-11-26T15:58:34.123456789Z",
        "2026-11-26T15:58:34+02:00",
        "1700000000",  # epoch seconds (JSON protocols)
        "Thu, 26 Nov 2026 15:58:34 -0000",
    ],
)
def test_same_instant_as_botocore(value: str) -> None:
    ours = parse_timestamp(value)
    assert ours.tzinfo is not None
    assert ours == botocore_parse_timestamp(value)


def test_listing_and_head_report_when_the_object_was_written(bucket: S3Storage) -> None:
    data = b"when"
    bucket.upload_stream(
        io.BytesIO(data), "w.txt", size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    now = datetime.now(UTC)
    listed = next(iter(bucket.list_objects("w.txt")))
    for stamp in (listed.last_modified, bucket.head("w.txt").last_modified):
        assert stamp is not None and stamp.tzinfo is not None
        assert abs((now - stamp).total_seconds()) < 120
