"""Fixtures for the replication tests: directory stores, a counting wrapper, Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.local.storage import LocalStorage
from tests.replicate.stores import CountingStorage


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def make_store(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(name: str) -> LocalStorage:
        return LocalStorage(tmp_path / name)

    return make


@pytest.fixture
def source(tmp_path: Path) -> CountingStorage:
    return CountingStorage(LocalStorage(tmp_path / "src"))
