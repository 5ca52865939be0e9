"""Custom metrics in a SQLite file (one row per data point), like CloudWatch put/get."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime

from providers.base import MetricData
from providers.errors import ConfigurationError
from providers.local._sqlite import (
    SQLiteService,
    from_micros,
    to_micros,
)
from providers.operation import cloud_operation

SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    dimensions TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_name_ts ON metrics (name, ts_us);
"""


class SQLiteMetrics(SQLiteService):
    """Metrics stored in db_path. Time ranges are [start_time, end_time)."""

    service_name = "metrics"
    SCHEMA = SCHEMA

    # Writing a data point is telemetry, not a change to a resource, so it is not audited
    # (auditing it would double every write).
    @cloud_operation("put_metric", resource="name")
    def put_metric(
        self,
        name: str,
        value: float,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        if not name:
            raise ConfigurationError("a metric needs a name", operation="put_metric")
        if not math.isfinite(value):
            raise ConfigurationError(
                f"value {value!r} is not a finite number",
                operation="put_metric",
                resource=name,
                hint="Metrics take finite numbers only",
            )
        dims = json.dumps({str(k): str(v) for k, v in (dimensions or {}).items()}, sort_keys=True)
        self._store.connect().execute(
            "INSERT INTO metrics (name, ts_us, value, unit, dimensions) VALUES (?, ?, ?, ?, ?)",
            (name, to_micros(timestamp), float(value), unit, dims),
        )

    @cloud_operation("get_metrics", resource="name")
    def get_metrics(
        self,
        name: str,
        start_time: datetime,
        end_time: datetime,
        dimensions: Mapping[str, str] | None = None,
    ) -> list[MetricData]:
        """Points of name in the range, oldest first, whose dimensions include `dimensions`."""
        rows = (
            self._store.connect()
            .execute(
                "SELECT ts_us, value, unit, dimensions FROM metrics"
                " WHERE name = ? AND ts_us >= ? AND ts_us < ? ORDER BY ts_us, id",
                (name, to_micros(start_time), to_micros(end_time)),
            )
            .fetchall()
        )
        wanted = {str(k): str(v) for k, v in (dimensions or {}).items()}
        out = []
        for ts_us, value, unit, dims_json in rows:
            dims: dict[str, str] = json.loads(dims_json)
            if all(dims.get(k) == v for k, v in wanted.items()):
                out.append(MetricData(name, value, from_micros(ts_us), unit, dims))
        return out
