"""AWSProvider: cheap import, environment handling, retries of transient failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from providers.aws import AWSProvider
from providers.aws.storage import S3Storage
from providers.errors import ConfigurationError, StorageError
from providers.locations import open_location
from providers.registry import get_provider
from tests.aws.conftest import unique
from tests.fakes.s3_faults import faulty_s3

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def test_import_does_not_load_boto3() -> None:
    out = run_python(
        "import sys; from providers.aws import AWSProvider; AWSProvider('us-east-1');"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_missing_sdk_names_the_extra() -> None:
    out = run_python(
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "from providers.aws import AWSProvider\n"
        "from providers.errors import ProviderNotAvailableError\n"
        "try:\n    AWSProvider('us-east-1').get_storage('some-bucket')\n"
        "except ProviderNotAvailableError as e:\n    print(e)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'specify-cloud[aws]'" in out.stdout


def test_environment_is_honoured(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    aws = AWSProvider()
    assert aws.region == "ap-southeast-2"
    assert aws.client("s3").meta.endpoint_url == moto_url  # from AWS_ENDPOINT_URL
    assert AWSProvider("eu-west-3").region == "eu-west-3"  # explicit wins
    with pytest.raises(ConfigurationError, match="bucket"):
        aws.get_storage()


def test_s3_url_works_like_the_cli(moto_url: str, tmp_path: Path) -> None:
    name = unique("spec-url")
    AWSProvider().get_storage(name).create_bucket()
    storage, prefix = open_location(f"s3://{name}/reports")
    assert isinstance(storage, S3Storage) and prefix == "reports"
    assert isinstance(get_provider("aws"), AWSProvider)
    (tmp_path / "r").write_text("r")
    storage.upload(tmp_path / "r", f"{prefix}/r")
    assert [o.key for o in storage.list_objects(prefix)] == ["reports/r"]


def test_throttling_is_retried_once_per_policy_attempt() -> None:
    with faulty_s3() as fake:
        fake.failures = [(503, "SlowDown"), (500, "InternalError")]
        storage = AWSProvider("us-east-1", endpoint_url=fake.url).get_storage("flaky-bucket")
        objects = list(storage.list_objects())
        assert [(o.key, o.size, o.etag) for o in objects] == [("only.txt", 3, "abc")]
        # botocore makes one attempt per call; the shared policy made the three
        assert len(fake.requests) == 3
        assert all(path == "/flaky-bucket" for _, path, _ in fake.requests)


def test_persistent_5xx_gives_a_retryable_storage_error() -> None:
    with faulty_s3() as fake:
        fake.failures = [(503, "ServiceUnavailable")] * 5
        storage = AWSProvider("us-east-1", endpoint_url=fake.url).get_storage("down-bucket")
        with pytest.raises(StorageError) as info:
            list(storage.list_objects())
        assert info.value.retryable and "try again later" in str(info.value)
        assert "s3://down-bucket" in str(info.value) and "us-east-1" in str(info.value)
        assert len(fake.requests) == storage.retry_policy.attempts


def test_client_error_is_not_retried() -> None:
    with faulty_s3() as fake:
        fake.failures = [(400, "InvalidArgument")]
        storage = AWSProvider("us-east-1", endpoint_url=fake.url).get_storage("bad-bucket")
        with pytest.raises(StorageError, match="InvalidArgument") as info:
            list(storage.list_objects())
        assert not info.value.retryable and len(fake.requests) == 1
