"""Shared fixtures. Tests marked ``emulators`` get moto, the GCS emulator and Azurite,
started once per session by ``tests.emulators`` with their settings in ``os.environ``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.emulators import Emulators

# fixtures of the fake cloud APIs, shared by the provider areas and tests/deploy
pytest_plugins = ("tests.fakes.gcp_fixtures", "tests.fakes.azure_fixtures")


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    saved = dict(os.environ)
    with Emulators(tmp_path_factory.mktemp("emulators")) as emu:
        os.environ.update(emu.env)
        try:
            yield emu
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(autouse=True)
def _emulators_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.emulators`` is enough: such a test needs no ``emulators`` argument."""
    if request.node.get_closest_marker("emulators") is not None:
        request.getfixturevalue("emulators")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API + database for the session (it takes ~11 s to start)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow end-to-end tests (real Prefect server, browser) after everything else."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
