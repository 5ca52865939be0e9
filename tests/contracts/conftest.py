"""Fixtures of the contract tests: quiet retries and the audit log in a temp dir; the fake
Azure server, credential and provider come from tests/fakes/azure_fixtures.py, the fake
OAuth endpoint and service-account key from tests/fakes/gcp_fixtures.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.azure_https import FakeAzureServer, Request, Response


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("SPECIFY_RETRY_WAIT", "0.01")
    monkeypatch.setenv("SPECIFY_AUDIT_LOG", str(tmp_path_factory.mktemp("audit") / "a.jsonl"))


def replay(
    server: FakeAzureServer, method: str, pattern: str, op: str, answers: list[Response]
) -> list[Request]:
    """Answer `method pattern` (as operation `op`) with the given answers, in turn (the
    last one repeats); return the list the requests are recorded in."""
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        return answers[min(len(seen), len(answers)) - 1]

    server.route(method, pattern, op)(handler)
    return seen


def with_host(body: Any, old: str, new: str) -> Any:
    """The body with a host the example names replaced by the fake's (for nextLinks)."""
    import json

    return json.loads(json.dumps(body).replace(old, new))


Factory = Callable[..., Any]
