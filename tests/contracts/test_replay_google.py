"""Google's published contracts (the vendored protos and the OAuth token endpoint) at the
adapters, through the same `endpoints` option the other GCP tests use: what the APIs
refuse is refused by the fakes with Google's error body, and checked by the adapters
before sending where the adapters can know it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from providers.base import DatabaseSpec, InstanceSpec
from providers.errors import CloudError, ConfigurationError, CredentialsError
from providers.gcp import GCPProvider
from providers.gcp.compute import label_filter
from tests.contracts.spec import constraints
from tests.fakes.gcp_compute import FakeCompute, parse_filter
from tests.fakes.gcp_http import FakeGoogleAPI
from tests.fakes.gcp_monitoring import FakeMonitoring
from tests.fakes.gcp_oauth import FakeOAuth
from tests.fakes.gcp_secretmanager import FakeSecretManager
from tests.fakes.gcp_sqladmin import FakeSQLAdmin

PROJECT = "specify-test"
WINDOW = constraints("google/monitoring")


def running(fake: FakeGoogleAPI, oauth: FakeOAuth) -> Iterator[Any]:
    fake.auth = oauth
    with fake:
        yield fake
    assert not fake.failures, fake.failures


def provider(sa_info: dict[str, Any], service: str, url: str) -> GCPProvider:
    return GCPProvider(
        PROJECT, zone="us-east1-b", service_account_info=sa_info, endpoints={service: url}
    )


# ------------------------------------------------------------------ Monitoring


@pytest.fixture
def monitoring(oauth: FakeOAuth) -> Iterator[FakeMonitoring]:
    yield from running(FakeMonitoring(PROJECT), oauth)


@pytest.mark.parametrize(
    "offset", [timedelta(hours=-25, minutes=-1), timedelta(minutes=6), timedelta(days=-700)]
)
def test_points_outside_the_write_window_are_refused_before_sending(
    monitoring: FakeMonitoring, sa_info: dict[str, Any], offset: timedelta
) -> None:
    metrics = provider(sa_info, "monitoring", monitoring.url).get_metrics()
    with pytest.raises(ConfigurationError) as info:
        metrics.put_metric("latency", 1.0, timestamp=datetime.now(UTC) + offset)
    text = str(info.value)
    assert "25 hours" in text and "5 minutes" in text and " to " in text  # names the window
    assert monitoring.calls("POST", r".*/timeSeries") == []


def test_points_inside_the_window_are_written(
    monitoring: FakeMonitoring, sa_info: dict[str, Any]
) -> None:
    metrics = provider(sa_info, "monitoring", monitoring.url).get_metrics()
    now = datetime.now(UTC)
    for when in (now - timedelta(hours=24, minutes=50), now, now + timedelta(minutes=4)):
        metrics.put_metric("latency", 1.0, timestamp=when)
    assert len(monitoring.series) == 3 and monitoring.refused == []


def test_the_fake_refuses_stale_points_naming_the_window(
    monitoring: FakeMonitoring, sa_info: dict[str, Any]
) -> None:
    metrics = provider(sa_info, "monitoring", monitoring.url).get_metrics()
    stale = (datetime.now(UTC) - timedelta(seconds=WINDOW["write_max_age_seconds"] + 60)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    series = {
        "metric": {"type": "custom.googleapis.com/latency"},
        "resource": {"type": "global", "labels": {"project_id": PROJECT}},
        "points": [{"interval": {"endTime": stale}, "value": {"doubleValue": 1.0}}],
    }
    with pytest.raises(gexc.BadRequest) as info:
        metrics.rest.call("POST", "timeSeries", {"timeSeries": [series]})
    assert "25 hours" in str(info.value) and "allowed window" in str(info.value)


def test_a_gauge_point_not_after_the_previous_one_is_refused(
    monitoring: FakeMonitoring, sa_info: dict[str, Any]
) -> None:
    metrics = provider(sa_info, "monitoring", monitoring.url).get_metrics()
    when = datetime.now(UTC) - timedelta(minutes=1)
    metrics.put_metric("latency", 1.0, dimensions={"bucket": "a"}, timestamp=when)
    metrics.put_metric("latency", 1.0, dimensions={"bucket": "b"}, timestamp=when)  # other series
    with pytest.raises(CloudError) as info:
        metrics.put_metric("latency", 2.0, dimensions={"bucket": "a"}, timestamp=when)
    assert "written in order" in str(info.value)
    assert len(monitoring.series) == 2


def test_reads_are_half_open(monitoring: FakeMonitoring, sa_info: dict[str, Any]) -> None:
    metrics = provider(sa_info, "monitoring", monitoring.url).get_metrics()
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    metrics.put_metric("latency", 1.0, timestamp=t0)
    metrics.put_metric("latency", 2.0, timestamp=t0 + timedelta(minutes=1))
    got = metrics.get_metrics("latency", t0, t0 + timedelta(minutes=1))
    assert [p.value for p in got] == [2.0]  # (start, end]: TimeInterval, reads


# ------------------------------------------------------------------ Compute Engine


def test_multi_label_filter_is_parenthesised_as_documented() -> None:
    text = label_filter({"team": "a", "env": "prod"})
    assert text == '(labels.team = "a") AND (labels.env = "prod")'
    assert parse_filter(text) == {"team": "a", "env": "prod"}
    assert parse_filter('labels.team = "a" AND labels.env = "prod"') is None
    documented = _compute_proto_text()
    assert (
        "To filter on multiple expressions, provide each separate expression within" in documented
    )


def _compute_proto_text() -> str:
    from tests.contracts.spec import PROTOS

    return (PROTOS / "google/cloud/compute/v1/compute_subset.proto").read_text()


def test_list_by_several_tags_is_answered(
    fake_compute: FakeCompute, sa_info: dict[str, Any]
) -> None:
    compute = provider(sa_info, "compute", fake_compute.url).get_compute()
    compute.poll_interval = 0.01
    compute.create_instance(InstanceSpec(name="web-a", tags={"team": "a", "env": "prod"}))
    compute.create_instance(InstanceSpec(name="web-b", tags={"team": "a", "env": "dev"}))
    found = compute.list_instances({"team": "a", "env": "prod"})
    assert [i.name for i in found] == ["web-a"]
    assert fake_compute.refused == []


def test_the_fake_refuses_an_unparenthesised_multi_label_filter(
    fake_compute: FakeCompute, sa_info: dict[str, Any]
) -> None:
    compute = provider(sa_info, "compute", fake_compute.url).get_compute()
    with pytest.raises(gexc.BadRequest) as info:
        list(
            compute.instances.list(
                request={
                    "project": PROJECT,
                    "zone": "us-east1-b",
                    "filter": 'labels.team = "a" AND labels.env = "prod"',
                }
            )
        )
    assert "Invalid list filter expression" in str(info.value)


# ------------------------------------------------------------------ Cloud SQL, Secret Manager


@pytest.fixture
def sqladmin(oauth: FakeOAuth) -> Iterator[FakeSQLAdmin]:
    yield from running(FakeSQLAdmin(PROJECT), oauth)


def test_cloud_sql_disk_below_the_minimum_is_refused_before_sending(
    sqladmin: FakeSQLAdmin, sa_info: dict[str, Any]
) -> None:
    db = provider(sa_info, "sqladmin", sqladmin.url).get_database()
    with pytest.raises(ConfigurationError) as info:
        db.create_database(DatabaseSpec(name="tiny", engine="postgres", storage_gb=5, password="x"))
    assert "10 GB" in str(info.value)
    assert sqladmin.requests == []


def test_the_fake_refuses_a_disk_below_the_minimum(
    sqladmin: FakeSQLAdmin, sa_info: dict[str, Any]
) -> None:
    db = provider(sa_info, "sqladmin", sqladmin.url).get_database()
    body = {
        "name": "tiny",
        "databaseVersion": "POSTGRES_16",
        "region": "us-east1",
        "settings": {"tier": "db-f1-micro", "dataDiskSizeGb": "5"},
    }
    with pytest.raises(gexc.BadRequest) as info:
        db.rest.call("POST", "instances", body)
    assert "minimum is 10GB" in str(info.value)


@pytest.fixture
def secret_manager(oauth: FakeOAuth) -> Iterator[FakeSecretManager]:
    yield from running(FakeSecretManager(PROJECT), oauth)


def test_create_secret_without_its_required_id_is_refused(
    secret_manager: FakeSecretManager, sa_info: dict[str, Any]
) -> None:
    from providers.gcp.common import RestClient

    secrets = provider(sa_info, "secretmanager", secret_manager.url).get_secrets()
    credentials = secrets.client._transport._credentials
    rest = RestClient(f"{secret_manager.url}/v1/projects/{PROJECT}", credentials)
    with pytest.raises(gexc.BadRequest) as info:
        rest.call("POST", "secrets", {"replication": {"automatic": {}}})
    assert "secretId" in str(info.value)
    secrets.set_secret("db-password", "v1")  # the adapter sends what the contract requires
    assert len(secret_manager.refused) == 1


# ------------------------------------------------------------------ OAuth token endpoint


def test_a_refused_grant_is_a_credentials_error(
    oauth: FakeOAuth, monitoring: FakeMonitoring, sa_info: dict[str, Any]
) -> None:
    """RFC 6749 5.2: 400 {"error", "error_description"}, read by Google's own client."""
    saved = oauth.client_email
    oauth.client_email = "someone-else@specify-test.iam.gserviceaccount.com"
    try:
        metrics = provider(sa_info, "monitoring", monitoring.url).get_metrics()
        with pytest.raises(CredentialsError) as info:
            metrics.put_metric("latency", 1.0)
    finally:
        oauth.client_email = saved
    assert "invalid_grant" in str(info.value)
    (_, body), *_ = oauth.refused[-1:]
    assert set(body) == {"error", "error_description"}
    assert monitoring.series == []


