"""Every figure of the comparison against the generator's known totals, to the cent."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from providers.base import CostRecord
from providers.cost import sample
from providers.cost.analyzer import CloudCostAnalyzer, CostComparison, cents
from providers.cost.frame import FocusFrame
from providers.errors import CostAnalysisError

Generated = tuple[sample.SampleTruth, CostComparison, Path]


def test_totals_per_provider_match_to_the_cent(generated: Generated) -> None:
    truth, c, _ = generated
    assert c.providers == ["aws", "azure", "gcp"]
    for p in c.providers:
        assert cents(c.totals[p]) == cents(truth.total(p)), p
    assert cents(c.total) == cents(truth.total())
    assert c.rows == len(truth.rows)
    assert c.currency == "USD"


@pytest.mark.parametrize(
    ("attr", "column"),
    [
        ("by_category", "category"),
        ("by_service", "service"),
        ("by_region", "region"),
        ("by_tag", "team"),
    ],
)
def test_breakdowns_match(generated: Generated, attr: str, column: str) -> None:
    truth, c, _ = generated
    expected = truth.by(column)
    got = {(p, key): amount for key, per in getattr(c, attr).items() for p, amount in per.items()}
    assert {k: cents(v) for k, v in got.items()} == {k: cents(v) for k, v in expected.items()}


def test_credits_refunds_tax_purchases_and_estimated(generated: Generated) -> None:
    truth, c, _ = generated
    for (p, charge), amount in truth.by("charge").items():
        assert cents(c.by_charge[p][charge]) == cents(amount), (p, charge)
    # the documented special lines are all there
    assert c.by_charge["aws"]["Credit"] == Decimal("-50")
    assert c.by_charge["aws"]["Adjustment"] == Decimal("-12.34")  # Refund
    assert c.by_charge["azure"]["Purchase"] == Decimal("120")
    assert c.by_charge["azure"]["Adjustment"] == Decimal("-20.5")  # Refund
    assert c.by_charge["aws"]["Tax"] > 0 and c.by_charge["gcp"]["Tax"] > 0
    # GCP usage is net of its credits: BilledCost = cost + SUM(credits.amount)
    rows = truth.rows
    gcp_compute = rows[
        (rows.provider == "gcp") & (rows.category == "Compute") & (rows.charge == "Usage")
    ]
    assert c.credits["gcp"] < 0
    net = Decimal(int(gcp_compute.amount.sum())) / 10**6  # the truth's amount is already net
    gross = Decimal(int(gcp_compute.amount.sum() - truth_credit(truth))) / 10**6
    assert cents(c.credits["gcp"]) == cents(net - gross)
    assert cents(c.by_charge["gcp"]["Usage"]) == cents(truth.by("charge")[("gcp", "Usage")])
    # estimated rows (no invoice id yet) are counted in totals and reported apart
    assert cents(c.estimated["aws"]) == cents(truth.estimated("aws")) > 0
    assert c.estimated["gcp"] == c.estimated["azure"] == 0


def test_cheapest_per_category_and_overall(generated: Generated) -> None:
    truth, c, _ = generated
    rates = truth.unit_rates()
    assert set(c.cheapest) == set(rates) == {"Compute", "Storage", "Databases", "Networking"}
    for cat, per in rates.items():
        assert c.cheapest[cat]["basis"] == "unit_cost"
        assert c.cheapest[cat]["provider"] == min(per, key=per.__getitem__), cat
        for p, rate in per.items():
            assert c.cheapest[cat]["unit_costs"][p] == pytest.approx(rate, rel=1e-9)
    # overall: each provider priced on the whole comparable workload at its own unit rates
    usage = truth.rows[truth.rows.charge == "Usage"]
    qty = {cat: float(usage[usage.category == cat].qty.sum()) for cat in rates}
    workload = {p: sum(rates[cat][p] * qty[cat] for cat in rates) for p in ("aws", "azure", "gcp")}
    assert c.cheapest_overall["provider"] == min(workload, key=workload.__getitem__)
    for p, cost in c.cheapest_overall["costs"].items():
        assert float(cost) == pytest.approx(workload[p], rel=1e-6)


def test_the_injected_spike_is_the_only_anomaly(generated: Generated) -> None:
    truth, c, _ = generated
    provider, service, day = truth.spike
    assert [(a["provider"], a["service"], a["day"]) for a in c.anomalies] == [
        (provider, service, day)
    ]


def test_recommendations_carry_savings_and_justifying_rows(generated: Generated) -> None:
    _, c, _ = generated
    assert {r.rule for r in c.recommendations} == {
        "move_to_cheaper",
        "commit_steady_compute",
        "reduce_egress",
    }
    for rec in c.recommendations:
        assert rec.monthly_saving > 0
        assert rec.rows and all(row["ProviderName"] == rec.provider for row in rec.rows)
    # moving from a pricier provider saves (rate - cheapest rate) x quantity, per month
    for rec in (r for r in c.recommendations if r.rule == "move_to_cheaper"):
        cat = rec.rows[0]["ServiceCategory"]
        info = c.cheapest[cat]
        assert rec.provider != info["provider"]
        assert all(row["ServiceCategory"] == cat for row in rec.rows)
    egress = [r for r in c.recommendations if r.rule == "reduce_egress"]
    for rec in egress:
        net = sum((row["Cost"] for row in rec.rows), Decimal(0))
        assert rec.monthly_saving == cents(net * Decimal("30.4375") / c.days * Decimal("0.30"))


def test_month_end_forecast(tmp_path: Path) -> None:
    truth = sample.generate(tmp_path, seed=5, start=date(2024, 3, 1), days=20)
    frame = FocusFrame.from_sources([tmp_path])
    c = CloudCostAnalyzer().compare(frame)
    rows = truth.rows
    last = date(2024, 3, 20)
    window = rows[(rows.charge == "Usage") & (rows.day >= str(last - timedelta(days=6)))]
    for p in c.providers:
        f = c.forecast[p]
        assert (
            f["month"] == "2024-03" and f["remaining_days"] == calendar.monthrange(2024, 3)[1] - 20
        )
        daily = Decimal(int(window[window.provider == p].amount.sum())) / 10**6 / 7
        assert cents(f["actual"]) == cents(truth.total(p))
        assert cents(f["forecast"]) == cents(truth.total(p) + daily * 11)


def test_date_range_filters_rows(sample_dir: tuple[sample.SampleTruth, Path]) -> None:
    truth, folder = sample_dir
    frame = FocusFrame.from_sources([folder], start=date(2024, 1, 3), end=date(2024, 1, 5))
    c = CloudCostAnalyzer().compare(frame)
    rows = truth.rows[(truth.rows.day >= "2024-01-03") & (truth.rows.day < "2024-01-05")]
    assert cents(c.total) == cents(Decimal(int(rows.amount.sum())) / 10**6)
    assert sorted(c.daily) == ["2024-01-03", "2024-01-04"]


def test_mixed_currencies_need_rates(tmp_path: Path) -> None:
    truth = sample.generate(tmp_path, seed=2, days=8, azure_currency="EUR")
    with pytest.raises(CostAnalysisError, match=r"EUR \(azure\).*USD \(aws, gcp\)") as err:
        CloudCostAnalyzer().compare(FocusFrame.from_sources([tmp_path]))
    assert "exchange-rate" in str(err.value)
    c = CloudCostAnalyzer(rates={"EUR": Decimal("1.085")}, currency="USD").compare(
        FocusFrame.from_sources([tmp_path])
    )
    assert cents(c.totals["azure"]) == cents(truth.total("azure") * Decimal("1.085"))
    assert cents(c.totals["aws"]) == cents(truth.total("aws"))


def test_cost_records_become_focus_rows() -> None:
    records = [
        CostRecord(
            "aws",
            "Amazon Elastic Compute Cloud - Compute",
            date(2024, 1, d),
            date(2024, 1, d + 1),
            Decimal("10.105"),
            "USD",
            region="us-east-1",
            raw={"Estimated": False},
        )
        for d in range(1, 4)
    ] + [
        CostRecord(
            "azure",
            "Virtual Machines",
            date(2024, 1, 1),
            date(2024, 1, 2),
            Decimal("7.20"),
            "usd",
            estimated=True,
        ),
        CostRecord(
            "aws",
            "Amazon Elastic Compute Cloud - Compute",
            date(2024, 1, 2),
            date(2024, 1, 3),
            Decimal("-1.00"),
            "USD",
        ),
    ]
    frame = FocusFrame.from_records(records)
    c = CloudCostAnalyzer().compare(frame)
    assert c.totals == {"aws": Decimal("29.315"), "azure": Decimal("7.2")}
    assert c.by_category["Compute"] == {"aws": Decimal("29.315"), "azure": Decimal("7.2")}
    assert c.by_charge["aws"] == {"Usage": Decimal("30.315"), "Credit": Decimal("-1")}
    assert c.estimated["azure"] == Decimal("7.2")
    rows = frame.to_pandas()
    assert '"Estimated": false' in rows.x_Raw.iloc[0]
    assert rows.ServiceName.iloc[0] == "Amazon Elastic Compute Cloud"


def test_unknown_currency_in_records_names_the_row() -> None:
    records = [
        CostRecord("gcp", "Cloud SQL", date(2024, 1, 1), date(2024, 1, 2), Decimal(1), "USD"),
        CostRecord("gcp", "Cloud SQL", date(2024, 1, 1), date(2024, 1, 2), Decimal(1), "XXY"),
    ]
    with pytest.raises(CostAnalysisError, match=r"row 2, column 'currency': 'XXY'"):
        FocusFrame.from_records(records)


def truth_credit(truth: sample.SampleTruth) -> int:
    """The GCP credits the generator netted in (a sustained-use share of Compute cost)."""
    rows = truth.rows
    compute = rows[
        (rows.provider == "gcp") & (rows.category == "Compute") & (rows.charge == "Usage")
    ]
    return int(compute.credit.sum())


def test_record_charge_types_come_from_raw_columns() -> None:
    day, nxt = date(2024, 1, 1), date(2024, 1, 2)
    records = [
        CostRecord("aws", "Tax", day, nxt, Decimal("3.10"), "USD", raw={"RECORD_TYPE": "Tax"}),
        CostRecord(
            "aws", "AmazonS3", day, nxt, Decimal("-2.00"), "USD", raw={"RECORD_TYPE": "Refund"}
        ),
        CostRecord("gcp", "Cloud SQL", day, nxt, Decimal("0.40"), "USD", raw={"cost_type": "tax"}),
        CostRecord(
            "azure", "Storage", day, nxt, Decimal("99"), "USD", raw={"ChargeType": "Purchase"}
        ),
    ]
    c = CloudCostAnalyzer().compare(FocusFrame.from_records(records))
    assert c.by_charge == {
        "aws": {"Tax": Decimal("3.1"), "Adjustment": Decimal("-2")},
        "azure": {"Purchase": Decimal("99")},
        "gcp": {"Tax": Decimal("0.4")},
    }


def test_focus_files_are_read_as_they_are(generated: Generated, tmp_path: Path) -> None:
    _, c, folder = generated
    frame = FocusFrame.from_sources([folder])
    frame.write_parquet(tmp_path / "focus" / "rows.parquet")
    again = CloudCostAnalyzer().compare(
        FocusFrame.from_sources([tmp_path / "focus"]), tag_key="team"
    )
    assert again.totals == c.totals
    assert again.by_category == c.by_category and again.by_tag == c.by_tag
    assert again.estimated == c.estimated and again.credits == c.credits
    assert again.cheapest_overall["provider"] == c.cheapest_overall["provider"]
