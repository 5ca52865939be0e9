"""The storage contract on the local store (a bucket is a directory under the root)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from providers.local.provider import LocalProvider
from providers.local.storage import LocalStorage
from providers.local.urlserver import serve
from tests.storage_contract.base import SignedURLContract, StorageContract, VersionsContract
from tests.storage_contract.conftest import fetch


class LocalFixtures:
    @pytest.fixture
    def provider(self, tmp_path: Path) -> LocalProvider:
        return LocalProvider(tmp_path / "root")

    @pytest.fixture
    def store(self, provider: LocalProvider) -> LocalStorage:
        storage = provider.get_storage("contract")
        assert storage.create_bucket() is True
        return storage

    @pytest.fixture
    def fetch_url(self, store: LocalStorage) -> Iterator[Callable[[str], tuple[int, bytes]]]:
        server, _ = serve(store)  # the server get_url's links point at from now on
        yield fetch
        server.shutdown()
        server.server_close()

    @pytest.fixture
    def missing_store(self, provider: LocalProvider) -> LocalStorage:
        return provider.get_storage("never-created")

    @pytest.fixture
    def versioned(self, store: LocalStorage) -> LocalStorage:
        store.set_versioning(True)
        return store


class TestLocalStore(LocalFixtures, StorageContract, SignedURLContract):
    pass


class TestLocalVersions(LocalFixtures, VersionsContract):
    pass
