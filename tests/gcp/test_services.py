"""Monitoring, Logging, Secret Manager and Cloud SQL through fakes of their REST APIs.

Each client is Google's own (REST transport where it defaults to gRPC), pointed at the fake
with the provider's `endpoints`; the fakes reject requests without a token signed by the
test's service-account key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from providers.base import (
    CloudDatabase,
    CloudLogging,
    CloudMetrics,
    CloudSecrets,
    DatabaseSpec,
    LogEntry,
)
from providers.errors import ConfigurationError, DeploymentError, NotFoundError
from providers.gcp import GCPProvider
from tests.fakes.gcp_http import FakeGoogleAPI
from tests.fakes.gcp_logging import FakeLogging
from tests.fakes.gcp_monitoring import FakeMonitoring
from tests.fakes.gcp_oauth import FakeOAuth
from tests.fakes.gcp_secretmanager import FakeSecretManager
from tests.fakes.gcp_sqladmin import FakeSQLAdmin
from tests.gcp.conftest import FAST_RETRY

PROJECT = "specify-test"
# inside the windows the APIs accept: Monitoring takes points at most 25 hours old, and
# Logging lists entries of the last 30 days (its default retention)
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def running(fake: FakeGoogleAPI, oauth: FakeOAuth) -> Iterator[Any]:
    fake.auth = oauth
    with fake:
        yield fake
    fake.assert_clean()


def provider(sa_info: dict[str, Any], service: str, url: str) -> GCPProvider:
    return GCPProvider(
        PROJECT, zone="us-east1-b", service_account_info=sa_info, endpoints={service: url}
    )


# ------------------------------------------------------------------ monitoring
@pytest.fixture
def monitoring(oauth: FakeOAuth) -> Iterator[FakeMonitoring]:
    yield from running(FakeMonitoring(PROJECT), oauth)


def test_metrics_write_and_read_back_by_name_labels_and_range(
    monitoring: FakeMonitoring, sa_info: dict[str, Any]
) -> None:
    metrics = provider(sa_info, "monitoring", monitoring.url).get_metrics()
    assert isinstance(metrics, CloudMetrics)
    for i in range(3):
        metrics.put_metric(
            "uploads/latency", 1.5 + i, "s", {"bucket": "a"}, T0 + timedelta(minutes=i)
        )
    metrics.put_metric("uploads/latency", 9.0, "s", {"bucket": "b"}, T0)
    metrics.put_metric("uploads/latency", 7.0, "s", {"bucket": "a"}, T0 + timedelta(hours=2))
    metrics.put_metric("other", 1.0, timestamp=T0)

    body = monitoring.calls("POST", r".*/timeSeries")[0].json["timeSeries"][0]
    assert body["metric"] == {
        "type": "custom.googleapis.com/uploads/latency",
        "labels": {"bucket": "a"},
    }

    # reads are half-open, (start, end]: a point at the start is left out
    got = metrics.get_metrics("uploads/latency", T0, T0 + timedelta(hours=1), {"bucket": "a"})
    assert [p.value for p in got] == [2.5, 3.5]
    since = T0 - timedelta(seconds=1)
    got = metrics.get_metrics("uploads/latency", since, T0 + timedelta(hours=1), {"bucket": "a"})
    assert [(p.value, p.timestamp) for p in got] == [
        (1.5, T0),
        (2.5, T0 + timedelta(minutes=1)),
        (3.5, T0 + timedelta(minutes=2)),
    ]
    assert got[0].dimensions == {"bucket": "a"} and got[0].name == "uploads/latency"
    # both label sets in range: two series, served on two pages, merged oldest first
    every = metrics.get_metrics("uploads/latency", since, T0 + timedelta(hours=1))
    assert sorted(p.value for p in every) == [1.5, 2.5, 3.5, 9.0]
    assert len([r for r in monitoring.calls("GET", r".*/timeSeries") if r.arg("pageToken")]) == 1


# ------------------------------------------------------------------ logging
@pytest.fixture
def logs_fake(oauth: FakeOAuth) -> Iterator[FakeLogging]:
    yield from running(FakeLogging(PROJECT), oauth)


def test_logging_writes_structured_entries_and_queries_with_filter(
    logs_fake: FakeLogging, sa_info: dict[str, Any]
) -> None:
    logs = provider(sa_info, "logging", logs_fake.url).get_logging()
    assert isinstance(logs, CloudLogging)
    logs.write("deploy started", "INFO", "specify/deploy", {"deployment": "d1"}, T0)
    batch = [
        LogEntry(
            T0 + timedelta(seconds=i),
            f"copied {i}",
            "WARN" if i % 2 else "INFO",
            "specify/replicate",
            {"run": "r1"},
        )
        for i in range(1203)
    ]
    assert logs.write_entries(batch) == 1203
    assert len(logs_fake.calls("POST", r"/v2/entries:write")) == 1 + 3  # batches of 500
    first = logs_fake.entries[0]
    assert first["logName"] == f"projects/{PROJECT}/logs/specify%2Fdeploy"
    assert first["jsonPayload"] == {"message": "deploy started", "deployment": "d1"}
    assert first["labels"] == {"deployment": "d1"}

    deploys = logs.query(T0, T0 + timedelta(hours=1), log_name="specify/deploy")
    assert [(e.message, e.level, e.log_name, e.attributes["deployment"]) for e in deploys] == [
        ("deploy started", "INFO", "specify/deploy", "d1")
    ]
    warnings = logs.query(
        T0, T0 + timedelta(seconds=10), "specify/replicate", filter_text="severity >= WARNING"
    )
    assert [e.message for e in warnings] == [f"copied {i}" for i in (1, 3, 5, 7, 9)]
    assert {e.level for e in warnings} == {"WARNING"}
    limited = logs.query(T0, T0 + timedelta(hours=1), "specify/replicate", limit=1100)
    assert len(limited) == 1100 and limited[-1].message == "copied 1099"
    # 1100 entries at a page size of 1000: the second page was fetched
    assert any(r.json.get("pageToken") for r in logs_fake.calls("POST", r"/v2/entries:list"))


# ------------------------------------------------------------------ secrets
@pytest.fixture
def sm(oauth: FakeOAuth) -> Iterator[FakeSecretManager]:
    yield from running(FakeSecretManager(PROJECT), oauth)


def test_secrets_create_version_access_list_delete(
    sm: FakeSecretManager,
    sa_info: dict[str, Any],
    _audit_log: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = provider(sa_info, "secretmanager", sm.url).get_secrets()
    assert isinstance(secrets, CloudSecrets)
    meta = secrets.set_secret("db-password", "hunter2-first")
    assert (meta.name, meta.versions) == ("db-password", 1)
    assert meta.tags == {"managed-by": "specify-cloud"} and meta.created
    assert secrets.set_secret("db-password", "hunter2-second").versions == 2
    assert len(sm.calls("POST", r".*/secrets")) == 1  # created once, then versions added

    latest = secrets.get_secret("db-password")
    assert (latest.value, latest.version) == ("hunter2-second", "2")
    assert "hunter2" not in repr(latest)
    assert secrets.get_secret("db-password", "1").value == "hunter2-first"
    assert secrets.list_versions("db-password") == ["2", "1"]
    secrets.set_secret("api-key", "k")
    assert sorted(s.name for s in secrets.list_secrets()) == ["api-key", "db-password"]

    with pytest.raises(NotFoundError) as info:
        secrets.get_secret("db-password", "7")
    assert "hunter2" not in str(info.value)
    assert secrets.delete_secret("db-password") is True
    assert secrets.delete_secret("db-password") is False
    with pytest.raises(NotFoundError):
        secrets.get_secret("db-password")
    with pytest.raises(ConfigurationError):
        secrets.get_secret("../etc")
    assert "hunter2" not in _audit_log.read_text()
    assert "hunter2" not in caplog.text


# ------------------------------------------------------------------ cloud sql
@pytest.fixture
def sql(oauth: FakeOAuth) -> Iterator[FakeSQLAdmin]:
    # plain authorized REST exchanges the key for an OAuth token at the fake token URL
    yield from running(FakeSQLAdmin(PROJECT), oauth)


def test_cloud_sql_create_wait_list_delete(
    sql: FakeSQLAdmin, sa_info: dict[str, Any], oauth: FakeOAuth
) -> None:
    db = provider(sa_info, "sqladmin", sql.url).get_database()
    assert isinstance(db, CloudDatabase)
    db.poll_interval = 0.01
    spec = DatabaseSpec(
        "orders", "postgres", "db-custom-1-3840", 30, password="s3cret-pw", tags={"team": "shop"}
    )
    created = db.create_database(spec)
    assert (created.status, created.engine, created.region) == ("creating", "postgres", "us-east1")
    assert sql.passwords["orders"] == "s3cret-pw"
    assert "s3cret" not in repr(spec)
    ready = db.wait_until_available("orders", timeout=5)
    assert (ready.status, ready.endpoint, ready.port) == ("available", "35.1.2.3", 5432)
    assert (ready.instance_class, ready.storage_gb, ready.tags) == (
        "db-custom-1-3840",
        30,
        {"team": "shop"},
    )
    db.create_database(DatabaseSpec("events", "mysql"))
    assert sorted(d.name for d in db.list_databases()) == ["events", "orders"]
    assert db.delete_database("orders") is True
    assert db.delete_database("orders") is False
    with pytest.raises(NotFoundError, match="project specify-test"):
        db.get_database("orders")
    with pytest.raises(ConfigurationError):
        db.create_database(DatabaseSpec("x", "oracle"))
    assert oauth.tokens, "the session never fetched a token"


def test_cloud_sql_wait_gives_up(sql: FakeSQLAdmin, sa_info: dict[str, Any]) -> None:
    sql.ready_after = 10_000
    db = provider(sa_info, "sqladmin", sql.url).get_database()
    db.poll_interval = 0.01
    db.retry_policy = FAST_RETRY
    db.create_database(DatabaseSpec("slow", "postgres"))
    with pytest.raises(DeploymentError, match="creating, not available"):
        db.wait_until_available("slow", timeout=0.05)
