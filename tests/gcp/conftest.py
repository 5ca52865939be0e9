"""Fixtures for the GCP provider tests: a throwaway service-account key, a wiped GCS
emulator bucket, and the fake REST servers of tests/fakes/."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.gcp import GCPProvider
from providers.gcp.storage import GCSStorage
from providers.retry import RetryPolicy
from tests.emulators import Emulators
from tests.fakes.gcp_oauth import FakeOAuth

FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05)


@pytest.fixture(autouse=True)
def _audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("SPECIFY_AUDIT_LOG", str(path))
    return path


@pytest.fixture(scope="session")
def oauth() -> Iterator[FakeOAuth]:
    with FakeOAuth() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="session")
def sa_info(oauth: FakeOAuth) -> dict[str, Any]:
    """A service-account key made up for the tests (nothing at Google knows it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "specify-test",
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": "specify-tests@specify-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        # tokens come from the fake OAuth endpoint, as they would from Google's
        "token_uri": f"{oauth.url}/token",
    }
    oauth.client_email = info["client_email"]
    oauth.public_key = key.public_key()
    return info


@pytest.fixture
def gcs_provider(emulators: Emulators, sa_info: dict[str, Any]) -> Iterator[GCPProvider]:
    """A provider on a freshly wiped emulator, signing URLs with the throwaway key."""
    emulators.reset_gcs()
    assert os.environ["STORAGE_EMULATOR_HOST"] == emulators.url("gcs")
    yield GCPProvider(service_account_info=sa_info, bucket=f"specify-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def gcs(gcs_provider: GCPProvider) -> GCSStorage:
    storage = gcs_provider.get_storage()
    storage.retry_policy = FAST_RETRY
    storage.create_bucket()
    return storage
