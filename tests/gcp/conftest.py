"""Fixtures for the GCP provider tests: a wiped GCS emulator bucket; the service-account
key, fake OAuth and fake Compute API come from tests/fakes/gcp_fixtures.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.gcp import GCPProvider
from providers.gcp.storage import GCSStorage
from providers.retry import RetryPolicy
from tests.emulators import Emulators

FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05)


@pytest.fixture(autouse=True)
def _audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("SPECIFY_AUDIT_LOG", str(path))
    return path


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
