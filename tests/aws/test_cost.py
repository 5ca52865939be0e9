"""Cost Explorer results queued in moto and parsed into CostRecords."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest

from providers.aws import AWSProvider
from providers.aws.cost import CostExplorerCost, group_definitions
from providers.base import CloudCost
from providers.errors import ConfigurationError, CostAnalysisError
from tests.aws.conftest import moto_post

_days = itertools.count()


def fresh_range() -> tuple[date, date]:
    """A date range no other test used: moto keys queued results by request body."""
    start = date(2020, 1, 1) + timedelta(days=3 * next(_days))
    return start, start + timedelta(days=2)


def period(start: date, groups: list[tuple[list[str], str]], estimated: bool, metric: str) -> dict:
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": (start + timedelta(days=1)).isoformat()},
        "Total": {},
        "Groups": [
            {"Keys": keys, "Metrics": {metric: {"Amount": amount, "Unit": "USD"}}}
            for keys, amount in groups
        ],
        "Estimated": estimated,
    }


def queue(moto_url: str, *results: dict) -> None:
    assert (
        moto_post(
            moto_url, "/moto-api/static/ce/cost-and-usage-results", {"results": list(results)}
        )
        == 201
    )


def test_two_pages_and_estimated(moto_url: str, aws: AWSProvider) -> None:
    start, end = fresh_range()
    day2 = start + timedelta(days=1)
    queue(
        moto_url,
        {
            "ResultsByTime": [
                period(
                    start,
                    [(["Amazon S3"], "1.25"), (["AmazonEC2"], "10.0000000001")],
                    False,
                    "UnblendedCost",
                )
            ],
            "NextPageToken": "page-2",
        },
        {"ResultsByTime": [period(day2, [(["Amazon S3"], "0.75")], True, "UnblendedCost")]},
    )
    cost = aws.get_cost()
    assert isinstance(cost, CloudCost)
    records = cost.get_costs(start, end)
    assert cost.last_calls == 2
    assert [(r.service, r.period_start, r.amount, r.estimated) for r in records] == [
        ("Amazon S3", start, Decimal("1.25"), False),
        ("AmazonEC2", start, Decimal("10.0000000001"), False),
        ("Amazon S3", day2, Decimal("0.75"), True),
    ]
    assert {r.currency for r in records} == {"USD"}
    assert {r.provider for r in records} == {"aws"}
    assert records[2].period_end == day2 + timedelta(days=1)


def test_group_by_region_and_tag_with_amortized(moto_url: str, aws: AWSProvider) -> None:
    start, end = fresh_range()
    queue(
        moto_url,
        {
            "ResultsByTime": [
                period(start, [(["Amazon S3", "team$data"], "3.5")], False, "AmortizedCost")
            ]
        },
    )
    cost = CostExplorerCost(aws.client("ce", "us-east-1"), metric="AmortizedCost")
    (record,) = cost.get_costs(start, end, "MONTHLY", ("service", "tag:team"))
    assert record.amount == Decimal("3.5")
    assert record.tags == {"team": "data"}
    assert record.service == "Amazon S3"


def test_total_without_groups(moto_url: str, aws: AWSProvider) -> None:
    start, end = fresh_range()
    queue(
        moto_url,
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                    "Total": {"NetUnblendedCost": {"Amount": "42.42", "Unit": "EUR"}},
                    "Groups": [],
                    "Estimated": True,
                }
            ]
        },
    )
    cost = CostExplorerCost(aws.client("ce", "us-east-1"), metric="NetUnblendedCost")
    (record,) = cost.get_costs(start, end, "MONTHLY", ())
    assert (record.service, record.amount, record.currency, record.estimated) == (
        "Total",
        Decimal("42.42"),
        "EUR",
        True,
    )


def test_page_cap_stops_paid_calls(moto_url: str, aws: AWSProvider) -> None:
    start, end = fresh_range()
    page = {"ResultsByTime": [], "NextPageToken": "again"}
    queue(moto_url, page, page, page)
    cost = CostExplorerCost(aws.client("ce", "us-east-1"), max_pages=2)
    with pytest.raises(CostAnalysisError, match="max_pages"):
        cost.get_costs(start, end)
    assert cost.last_calls == 2


def test_bad_inputs(aws: AWSProvider) -> None:
    cost = aws.get_cost()
    with pytest.raises(ConfigurationError, match="DAILY or MONTHLY"):
        cost.get_costs(date(2024, 1, 1), date(2024, 2, 1), "HOURLY")
    with pytest.raises(ConfigurationError):
        cost.get_costs(date(2024, 1, 2), date(2024, 1, 1))
    with pytest.raises(ConfigurationError, match="at most 2"):
        group_definitions(("service", "region", "account"))
    with pytest.raises(ConfigurationError):
        CostExplorerCost(None, metric="BlendedCostish")
    assert group_definitions(("region", "tag:env")) == [
        {"Type": "DIMENSION", "Key": "REGION"},
        {"Type": "TAG", "Key": "env"},
    ]
