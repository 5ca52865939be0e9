"""GCP fixtures shared by every test area (registered in tests/conftest.py): the fake OAuth
endpoint, a throwaway service-account key whose tokens it issues, and the fake Compute API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.gcp_compute import FakeCompute
from tests.fakes.gcp_oauth import FakeOAuth

PROJECT = "specify-test"


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
def fake_compute(oauth: FakeOAuth) -> Iterator[FakeCompute]:
    """The fake Compute Engine API of PROJECT; it answers 401 without an OAuth token."""
    with FakeCompute(PROJECT) as server:
        server.auth = oauth  # type: ignore[attr-defined]
        yield server  # type: ignore[misc]
