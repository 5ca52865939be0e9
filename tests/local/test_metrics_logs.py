"""SQLiteMetrics and SQLiteLogging through the CloudMetrics / CloudLogging protocols."""

from __future__ import annotations

import math
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from providers.base import CloudLogging, CloudMetrics, LogEntry
from providers.errors import ConfigurationError
from providers.local.metrics import SQLiteMetrics
from providers.local.provider import LocalProvider

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_metrics_put_and_get_by_time_and_dimensions(provider: LocalProvider) -> None:
    metrics = provider.get_metrics()
    assert isinstance(metrics, CloudMetrics)
    for i in range(5):
        metrics.put_metric(
            "latency",
            10.0 + i,
            unit="Milliseconds",
            dimensions={"region": "eu" if i % 2 else "us", "svc": "api"},
            timestamp=T0 + timedelta(minutes=i),
        )
    metrics.put_metric("other", 1.0, timestamp=T0)
    got = metrics.get_metrics("latency", T0, T0 + timedelta(minutes=4))  # end exclusive
    assert [m.value for m in got] == [10.0, 11.0, 12.0, 13.0]
    assert got[0].timestamp == T0 and got[0].timestamp.tzinfo is not None
    assert got[0].unit == "Milliseconds"
    assert dict(got[1].dimensions) == {"region": "eu", "svc": "api"}
    eu = metrics.get_metrics("latency", T0, T0 + timedelta(hours=1), {"region": "eu"})
    assert [m.value for m in eu] == [11.0, 13.0]
    assert metrics.get_metrics("latency", T0, T0 + timedelta(hours=1), {"region": "x"}) == []
    now = metrics.get_metrics("other", T0 - timedelta(seconds=1), T0 + timedelta(seconds=1))
    assert [m.value for m in now] == [1.0]


def test_metric_default_timestamp_is_now_and_values_must_be_finite(
    provider: LocalProvider,
) -> None:
    metrics = provider.get_metrics()
    before = datetime.now(UTC)
    metrics.put_metric("count", 3)
    got = metrics.get_metrics("count", before - timedelta(seconds=1), datetime.now(UTC))
    assert [m.value for m in got] == [3.0]
    with pytest.raises(ConfigurationError):
        metrics.put_metric("count", math.nan)


def _put_many(db: str, worker: int) -> None:
    m = SQLiteMetrics(db)
    for i in range(50):
        m.put_metric("conc", float(i), dimensions={"worker": str(worker)}, timestamp=T0)


def test_metrics_from_several_threads_and_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    threads = [threading.Thread(target=_put_many, args=(db, w)) for w in range(3)]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_put_many, args=(db, w)) for w in (10, 11)]
    for t in [*threads, *procs]:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    got = SQLiteMetrics(db).get_metrics("conc", T0, T0 + timedelta(seconds=1))
    assert len(got) == 250
    assert {m.dimensions["worker"] for m in got} == {"0", "1", "2", "10", "11"}
    assert (tmp_path / "m.db-wal").exists()  # WAL mode


def test_logs_write_and_query(provider: LocalProvider) -> None:
    logs = provider.get_logging()
    assert isinstance(logs, CloudLogging)
    logs.write("service started", log_name="api", timestamp=T0, attributes={"pid": "7"})
    written = logs.write_entries(
        [LogEntry(T0 + timedelta(seconds=i), f"request {i} ok", "info", "api") for i in range(1, 6)]
        + [LogEntry(T0 + timedelta(seconds=3), "disk FULL", "ERROR", "worker")]
    )
    assert written == 6
    window = (T0, T0 + timedelta(minutes=1))
    api = logs.query(*window, log_name="api")
    assert [e.message for e in api] == ["service started"] + [
        f"request {i} ok" for i in range(1, 6)
    ]
    assert dict(api[0].attributes) == {"pid": "7"} and api[1].level == "INFO"
    assert [e.message for e in logs.query(*window, filter_text="FULL")] == ["disk FULL"]
    assert logs.query(*window, filter_text="full") == []  # case-sensitive substring
    assert [e.message for e in logs.query(*window, limit=2)] == [
        "service started",
        "request 1 ok",
    ]
    narrow = logs.query(T0 + timedelta(seconds=2), T0 + timedelta(seconds=4))
    assert [e.message for e in narrow] == ["request 2 ok", "request 3 ok", "disk FULL"]
    assert narrow[0].timestamp == T0 + timedelta(seconds=2)


def test_write_entries_is_all_or_nothing(provider: LocalProvider) -> None:
    logs = provider.get_logging()
    with pytest.raises(ConfigurationError, match="unknown log level"):
        logs.write_entries([LogEntry(T0, "fine"), LogEntry(T0, "bad", level="LOUD")])
    assert logs.query(T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
