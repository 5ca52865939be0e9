"""CloudWatch metrics and CloudWatch Logs round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from providers.aws import AWSProvider
from providers.aws.logs import MAX_EVENTS, batches
from providers.aws.metrics import CloudWatchMetrics
from providers.base import CloudLogging, CloudMetrics, LogEntry, MetricData
from providers.errors import ConfigurationError
from tests.aws.conftest import unique


def test_put_and_get_metrics(aws: AWSProvider) -> None:
    metrics = CloudWatchMetrics(aws.client("cloudwatch"), unique("Spec"), region=aws.region)
    assert isinstance(metrics, CloudMetrics)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    metrics.put_metric("latency", 12.5, "Milliseconds", {"route": "/a"}, now - timedelta(minutes=2))
    metrics.put_metric("latency", 99.0, "Milliseconds", {"route": "/b"}, now - timedelta(minutes=2))
    sent = metrics.put_metrics(
        [
            MetricData(
                "latency", float(i), now - timedelta(minutes=1), "Milliseconds", {"route": "/a"}
            )
            for i in range(1200)  # three PutMetricData batches
        ]
    )
    assert sent == 1200
    got = metrics.get_metrics(
        "latency",
        now - timedelta(minutes=5),
        now + timedelta(minutes=1),
        {"route": "/a"},
        period=60,
    )
    assert [m.value for m in got] == [12.5, sum(range(1200)) / 1200]
    assert all(m.dimensions == {"route": "/a"} for m in got)
    total = metrics.get_metrics(
        "latency",
        now - timedelta(minutes=5),
        now + timedelta(minutes=1),
        {"route": "/a"},
        stat="SampleCount",
    )
    assert [m.value for m in total] == [1.0, 1200.0]
    with pytest.raises(ConfigurationError, match="unit"):
        metrics.put_metric("x", 1, "Furlongs")


def test_log_write_and_query(aws: AWSProvider) -> None:
    logs = aws.get_logging()
    logs.log_group = unique("/specify/test")
    assert isinstance(logs, CloudLogging)
    now = datetime.now(UTC).replace(microsecond=0)
    logs.write("service started", "INFO", "app", {"pid": "42"}, now - timedelta(seconds=30))
    written = logs.write_entries(
        [
            LogEntry(now - timedelta(seconds=20 - i), f"request {i}", "DEBUG", "web")
            for i in range(5)
        ]
        + [LogEntry(now - timedelta(seconds=5), "disk full", "ERROR", "app")]
    )
    assert written == 6
    window = (now - timedelta(minutes=1), now + timedelta(minutes=1))
    everything = logs.query(*window)
    assert len(everything) == 7
    app = logs.query(*window, log_name="app")
    assert [(e.message, e.level) for e in app] == [
        ("service started", "INFO"),
        ("disk full", "ERROR"),
    ]
    assert app[0].attributes == {"pid": "42"} and app[0].log_name == "app"
    full = logs.query(*window, filter_text="full")
    assert [e.message for e in full] == ["disk full"]
    assert len(logs.query(*window, limit=3)) == 3
    assert logs.query(now - timedelta(hours=2), now - timedelta(hours=1)) == []


def test_log_batches_respect_limits() -> None:
    base = 1_700_000_000_000
    many = [{"timestamp": base + i, "message": "x"} for i in range(MAX_EVENTS + 5)]
    assert [len(b) for b in batches(many)] == [MAX_EVENTS, 5]
    big = [{"timestamp": base, "message": "y" * 200_000} for _ in range(6)]
    assert [len(b) for b in batches(big)] == [5, 1]
    spread = [
        {"timestamp": base, "message": "a"},
        {"timestamp": base + 25 * 3600_000, "message": "b"},
    ]
    assert len(batches(spread)) == 2
