"""Fixtures for the local provider: a fresh root, an audit log and a secrets key per test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from providers.local.provider import LocalProvider


@pytest.fixture(autouse=True)
def _local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECIFY_LOCAL_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("SPECIFY_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("SPECIFY_AUDIT_USER", "tester")
    monkeypatch.delenv("SPECIFY_LOCAL_SIGNING_KEY", raising=False)
    monkeypatch.delenv("SPECIFY_LOCAL_URL_BASE", raising=False)
    monkeypatch.setenv("SPECIFY_SECRETS_KEY", Fernet.generate_key().decode())


@pytest.fixture
def provider(tmp_path: Path) -> LocalProvider:
    return LocalProvider(root=tmp_path / "root")


@pytest.fixture
def audit_lines(tmp_path: Path) -> Any:
    """A callable returning the audit records written so far."""

    def read() -> list[dict[str, Any]]:
        path = tmp_path / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    return read
