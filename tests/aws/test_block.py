"""SpecifyAWS block: save/load under prefect_test_harness builds a working provider, and
the secret stays out of repr, logs and `prefect block inspect`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.aws.conftest import unique

SECRET = "s3cr3t-" + "Zq9" * 6
TOKEN = "t0ken-" + "Wx7" * 6


def test_save_load_builds_a_working_provider(
    prefect_harness: None, moto_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from prefect.settings import PREFECT_API_URL

    from blocks import SpecifyAWS, load_provider_block, open_location

    name = unique("aws-test")
    bucket = unique("spec-block")
    caplog.set_level(logging.DEBUG)
    SpecifyAWS(
        aws_access_key_id="testing",
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
        region_name="eu-central-1",
        endpoint_url=moto_url,
        bucket=bucket,
        log_group="/specify/block",
    ).save(name, overwrite=True)

    block = SpecifyAWS.load(name)
    assert SECRET not in repr(block) and SECRET not in str(block.model_dump())
    assert TOKEN not in repr(block)
    provider = block.provider()
    assert provider.region == "eu-central-1" and provider.bucket == bucket
    assert SECRET not in repr(provider) and SECRET not in repr(provider.credentials)

    storage = provider.get_storage()
    storage.create_bucket()
    src = tmp_path / "f.txt"
    src.write_text("through the block")
    storage.upload(src, "in/f.txt")
    assert provider.client("s3").get_bucket_location(Bucket=bucket)["LocationConstraint"] == (
        "eu-central-1"
    )

    # block: locations resolve through the saved block
    via_location, prefix = open_location(f"block:{name}/in")
    assert prefix == "in" and [o.key for o in via_location.list_objects(prefix)] == ["in/f.txt"]
    assert isinstance(load_provider_block(name), SpecifyAWS)

    # the secret key is in no log record, even at DEBUG (botocore's included); botocore's
    # own DEBUG output does show the session token in signed headers, so that one is
    # checked at INFO, the level anyone runs with
    assert SECRET not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and TOKEN in r.getMessage()]
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    out = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "inspect", f"specify-aws/{name}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "eu-central-1" in out.stdout and "********" in out.stdout
    assert SECRET not in out.stdout + out.stderr and TOKEN not in out.stdout + out.stderr


def test_empty_fields_fall_back_to_the_environment(moto_url: str) -> None:
    from blocks.aws import SpecifyAWS

    provider = SpecifyAWS(aws_access_key_id="", aws_secret_access_key="").provider()
    assert provider.region == os.environ["AWS_DEFAULT_REGION"]
    creds = provider.session.get_credentials().get_frozen_credentials()
    assert creds.access_key == os.environ["AWS_ACCESS_KEY_ID"]  # from the environment
    assert provider.get_secrets().list_secrets() is not None


def test_assumed_role_credentials_refresh(moto_url: str) -> None:
    from blocks.aws import SpecifyAWS

    provider = SpecifyAWS(
        assume_role_arn="arn:aws:iam::123456789012:role/specify", region_name="us-east-1"
    ).provider()
    creds = provider.session.get_credentials()
    first = creds.get_frozen_credentials()
    assert first.access_key != os.environ["AWS_ACCESS_KEY_ID"]  # from STS, not the env
    # moto's role credentials last 1 hour, inside botocore's 15-minute refresh margin only
    # when close to expiry: force it by pretending the expiry is now
    from datetime import UTC, datetime

    creds._expiry_time = datetime.now(UTC)
    second = creds.get_frozen_credentials()
    assert second.access_key != first.access_key
    assert provider.get_storage(unique("spec-role")).create_bucket() is True
