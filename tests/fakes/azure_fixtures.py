"""Azure fixtures shared by every test area (registered in tests/conftest.py): a fake
Azure endpoint over https, a credential for it, and the fake Resource Manager on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.azure.provider import AzureProvider, AzureSettings
from tests.fakes.azure_arm import FakeResourceManager
from tests.fakes.azure_https import FakeAzureServer, FakeCredential, self_signed_cert

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
RESOURCE_GROUP = "rg-specify"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake_server(tls_files: tuple[Path, Path]) -> Iterator[FakeAzureServer]:
    """A fake Azure endpoint over https; fails the test if a handler's assertion failed."""
    server = FakeAzureServer(*tls_files).start()
    yield server
    server.stop()
    assert not server.errors, "\n".join(server.errors)


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def fake_provider(
    fake_server: FakeAzureServer, credential: FakeCredential, tls_files: tuple[Path, Path]
) -> AzureProvider:
    """An AzureProvider whose management plane is the fake server (trusted by its cert)."""
    settings = AzureSettings(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        region="westeurope",
        poll_interval=0.01,
        arm_endpoint=fake_server.url,
        connection_verify=str(tls_files[0]),
        connection_string=os.environ.get("AZURE_STORAGE_CONNECTION_STRING"),
    )
    return AzureProvider(settings, credential=credential)


@pytest.fixture
def arm(fake_server: FakeAzureServer) -> FakeResourceManager:
    return FakeResourceManager(fake_server)
