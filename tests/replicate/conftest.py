"""Fixtures for the replication tests: directory stores, a counting wrapper, Prefect."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield
