"""What the SQLite-backed local services share: connections, time columns, error mapping.

Each thread gets its own connection (sqlite3 connections must not cross threads) and a
fork gets fresh ones. WAL mode lets readers run beside one writer; busy_timeout makes a
writer wait for another process's transaction instead of failing at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from providers.errors import CloudError, CredentialsError, NotFoundError
from providers.operation import ServiceAdapter, map_generic_error

BUSY_TIMEOUT_S = 30.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SQLiteStore:
    """A database file with a schema, opened once per thread and process."""

    def __init__(self, db_path: Path | str, schema: str) -> None:
        self.db_path = Path(db_path).expanduser().resolve()
        self._schema = schema
        self._local = threading.local()
        self._ready = False
        self._ready_lock = threading.Lock()

    def connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        with self._ready_lock:
            if not self._ready:
                conn.execute("PRAGMA journal_mode = WAL")  # persistent in the file
                conn.executescript(self._schema)
                self._ready = True
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn


def to_micros(ts: datetime | None) -> int:
    """Microseconds since the epoch; naive datetimes are taken as UTC."""
    ts = ts or datetime.now(UTC)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def map_sqlite_error(
    exc: Exception,
    *,
    db_path: Path,
    operation: str,
    resource: str | None,
    kind: type[CloudError],
) -> CloudError:
    common = {"provider": "local", "operation": operation, "resource": resource}
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower():
        return kind(
            f"{db_path} is locked by another writer",
            retryable=True,
            hint="Another process holds a long transaction; try again",
            **common,  # type: ignore[arg-type]
        )
    if isinstance(exc, PermissionError) or (
        isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc).lower()
    ):
        return CredentialsError(
            f"cannot write {db_path}",
            hint="Check the file's owner and mode",
            **common,  # type: ignore[arg-type]
        )
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"{db_path} is missing", **common)  # type: ignore[arg-type]
    if isinstance(exc, sqlite3.DatabaseError):
        return kind(
            f"{db_path}: {type(exc).__name__}: {exc}",
            hint="The file may be damaged; move it aside to start a new one",
            **common,  # type: ignore[arg-type]
        )
    return map_generic_error(
        exc, provider="local", operation=operation, resource=resource, kind=kind
    )


class SQLiteService(ServiceAdapter):
    """A local service whose data lives in one SQLite file with the subclass's SCHEMA."""

    provider_name = "local"
    SCHEMA: ClassVar[str] = ""

    def __init__(self, db_path: Path | str) -> None:
        self._store = SQLiteStore(db_path, self.SCHEMA)

    @property
    def location(self) -> str:
        return str(self._store.db_path)

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        return map_sqlite_error(
            exc, db_path=self._store.db_path, operation=operation, resource=resource, kind=kind
        )
