"""The storage contract on Amazon S3 (moto in server mode)."""

from __future__ import annotations

import os

import pytest

from providers.aws import AWSProvider
from providers.aws.storage import S3Storage
from providers.base import SupportsEncryption
from providers.native import path_name
from tests.emulators import Emulators
from tests.storage_contract.base import SignedURLContract, StorageContract, VersionsContract
from tests.storage_contract.conftest import unique


class S3Fixtures:
    @pytest.fixture(scope="class")
    def provider(self, emulators: Emulators) -> AWSProvider:
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
            os.environ.pop(var, None)
        assert os.environ["AWS_ENDPOINT_URL"] == emulators.url("moto")
        return AWSProvider()

    @pytest.fixture
    def missing_store(self, provider: AWSProvider, data_plane: str) -> S3Storage:
        storage = provider.get_storage(unique("contract"))
        assert path_name(storage) == data_plane  # the bytes go where the test says
        return storage

    @pytest.fixture
    def store(self, missing_store: S3Storage) -> S3Storage:
        assert missing_store.create_bucket() is True
        return missing_store

    @pytest.fixture
    def versioned(self, store: S3Storage) -> S3Storage:
        store.set_versioning(True)
        return store


class TestS3Store(S3Fixtures, StorageContract, SignedURLContract):
    def test_encryption_capability(self, provider: AWSProvider) -> None:
        plain = provider.get_storage(unique("plain"))
        assert isinstance(plain, SupportsEncryption) and plain.encryption is None
        kms = S3Storage(plain.client, plain.bucket, sse="aws:kms", kms_key_id="alias/k")
        assert kms.encryption == "aws:kms:alias/k"
        assert S3Storage(plain.client, plain.bucket, sse="AES256").encryption == "AES256"


class TestS3Versions(S3Fixtures, VersionsContract):
    pass
