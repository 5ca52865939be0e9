"""Secrets Manager round trip; values stay out of errors, repr and the audit log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from providers.aws import AWSProvider
from providers.base import CloudSecrets
from providers.errors import ConfigurationError, NotFoundError
from tests.aws.conftest import unique


def test_secret_round_trip(aws: AWSProvider) -> None:
    secrets = aws.get_secrets()
    assert isinstance(secrets, CloudSecrets)
    name = unique("app/db")
    meta = secrets.create_secret(name, "first-value", tags={"team": "data"})
    assert meta.name == name and meta.tags == {"team": "data"}
    first = secrets.get_secret(name)
    assert first.value == "first-value"
    assert "first-value" not in repr(first)

    new_version = secrets.put_secret_value(name, "second-value")
    assert secrets.get_secret(name).value == "second-value"
    assert secrets.get_secret(name, new_version).value == "second-value"
    assert secrets.get_secret(name, "AWSPREVIOUS").value == "first-value"
    assert secrets.get_secret(name, first.version).value == "first-value"

    other = unique("set")
    secrets.set_secret(other, "a")
    secrets.set_secret(other, "b")
    assert secrets.get_secret(other).value == "b"

    names = {s.name for s in secrets.list_secrets()}
    assert {name, other} <= names

    assert secrets.delete_secret(name, recovery_window_days=7) is True
    assert secrets.delete_secret(other, force=True) is True
    assert secrets.delete_secret(unique("never")) is False
    with pytest.raises(ConfigurationError, match="7 to 30"):
        secrets.delete_secret(name, recovery_window_days=3)


def test_values_never_leak(aws: AWSProvider) -> None:
    secrets = aws.get_secrets()
    value = "hunter2-" + os.urandom(4).hex()
    name = unique("leak")
    secrets.create_secret(name, value)
    with pytest.raises(Exception) as info:
        secrets.create_secret(name, value)  # exists already
    assert value not in str(info.value)
    with pytest.raises(ConfigurationError) as bad:
        secrets.set_secret(name, 12345)  # type: ignore[arg-type]
    assert "12345" not in str(bad.value)
    with pytest.raises(NotFoundError):
        secrets.get_secret(unique("missing"))
    audit = Path(os.environ["SPECIFY_AUDIT_LOG"]).read_text()
    assert name in audit and value not in audit


def test_restore_after_scheduled_delete(aws: AWSProvider) -> None:
    secrets = aws.get_secrets()
    name = unique("restore")
    secrets.create_secret(name, "v")
    assert secrets.delete_secret(name) is True
    with pytest.raises(Exception, match=r"deleted|InvalidRequest"):
        secrets.get_secret(name)
    secrets.restore_secret(name)
    assert secrets.get_secret(name).value == "v"
