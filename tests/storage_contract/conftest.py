"""Shared helpers of the storage contract's concrete classes."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import pytest

#: the emulators are on loopback: never through a proxy
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def unique(prefix: str) -> str:
    """A bucket/container name valid on every cloud (3-63 lowercase letters, digits, -)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with _HTTP.open(url, timeout=15) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


@pytest.fixture(params=["sdk", "native"])
def data_plane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which client moves the bytes (providers.native): the contract holds on both."""
    monkeypatch.setenv("SPECIFY_DATA_PLANE", request.param)
    return str(request.param)


@pytest.fixture
def fetch_url() -> Callable[[str], tuple[int, bytes]]:
    """GET a URL with no credentials at all: (status, body)."""
    return fetch
