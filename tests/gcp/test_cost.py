"""BigQueryBillingCost against the fake BigQuery API: two pages, credits, two currencies."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from google.auth.credentials import AnonymousCredentials

from providers.base import CloudCost
from providers.errors import ConfigurationError, CostAnalysisError
from providers.gcp import GCPProvider
from providers.gcp.cost import BigQueryBillingCost
from tests.fakes.bigquery import FakeBigQuery, LineItem
from tests.gcp.conftest import FAST_RETRY

PROJECT = "billing-proj"
TABLE = f"{PROJECT}.billing_ds.gcp_billing_export_v1_0123AB_4567CD_89EF01"


def at(day: int, hour: int = 0, month: int = 5) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


ITEMS = [
    LineItem(
        "Compute Engine",
        at(1, 3),
        "us-central1",
        "USD",
        Decimal("12.345678"),
        [Decimal("-1.5"), Decimal("-0.25")],
    ),
    LineItem("Compute Engine", at(1, 9), "us-central1", "USD", Decimal("7.654322")),
    LineItem("Cloud Storage", at(1, 5), "us", "USD", Decimal("0.019"), [Decimal("-0.019")]),
    LineItem("Cloud Storage", at(2, 1), "europe-west1", "EUR", Decimal("3.10")),
    LineItem("BigQuery", at(2, 7), None, "EUR", Decimal("5.555"), [Decimal("-0.555")]),
    LineItem("Compute Engine", at(2, 8), "europe-west1", "EUR", Decimal("20.01")),
    LineItem("Cloud SQL", at(3, 2), "us-east1", "USD", Decimal("4.44"), [Decimal("-4.44")]),
    # outside [May 1, May 3): the query's time range must drop it
    LineItem("Compute Engine", at(3, 0), "us-central1", "USD", Decimal("999")),
    LineItem("Compute Engine", at(30, 0, month=4), "us-central1", "USD", Decimal("999")),
]


@pytest.fixture
def fake() -> Iterator[FakeBigQuery]:
    with FakeBigQuery(PROJECT, TABLE, ITEMS, page_rows=3) as server:
        yield server  # type: ignore[misc]


def make_cost(url: str) -> BigQueryBillingCost:
    provider = GCPProvider(
        PROJECT,
        credentials=AnonymousCredentials(),
        billing_dataset="billing_ds",
        billing_table="gcp_billing_export_v1_0123AB_4567CD_89EF01",
        endpoints={"bigquery": url},
    )
    cost = provider.get_cost()
    cost.retry_policy = FAST_RETRY
    return cost


def expected_totals(start: datetime, end: datetime) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for item in ITEMS:
        if start <= item.usage_start < end:
            totals[item.currency] += item.cost + sum(item.credits, Decimal(0))
    return dict(totals)


def test_daily_costs_follow_pages_and_add_credits(fake: FakeBigQuery) -> None:
    cost = make_cost(fake.url)
    assert isinstance(cost, CloudCost)
    records = cost.get_costs(date(2024, 5, 1), date(2024, 5, 3))
    fake.assert_clean()
    # the query went out once; its results came back over more than one page
    assert len(fake.calls("POST", r".*/jobs")) == 1
    pages = [r for r in fake.calls("GET", r".*/queries/.*") if r.arg("pageToken")]
    assert pages, "the second page was never requested"

    totals: dict[str, Decimal] = defaultdict(Decimal)
    for rec in records:
        totals[rec.currency] += rec.amount
    want = expected_totals(at(1), at(3))
    assert set(totals) == {"USD", "EUR"}
    assert {k: v.quantize(Decimal("0.01")) for k, v in totals.items()} == {
        k: v.quantize(Decimal("0.01")) for k, v in want.items()
    }
    assert totals == want  # exact: NUMERIC all the way, no float rounding

    compute = [r for r in records if r.service == "Compute Engine" and r.currency == "USD"]
    assert len(compute) == 1  # two line items of one day, service, region grouped
    (rec,) = compute
    assert rec.amount == Decimal("12.345678") + Decimal("7.654322") - Decimal("1.75")
    assert rec.raw["credits"] == Decimal("-1.75")
    assert (rec.period_start, rec.period_end) == (date(2024, 5, 1), date(2024, 5, 2))
    assert rec.region == "us-central1" and rec.tags == {"invoice_month": "202405"}
    assert rec.provider == "gcp" and rec.account == PROJECT
    assert any(r.region is None and r.service == "BigQuery" for r in records)


def test_monthly_granularity_groups_by_month(fake: FakeBigQuery) -> None:
    records = make_cost(fake.url).get_costs(
        date(2024, 4, 1), date(2024, 6, 1), granularity="MONTHLY"
    )
    fake.assert_clean()
    april = [r for r in records if r.period_start == date(2024, 4, 1)]
    assert [(r.service, r.amount, r.period_end) for r in april] == [
        ("Compute Engine", Decimal("999"), date(2024, 5, 1))
    ]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for rec in records:
        totals[rec.currency] += rec.amount
    assert totals == expected_totals(at(1, month=4), at(1, month=6))


def test_bad_names_and_ranges_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="dataset"):
        BigQueryBillingCost(PROJECT, dataset="x`; DROP", table="t", client=object())
    cost = BigQueryBillingCost(PROJECT, dataset="d", table="t", client=object())
    with pytest.raises(ConfigurationError):
        cost.get_costs(date(2024, 5, 2), date(2024, 5, 1))
    with pytest.raises(ConfigurationError, match="billing export"):
        GCPProvider(PROJECT, credentials=AnonymousCredentials()).get_cost()


def test_a_rejected_query_is_a_cost_error_naming_the_table() -> None:
    with FakeBigQuery(PROJECT, "other.ds.table", [], page_rows=3) as server:
        cost = make_cost(server.url)
        # the fake rejects SQL for another table with a 400, which is no auth/404/5xx
        with pytest.raises(CostAnalysisError) as info:
            cost.get_costs(date(2024, 5, 1), date(2024, 5, 3))
        assert not info.value.retryable
        assert f"table {TABLE}" in str(info.value)
