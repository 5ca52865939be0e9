"""The storage contract on Azure Blob Storage (Azurite; versions on a fake account).

Azurite keeps no blob versions, so the versions tests run against the fake versioned
account of tests/fakes/azure_blob_versions.py, through the same connection-string option."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from providers.azure.storage import AzureBlobStorage
from providers.base import SupportsEncryption
from providers.native import path_name
from tests.emulators import Emulators
from tests.fakes.azure_blob_versions import FakeVersionedBlobs
from tests.fakes.azure_https import FakeAzureServer
from tests.storage_contract.base import (
    SignedURLContract,
    StorageContract,
    VersionsContract,
    sha,
)
from tests.storage_contract.conftest import unique


class AzureFixtures:
    @pytest.fixture
    def missing_store(
        self, emulators: Emulators, monkeypatch: pytest.MonkeyPatch, data_plane: str
    ) -> Iterator[AzureBlobStorage]:
        monkeypatch.setenv("SPECIFY_RETRY_WAIT", "0.01")
        storage = AzureBlobStorage(
            unique("contract"), connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        )
        assert path_name(storage) == data_plane  # the bytes go where the test says
        yield storage
        if storage.bucket_exists():
            storage.client.delete_container(storage.container)

    @pytest.fixture
    def store(self, missing_store: AzureBlobStorage) -> AzureBlobStorage:
        assert missing_store.create_bucket() is True
        return missing_store


class TestAzureStore(AzureFixtures, StorageContract, SignedURLContract):
    def test_encryption_capability(self, store: AzureBlobStorage) -> None:
        assert isinstance(store, SupportsEncryption) and store.encryption is None
        scoped = AzureBlobStorage(store.container, client=store.client, encryption_scope="s1")
        assert scoped.encryption == "scope:s1"

    def test_ensure_container_is_create_bucket(self, missing_store: AzureBlobStorage) -> None:
        assert missing_store.ensure_container() is True  # the Azure word, same meaning
        assert missing_store.ensure_container() is False


class TestAzureVersions(VersionsContract):
    @pytest.fixture
    def versioned(
        self, fake_server: FakeAzureServer, tls_files: tuple[Path, Path]
    ) -> AzureBlobStorage:
        fake = FakeVersionedBlobs(fake_server)
        client = BlobServiceClient.from_connection_string(
            fake.connection_string, connection_verify=str(tls_files[0])
        )
        storage = AzureBlobStorage("docs", client=client)
        # the data plane tells versioning only from a listing that shows version ids (the
        # switch is an account property of the management plane): one blob to list
        storage.upload_stream(io.BytesIO(b"seed"), "seed", size=4, sha256=sha(b"seed"))
        return storage
