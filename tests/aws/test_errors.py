"""Credential failures become CredentialsError with a message that says what to do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.aws import AWSProvider
from providers.aws.session import AWSCredentials
from providers.errors import CredentialsError
from tests.emulators import Emulators


@pytest.fixture(scope="module")
def moto_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second moto that checks access keys (INITIAL_NO_AUTH_ACTION_COUNT=0)."""
    saved = os.environ.get("INITIAL_NO_AUTH_ACTION_COUNT")
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    emu = Emulators(tmp_path_factory.mktemp("moto-auth"))
    try:
        emu.start(["moto"])
    finally:
        if saved is None:
            os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        else:
            os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = saved
    try:
        yield emu.url("moto")
    finally:
        emu.stop()


def test_wrong_credentials(moto_with_auth: str, tmp_path: Path) -> None:
    secret = "wrongSecretValue123"
    aws = AWSProvider(
        "eu-west-1",
        endpoint_url=moto_with_auth,
        credentials=AWSCredentials(aws_access_key_id="AKIAWRONGKEY", aws_secret_access_key=secret),
    )
    (tmp_path / "x").write_bytes(b"x")
    with pytest.raises(CredentialsError) as info:
        aws.get_storage("some-bucket").upload(tmp_path / "x", "k/x")
    text = str(info.value)
    assert "InvalidAccessKeyId" in text
    assert "s3://some-bucket/k/x" in text and "eu-west-1" in text
    assert "AWS_ACCESS_KEY_ID" in text and "AWS_PROFILE" in text  # says how to fix it
    assert secret not in text and secret not in repr(aws)

    with pytest.raises(CredentialsError, match=r"docs/iam/aws-policy\.json"):
        aws.get_secrets().list_secrets()


def test_no_credentials_at_all(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert AWSProvider.credentials_found() is False
    with pytest.raises(CredentialsError, match="Unable to locate credentials"):
        list(AWSProvider().get_storage("any-bucket").list_objects())
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert AWSProvider.credentials_found() is True
