"""SQLiteDatabases through the CloudDatabase protocol."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from providers.base import CloudDatabase, DatabaseSpec
from providers.errors import ConfigurationError, NotFoundError
from providers.local.provider import LocalProvider


def test_create_describe_list_delete(provider: LocalProvider, audit_lines) -> None:  # type: ignore[no-untyped-def]
    dbs = provider.get_database()
    assert isinstance(dbs, CloudDatabase)
    spec = DatabaseSpec(
        "orders-db", engine="postgres", password="pw-never-stored", tags={"app": "x"}
    )
    created = dbs.create_database(spec)
    assert (created.status, created.engine, dict(created.tags)) == (
        "available",
        "sqlite",
        {"app": "x"},
    )
    assert created.endpoint and Path(created.endpoint).is_file()
    # the endpoint is a usable database
    with sqlite3.connect(created.endpoint) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (42)")
    assert dbs.wait_until_available("orders-db", timeout=5) == dbs.get_database("orders-db")
    dbs.create_database(DatabaseSpec("audit-db"))
    assert [d.database_id for d in dbs.list_databases()] == ["audit-db", "orders-db"]
    with pytest.raises(ConfigurationError, match="already exists"):
        dbs.create_database(spec)
    assert "pw-never-stored" not in "".join(
        p.read_text() for p in (provider.root / "databases").glob("*.json")
    )
    assert dbs.delete_database("orders-db") is True
    assert dbs.delete_database("orders-db") is False
    assert not Path(created.endpoint).exists()
    with pytest.raises(NotFoundError):
        dbs.get_database("orders-db")
    with pytest.raises(ConfigurationError):
        dbs.get_database("../etc")
    ops = [(r["what"], r["resource"], r["result"]) for r in audit_lines()]
    assert ops == [
        ("local.database.create_database", "orders-db", "ok"),
        ("local.database.create_database", "audit-db", "ok"),
        ("local.database.create_database", "orders-db", "error"),
        ("local.database.delete_database", "orders-db", "ok"),
        ("local.database.delete_database", "orders-db", "ok"),
    ]
