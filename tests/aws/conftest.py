"""AWS fixtures: one moto server (started through the shared harness) for the session.

The standard AWS variables point at it, so providers are built exactly as a user's shell
would build them.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid

import pytest

from providers.aws import AWSProvider
from providers.aws.storage import S3Storage
from tests.emulators import Emulators

_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="session")
def moto_url(emulators: Emulators, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session's moto server; the environment points the AWS SDK at it."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        os.environ.pop(var, None)
    os.environ["SPECIFY_AUDIT_LOG"] = str(tmp_path_factory.mktemp("audit") / "audit.jsonl")
    return emulators.url("moto")


@pytest.fixture()
def aws(moto_url: str) -> AWSProvider:
    """A provider configured only by the environment (AWS_ENDPOINT_URL etc.)."""
    return AWSProvider()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def bucket(aws: AWSProvider) -> S3Storage:
    storage = aws.get_storage(unique("spec-test"))
    assert storage.create_bucket() is True
    return storage


def moto_post(moto_url: str, path: str, body: dict[str, object]) -> int:
    req = urllib.request.Request(
        moto_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _HTTP.open(req, timeout=10) as resp:
        return int(resp.status)
