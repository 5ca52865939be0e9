"""The storage contract on Google Cloud Storage (gcp-storage-emulator).

Signed URLs are signed with a throwaway service-account key (tests/fakes/gcp_fixtures.py);
the emulator serves them (it does not check signatures)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from providers.base import SupportsEncryption
from providers.gcp import GCPProvider
from providers.gcp.storage import GCSStorage
from providers.native import path_name
from providers.retry import RetryPolicy
from tests.emulators import Emulators
from tests.fakes.gcs_versions import FakeVersionedGCS
from tests.storage_contract.base import SignedURLContract, StorageContract, VersionsContract
from tests.storage_contract.conftest import unique

FAST_RETRY = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.05)


class GCSFixtures:
    @pytest.fixture
    def provider(self, emulators: Emulators, sa_info: dict[str, Any]) -> GCPProvider:
        emulators.reset_gcs()  # the emulator slows down as objects pile up
        return GCPProvider(service_account_info=sa_info, bucket=unique("contract"))

    @pytest.fixture
    def missing_store(self, provider: GCPProvider, data_plane: str) -> GCSStorage:
        storage = provider.get_storage()
        storage.retry_policy = FAST_RETRY
        assert path_name(storage) == data_plane  # the bytes go where the test says
        return storage

    @pytest.fixture
    def store(self, missing_store: GCSStorage) -> GCSStorage:
        assert missing_store.create_bucket() is True
        return missing_store

    @pytest.fixture
    def versioned(self, store: GCSStorage) -> GCSStorage:
        store.set_versioning(True)
        return store


class TestGCSStore(GCSFixtures, StorageContract, SignedURLContract):
    def test_encryption_capability(self, store: GCSStorage) -> None:
        assert isinstance(store, SupportsEncryption) and store.encryption is None
        keyed = GCSStorage(
            store.bucket_name, client=store.client, project=store.project, kms_key_name="k1"
        )
        assert keyed.encryption == "kms:k1"


class TestGCSVersions(VersionsContract):
    """The emulator keeps only the live generation: a fake of the JSON API that keeps
    them all (tests/fakes/gcs_versions.py) stands in, through the same endpoint option."""

    @pytest.fixture
    def versioned(self) -> Iterator[GCSStorage]:
        with FakeVersionedGCS() as fake:
            provider = GCPProvider(
                "proj-x",
                bucket=unique("versions"),
                credentials=AnonymousCredentials(),
                endpoints={"storage": fake.url},
            )
            storage = provider.get_storage()
            storage.retry_policy = FAST_RETRY
            assert storage.create_bucket() is True
            storage.set_versioning(True)
            yield storage
            fake.assert_clean()
