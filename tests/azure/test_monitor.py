"""Azure Monitor metrics and logs through a fake ingestion + Log Analytics query API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from providers.azure.logs import AzureMonitorLogs
from providers.azure.metrics import AzureMonitorMetrics
from providers.azure.provider import AzureProvider
from providers.base import CloudLogging, CloudMetrics, LogEntry
from providers.errors import NotFoundError
from tests.fakes.azure_https import FakeAzureServer, FakeCredential
from tests.fakes.azure_monitor import FakeMonitor

RULE = "dcr-00000000000000000000000000000001"
WORKSPACE = "11111111-2222-3333-4444-555555555555"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def monitor(fake_server: FakeAzureServer) -> FakeMonitor:
    return FakeMonitor(fake_server, RULE, WORKSPACE)


@pytest.fixture
def monitor_provider(
    fake_provider: AzureProvider, fake_server: FakeAzureServer, monitor: FakeMonitor
) -> AzureProvider:
    settings = replace(
        fake_provider.settings,
        ingestion_endpoint=fake_server.url,
        dcr_rule_id=RULE,
        logs_workspace_id=WORKSPACE,
        logs_query_endpoint=fake_server.url,
    )
    return AzureProvider(settings, credential=fake_provider.credential)


def test_metrics_round_trip(
    monitor_provider: AzureProvider,
    monitor: FakeMonitor,
    fake_server: FakeAzureServer,
    credential: FakeCredential,
) -> None:
    metrics = monitor_provider.get_metrics()
    assert isinstance(metrics, AzureMonitorMetrics) and isinstance(metrics, CloudMetrics)
    for i in range(3):
        metrics.put_metric(
            "deploy.duration",
            1.5 + i,
            unit="Seconds",
            dimensions={"cloud": "azure" if i < 2 else "aws"},
            timestamp=T0 + timedelta(minutes=i),
        )
    metrics.put_metric("other", 9, timestamp=T0)
    metrics.put_metric("deploy.duration", 99, timestamp=T0 - timedelta(days=1))  # out of range
    assert fake_server.of("POST", f"/dataCollectionRules/{RULE}/streams/Custom-SpecifyMetrics_CL")
    assert ("https://monitor.azure.com/.default",) in credential.scopes

    got = metrics.get_metrics("deploy.duration", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [m.value for m in got] == [1.5, 2.5, 3.5]
    assert got[0].timestamp == T0 and got[0].unit == "Seconds"
    assert got[0].dimensions == {"cloud": "azure"}
    only = metrics.get_metrics(
        "deploy.duration", T0, T0 + timedelta(hours=1), dimensions={"cloud": "aws"}
    )
    assert [m.value for m in only] == [3.5]
    assert monitor.queries[-1].startswith("SpecifyMetrics_CL | where Name == 'deploy.duration'")


def test_logs_write_and_query(monitor_provider: AzureProvider, monitor: FakeMonitor) -> None:
    logs = monitor_provider.get_logging()
    assert isinstance(logs, AzureMonitorLogs) and isinstance(logs, CloudLogging)
    entries = [
        LogEntry(T0 + timedelta(seconds=i), f"step {i} done", "INFO", "deploy", {"i": str(i)})
        for i in range(5)
    ]
    assert logs.write_entries(entries) == 5
    logs.write("it's broken", level="error", log_name="deploy", timestamp=T0 + timedelta(minutes=1))
    logs.write("elsewhere", log_name="replicate", timestamp=T0)
    assert len(monitor.tables["SpecifyLogs_CL"]) == 7

    window = (T0 - timedelta(minutes=5), T0 + timedelta(minutes=5))
    got = logs.query(*window, log_name="deploy")
    assert [e.message for e in got][:2] == ["step 0 done", "step 1 done"] and len(got) == 6
    assert got[0].attributes == {"i": "0"} and got[0].timestamp == T0
    broken = logs.query(*window, filter_text="IT'S")
    assert [(e.message, e.level) for e in broken] == [("it's broken", "ERROR")]
    assert len(logs.query(*window, limit=2)) == 2
    assert logs.query(T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == []


def test_unknown_rule_is_not_found(
    fake_provider: AzureProvider, fake_server: FakeAzureServer, monitor: FakeMonitor
) -> None:
    settings = replace(
        fake_provider.settings,
        ingestion_endpoint=fake_server.url,
        dcr_rule_id="dcr-missing",
        logs_workspace_id=WORKSPACE,
        logs_query_endpoint=fake_server.url,
    )
    logs = AzureProvider(settings, credential=fake_provider.credential).get_logging()
    with pytest.raises(NotFoundError) as info:
        logs.write("x")
    assert WORKSPACE in str(info.value)