# ------------------------------------------------------------------ BigQuery


def test_billing_query_waits_for_an_incomplete_job() -> None:
    """getQueryResults may answer jobComplete=false (job.proto); the adapter asks again."""
    from datetime import date
    from decimal import Decimal

    from google.auth.credentials import AnonymousCredentials

    from tests.fakes.bigquery import FakeBigQuery, LineItem

    table = "gcp_billing_export_v1_0123AB_4567CD_89EF01"
    items = [
        LineItem(
            "Compute Engine", datetime(2026, 1, 1, 3, tzinfo=UTC), "us-east1", "USD", Decimal("1.5")
        ),
        LineItem(
            "Compute Engine", datetime(2026, 1, 2, 3, tzinfo=UTC), "us-east1", "USD", Decimal("2.5")
        ),
    ]
    with FakeBigQuery(
        PROJECT, f"{PROJECT}.billing_ds.{table}", items, 10, incomplete_polls=2
    ) as bq:
        cost = GCPProvider(
            PROJECT,
            credentials=AnonymousCredentials(),
            billing_dataset="billing_ds",
            billing_table=table,
            endpoints={"bigquery": bq.url},
        ).get_cost()
        records = cost.get_costs(date(2026, 1, 1), date(2026, 1, 3))
        polls = bq.calls("GET", r"/bigquery/v2/projects/[^/]+/queries/[^/]+")
    assert [(r.period_start, r.amount) for r in records] == [
        (date(2026, 1, 1), Decimal("1.5")),
        (date(2026, 1, 2), Decimal("2.5")),
    ]
    assert len(polls) >= 3 and bq.incomplete_polls == 0
