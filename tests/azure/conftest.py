"""Fixtures for the Azure provider: Azurite containers and the fake HTTPS services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.azure.provider import AzureProvider, AzureSettings
from providers.azure.storage import AzureBlobStorage
from tests.fakes.azure_https import FakeAzureServer, FakeCredential, self_signed_cert

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
RESOURCE_GROUP = "rg-specify"


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # fast retries, and the audit log in a temp dir instead of ~/.specify-cloud
    monkeypatch.setenv("SPECIFY_RETRY_WAIT", "0.01")
    monkeypatch.setenv("SPECIFY_AUDIT_LOG", str(tmp_path_factory.mktemp("audit") / "a.jsonl"))


@pytest.fixture
def container_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def blob_storage(emulators: object, container_name: str) -> Iterator[AzureBlobStorage]:
    """A fresh container in Azurite, deleted afterwards."""
    storage = AzureBlobStorage(
        container_name, connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    )
    storage.ensure_container()
    yield storage
    storage.client.delete_container(container_name)


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
        arm_endpoint=fake_server.url,
        connection_verify=str(tls_files[0]),
        connection_string=os.environ.get("AZURE_STORAGE_CONNECTION_STRING"),
    )
    return AzureProvider(settings, credential=credential)
