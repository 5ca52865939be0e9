"""Structured logs in a SQLite file: named logs, levels, attributes, text search."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from providers.base import LogEntry
from providers.errors import ConfigurationError
from providers.local._sqlite import (
    SQLiteService,
    from_micros,
    to_micros,
)
from providers.operation import cloud_operation

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    level TEXT NOT NULL,
    log_name TEXT NOT NULL,
    message TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_ts ON logs (ts_us);
CREATE INDEX IF NOT EXISTS logs_name_ts ON logs (log_name, ts_us);
"""
LEVELS = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")


def _row(entry: LogEntry) -> tuple[int, str, str, str, str]:
    level = entry.level.upper()
    if level not in LEVELS:
        raise ConfigurationError(
            f"unknown log level {entry.level!r}",
            operation="write",
            resource=entry.log_name,
            hint=f"Use one of {', '.join(LEVELS)}",
        )
    if not entry.log_name:
        raise ConfigurationError("a log entry needs a log_name", operation="write")
    attrs = json.dumps({str(k): str(v) for k, v in entry.attributes.items()}, sort_keys=True)
    return (to_micros(entry.timestamp), level, entry.log_name, entry.message, attrs)


class SQLiteLogging(SQLiteService):
    """Log records in db_path. Queries return [start_time, end_time), oldest first."""

    service_name = "logging"
    SCHEMA = SCHEMA

    # Log writes are telemetry, not resource changes, so they are not audited.
    @cloud_operation("write", resource="log_name")
    def write(
        self,
        message: str,
        level: str = "INFO",
        log_name: str = "default",
        attributes: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        self._insert([_row(LogEntry(_now(timestamp), message, level, log_name, attributes or {}))])

    @cloud_operation("write_entries", resource=None)
    def write_entries(self, entries: list[LogEntry]) -> int:
        rows = [_row(e) for e in entries]  # validate all before writing any
        self._insert(rows)
        return len(rows)

    def _insert(self, rows: list[tuple[int, str, str, str, str]]) -> None:
        conn = self._store.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO logs (ts_us, level, log_name, message, attributes)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @cloud_operation("query", resource="log_name")
    def query(
        self,
        start_time: datetime,
        end_time: datetime,
        log_name: str | None = None,
        filter_text: str | None = None,
        limit: int = 1000,
    ) -> list[LogEntry]:
        """Entries in the range; filter_text is a case-sensitive substring of the message."""
        if limit < 1:
            raise ConfigurationError(f"limit={limit} must be at least 1", operation="query")
        sql = "SELECT ts_us, level, log_name, message, attributes FROM logs"
        sql += " WHERE ts_us >= ? AND ts_us < ?"
        args: list[object] = [to_micros(start_time), to_micros(end_time)]
        if log_name is not None:
            sql += " AND log_name = ?"
            args.append(log_name)
        if filter_text:
            sql += " AND instr(message, ?) > 0"
            args.append(filter_text)
        sql += " ORDER BY ts_us, id LIMIT ?"
        args.append(limit)
        return [
            LogEntry(from_micros(ts), msg, level, name, json.loads(attrs))
            for ts, level, name, msg, attrs in self._store.connect().execute(sql, args)
        ]


def _now(ts: datetime | None) -> datetime:
    return from_micros(to_micros(ts))
