"""FernetSecrets through the CloudSecrets protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from providers.base import CloudSecrets
from providers.errors import CredentialsError, NotFoundError
from providers.local.provider import LocalProvider

VALUE = "s3cr3t-value-ABC"


def test_set_get_versions_list_delete(provider: LocalProvider, tmp_path: Path) -> None:
    secrets = provider.get_secrets()
    assert isinstance(secrets, CloudSecrets)
    meta = secrets.set_secret("db/password", VALUE)
    assert (meta.name, meta.versions) == ("db/password", 1)
    assert secrets.set_secret("db/password", VALUE + "-2").versions == 2
    secrets.set_secret("api-token", "tok")
    latest = secrets.get_secret("db/password")
    assert (latest.version, latest.value) == ("2", VALUE + "-2")
    assert secrets.get_secret("db/password", version="1").value == VALUE
    assert VALUE not in repr(latest)
    listed = secrets.list_secrets()
    assert [(m.name, m.versions) for m in listed] == [("api-token", 1), ("db/password", 2)]
    with pytest.raises(NotFoundError):
        secrets.get_secret("db/password", version="3")
    assert secrets.delete_secret("db/password") is True
    assert secrets.delete_secret("db/password") is False
    with pytest.raises(NotFoundError):
        secrets.get_secret("db/password")
    assert [m.name for m in secrets.list_secrets()] == ["api-token"]
    # one file, encrypted: neither names nor values appear in it
    raw = (provider.root / "secrets.enc").read_bytes()
    assert b"api-token" not in raw and b"tok" not in raw and VALUE.encode() not in raw


def test_values_never_in_audit_or_errors(
    provider: LocalProvider, tmp_path: Path, audit_lines: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = provider.get_secrets()
    secrets.set_secret("k1", VALUE)
    secrets.delete_secret("k1")
    records = audit_lines()
    assert [(r["what"], r["resource"], r["result"]) for r in records] == [
        ("local.secrets.set_secret", "k1", "ok"),
        ("local.secrets.delete_secret", "k1", "ok"),
    ]
    assert VALUE not in json.dumps(records)
    secrets.set_secret("k2", VALUE)
    monkeypatch.setenv("SPECIFY_SECRETS_KEY", Fernet.generate_key().decode())
    with pytest.raises(CredentialsError) as err:
        secrets.get_secret("k2")
    assert "does not decrypt" in str(err.value) and VALUE not in str(err.value)


def test_no_key_refuses_to_store(provider: LocalProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPECIFY_SECRETS_KEY")
    secrets = provider.get_secrets()
    with pytest.raises(CredentialsError) as err:
        secrets.set_secret("name", VALUE)
    text = str(err.value)
    assert "SPECIFY_SECRETS_KEY" in text and "Fernet.generate_key()" in text
    assert VALUE not in text
    assert not (provider.root / "secrets.enc").exists()
    monkeypatch.setenv("SPECIFY_SECRETS_KEY", "not-a-key")
    with pytest.raises(CredentialsError, match="not a Fernet key"):
        secrets.set_secret("name", VALUE)
