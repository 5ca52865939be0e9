"""AWS fixtures: one moto server (started through the shared harness) for the session.

Only moto is started here, not all three emulators, so tests/aws runs without Azurite.
The standard AWS variables point at it, so providers are built exactly as a user's shell
would build them.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from providers.aws import AWSProvider
from providers.aws.storage import S3Storage
from tests.emulators import Emulators

_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    saved = dict(os.environ)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        os.environ.pop(var, None)
    os.environ["SPECIFY_AUDIT_LOG"] = str(tmp_path_factory.mktemp("audit") / "audit.jsonl")
    emu = Emulators(tmp_path_factory.mktemp("moto"))
    emu.start(["moto"])
    os.environ.update(emu.env)
    try:
        yield emu.url("moto")
    finally:
        emu.stop()
        os.environ.clear()
        os.environ.update(saved)


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
