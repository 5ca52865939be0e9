"""End-to-end fixtures: one real Prefect server per session (own home and SQLite DB)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prefect_server import TestServer


@pytest.fixture(scope="session")
def prefect_test_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    """A `prefect server start` on a free loopback port, with helpers to drive it."""
    with TestServer(tmp_path_factory.mktemp("prefect-server"), timeout=180) as server:
        yield server


@pytest.fixture(scope="session")
def prefect_server(prefect_test_server: TestServer) -> str:
    """The API URL (http://127.0.0.1:P/api) of the session's real Prefect server."""
    return prefect_test_server.api_url
