"""FocusFileCost through the CloudCost protocol, from FOCUS CSV and parquet files."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from providers.base import CloudCost
from providers.errors import ConfigurationError, CostAnalysisError, NotFoundError
from providers.local.provider import LocalProvider

COLUMNS = [
    "ProviderName",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ServiceName",
    "RegionId",
    "BilledCost",
    "BillingCurrency",
    "ChargeCategory",
    "Tags",
]
ROWS = [
    # amounts chosen so that float addition would not be exact
    ["Local", "2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z", "Compute", "eu", "0.1", "USD", "Usage", '{"team": "a"}'],
    ["Local", "2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z", "Compute", "eu", "0.2", "USD", "Usage", '{"team": "a", "env": "x"}'],
    ["Local", "2026-03-01T05:00:00Z", "2026-03-01T06:00:00Z", "Compute", "us", "1.000000001", "USD", "Usage", ""],
    ["Local", "2026-03-01T07:00:00Z", "2026-03-01T08:00:00Z", "Storage", "eu", "3.33", "USD", "Usage", ""],
    ["Local", "2026-03-02T00:00:00Z", "2026-03-02T01:00:00Z", "Compute", "eu", "-0.05", "USD", "Credit", ""],
    ["Local", "2026-03-03T00:00:00Z", "2026-03-03T01:00:00Z", "Compute", "eu", "99", "USD", "Usage", ""],
]  # fmt: skip


def write_csv(path: Path, rows: list[list[str]], columns: list[str] = COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


@pytest.fixture
def cost(provider: LocalProvider) -> CloudCost:
    service = provider.get_cost()
    assert isinstance(service, CloudCost)
    write_csv(provider.root / "billing" / "2026-03.csv", ROWS)
    return service


def test_daily_per_service_exact_totals(cost: CloudCost) -> None:
    records = cost.get_costs(date(2026, 3, 1), date(2026, 3, 3))  # the 3rd is excluded
    got = [(r.period_start, r.service, r.amount) for r in records]
    assert got == [
        (date(2026, 3, 1), "Compute", Decimal("1.300000001")),
        (date(2026, 3, 1), "Storage", Decimal("3.33")),
        (date(2026, 3, 2), "Compute", Decimal("-0.05")),
    ]
    first = records[0]
    assert (first.provider, first.currency, first.period_end) == ("Local", "USD", date(2026, 3, 2))
    assert dict(first.tags) == {}  # the us row has no tags, so none are shared
    assert sum((r.amount for r in records), Decimal(0)) == Decimal("4.580000001")


def test_group_by_region_and_monthly(cost: CloudCost) -> None:
    by_region = cost.get_costs(date(2026, 3, 1), date(2026, 3, 2), group_by=("service", "region"))
    got = {(r.service, r.region): (r.amount, dict(r.tags)) for r in by_region}
    assert got == {
        ("Compute", "eu"): (Decimal("0.3"), {"team": "a"}),
        ("Compute", "us"): (Decimal("1.000000001"), {}),
        ("Storage", "eu"): (Decimal("3.33"), {}),
    }
    monthly = cost.get_costs(date(2026, 3, 1), date(2026, 4, 1), "MONTHLY", ())
    assert [(r.period_start, r.period_end, r.service, r.amount) for r in monthly] == [
        (date(2026, 3, 1), date(2026, 4, 1), "(all services)", Decimal("103.580000001"))
    ]


def test_parquet_files_are_read_too(provider: LocalProvider, cost: CloudCost) -> None:
    table = pa.table(
        {
            "ProviderName": ["Local"],
            "ChargePeriodStart": pa.array(
                [pa.scalar(1772323200_000_000, pa.timestamp("us", tz="UTC")).as_py()],
                pa.timestamp("us", tz="UTC"),
            ),  # 2026-03-01T00:00Z
            "ChargePeriodEnd": ["2026-03-01T01:00:00Z"],
            "ServiceName": ["Storage"],
            "RegionId": ["eu"],
            "BilledCost": pa.array([Decimal("0.67")], pa.decimal128(12, 2)),
            "BillingCurrency": ["USD"],
        }
    )
    pq.write_table(table, provider.root / "billing" / "extra.parquet")
    records = cost.get_costs(date(2026, 3, 1), date(2026, 3, 2))
    assert {r.service: r.amount for r in records} == {
        "Compute": Decimal("1.300000001"),
        "Storage": Decimal("4.00"),
    }


def test_bad_rows_name_file_row_and_column(provider: LocalProvider) -> None:
    cost = provider.get_cost()
    billing = provider.root / "billing"
    bad = [
        *ROWS[:2],
        ["Local", "2026-03-01T02:00:00Z", "x", "Compute", "eu", "12,50", "USD", "", ""],
    ]
    write_csv(billing / "bad.csv", bad)
    with pytest.raises(CostAnalysisError) as err:
        cost.get_costs(date(2026, 3, 1), date(2026, 3, 2))
    assert "bad.csv row 3 (line 4), column ChargePeriodEnd" in str(err.value)
    bad[2][2] = "2026-03-01T03:00:00Z"
    write_csv(billing / "bad.csv", bad)
    with pytest.raises(CostAnalysisError, match=r"bad.csv row 3 \(line 4\), column BilledCost"):
        cost.get_costs(date(2026, 3, 1), date(2026, 3, 2))
    write_csv(billing / "bad.csv", [r[:6] for r in ROWS], COLUMNS[:6])
    with pytest.raises(CostAnalysisError, match="no column BillingCurrency"):
        cost.get_costs(date(2026, 3, 1), date(2026, 3, 2))


def test_bad_arguments_and_missing_dir(provider: LocalProvider, cost: CloudCost) -> None:
    with pytest.raises(ConfigurationError):
        cost.get_costs(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(ConfigurationError):
        cost.get_costs(date(2026, 3, 1), date(2026, 3, 2), group_by=("colour",))
    with pytest.raises(NotFoundError):
        LocalProvider(root=provider.root / "nowhere").get_cost().get_costs(
            date(2026, 3, 1), date(2026, 3, 2)
        )
