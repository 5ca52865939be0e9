"""Fixtures for the Azure provider: Azurite containers and the fake HTTPS services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from providers.azure.compute import AzureVirtualMachines
from providers.azure.provider import AzureProvider
from providers.azure.storage import AzureBlobStorage
from tests.fakes.azure_arm import FakeResourceManager
from tests.fakes.azure_fixtures import RESOURCE_GROUP, SUBSCRIPTION

__all__ = ["RESOURCE_GROUP", "SUBSCRIPTION"]


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


@pytest.fixture
def vms(fake_provider: AzureProvider, arm: FakeResourceManager) -> AzureVirtualMachines:
    return fake_provider.get_compute()
