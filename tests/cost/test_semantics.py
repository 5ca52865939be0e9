"""FOCUS semantics (docs/cost.md cites each rule) and the analysis rules that keep the
comparison from misleading: units must match, spend must be material, anomalies must be
material, rules one function each."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from providers.cost import analyzer
from providers.cost.analyzer import AggRow, CloudCostAnalyzer, thresholds
from providers.cost.frame import FocusFrame
from providers.errors import CostInputError

DATA = Path(__file__).resolve().parent.parent / "data" / "billing"
CUR = DATA / "aws" / "aws_cur1_sample.csv"

# line item type -> (UnblendedCost, extra columns, FOCUS ChargeCategory, EffectiveCost)
# EffectiveCost per FOCUS 1.0 (AWS's FOCUS mapping, focus_converters' aws-cur rules)
LINES = {
    "SavingsPlanCoveredUsage": (
        "30",
        {"savingsPlan/SavingsPlanEffectiveCost": "0.30"},
        "Usage",
        "0.30",
    ),
    "SavingsPlanNegation": ("-30", {}, "Usage", "0"),
    "SavingsPlanRecurringFee": (
        "10",
        {"savingsPlan/TotalCommitmentToDate": "10", "savingsPlan/UsedCommitment": "7.5"},
        "Purchase",
        "2.5",
    ),
    "SavingsPlanUpfrontFee": ("100", {}, "Purchase", "0"),
    "DiscountedUsage": ("0", {"reservation/EffectiveCost": "1.2"}, "Usage", "1.2"),
    "RIFee": (
        "20",
        {
            "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "1.0",
            "reservation/UnusedRecurringFee": "0.5",
        },
        "Purchase",
        "1.5",
    ),
    "Credit": ("-5", {}, "Credit", "-5"),
    "Refund": ("-2", {}, "Adjustment", "-2"),
    "Tax": ("3", {}, "Tax", "3"),
    "Usage": ("4", {}, "Usage", "4"),
}


def _cur_with(tmp_path: Path, lines: dict[str, tuple[str, dict[str, str], str, str]]) -> Path:
    """The public CUR's header and first row as a template, one row per line item type."""
    with open(CUR, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        template = next(r for r in reader if r["lineItem/LineItemType"] == "Usage")
        fields = list(reader.fieldnames or [])
    path = tmp_path / "cur.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for kind, (cost, extra, _, _) in lines.items():
            w.writerow(
                {**template, "lineItem/LineItemType": kind, "lineItem/UnblendedCost": cost, **extra}
            )
    return path


def test_aws_line_item_types_billed_effective_and_charge_category(tmp_path: Path) -> None:
    frame = FocusFrame.from_sources([_cur_with(tmp_path, LINES)])
    table = frame.to_arrow().to_pylist()
    frame.close()
    assert len(table) == len(LINES)
    for row, (kind, (cost, _, charge, effective)) in zip(table, LINES.items(), strict=True):
        assert row["BilledCost"] == Decimal(cost), kind
        assert row["EffectiveCost"] == Decimal(effective), kind
        assert row["ChargeCategory"] == charge, kind


def test_savings_plan_usage_without_its_effective_cost_is_refused(tmp_path: Path) -> None:
    lines = {"Usage": LINES["Usage"], "SavingsPlanCoveredUsage": ("30", {}, "Usage", "")}
    path = _cur_with(tmp_path, lines)
    with pytest.raises(CostInputError, match=r"row 2, .*SavingsPlanEffectiveCost"):
        CloudCostAnalyzer().compare(FocusFrame.from_sources([path]))


def test_cur_amounts_follow_the_strict_number_rule(tmp_path: Path) -> None:
    for bad in ("1_000", "true", "1,5"):
        path = _cur_with(tmp_path, {"Usage": (bad, {}, "Usage", "")})
        with pytest.raises(CostInputError, match=r"row 1, column 'lineItem/UnblendedCost'"):
            CloudCostAnalyzer().compare(FocusFrame.from_sources([path]))


# ------------------------------------------------------------------ analysis rules
DAY = date(2024, 3, 1)


def _row(
    provider: str,
    amount: str,
    *,
    day: int = 0,
    unit: str = "Hrs",
    qty: float = 10.0,
    category: str = "Compute",
    service: str = "VM",
) -> AggRow:
    value = Decimal(amount)
    return AggRow(
        provider,
        "USD",
        "Usage",
        category,
        service,
        "",
        DAY + timedelta(days=day),
        unit,
        False,
        "",
        value,
        value,
        None,
        qty,
        1,
    )


def test_cheapest_needs_matching_units() -> None:
    rows = [
        _row("aws", "100"),
        _row("gcp", "60"),
        _row("gcp", "60", unit="GB", qty=1000),  # data transfer billed under Compute
    ]
    c = CloudCostAnalyzer().compare_aggregate(rows, None, None)
    verdict = c.cheapest["Compute"]
    assert verdict["comparable"] is False and verdict["provider"] is None
    assert "gcp: 50% GB, 50% Hours" in verdict["reason"] or "50% Hours" in verdict["reason"]
    assert c.cheapest_overall["comparable"] is False


def test_cheapest_needs_material_spend_on_every_side() -> None:
    rows = [_row("aws", "100"), _row("oracle", "0.54")]
    c = CloudCostAnalyzer().compare_aggregate(rows, None, None)
    assert c.cheapest["Compute"]["comparable"] is False
    assert "oracle 0.54" in c.cheapest["Compute"]["reason"]
    rows = [_row("aws", "100"), _row("gcp", "80")]
    c = CloudCostAnalyzer().compare_aggregate(rows, None, None)
    assert c.cheapest["Compute"]["provider"] == "gcp" and c.cheapest["Compute"]["comparable"]
    assert c.cheapest_overall["provider"] == "gcp"


def test_anomalies_only_above_absolute_and_relative_thresholds() -> None:
    t = thresholds()["anomaly"]
    tiny = [_row("aws", "0.001", day=d) for d in range(14)] + [_row("aws", "0.009", day=14)]
    assert CloudCostAnalyzer().compare_aggregate(tiny, None, None).anomalies == []
    big = [_row("aws", "10", day=d) for d in range(14)] + [_row("aws", "60", day=14)]
    (a,) = CloudCostAnalyzer().compare_aggregate(big, None, None).anomalies
    assert a["increase"] == Decimal(50) >= t["min_increase"]
    small_share = [_row("aws", "1000", day=d) for d in range(14)]
    small_share += [_row("aws", "1150", day=14)]  # +150: above 1.00, below 20 % of 1000
    assert CloudCostAnalyzer().compare_aggregate(small_share, None, None).anomalies == []


def test_every_recommendation_rule_has_one_function() -> None:
    assert set(analyzer.rules()) == set(analyzer.RULES)
    for name, fn in analyzer.RULES.items():
        assert fn.__name__ == f"rule_{name}"


def test_money_in_json_is_exact_decimal_text() -> None:
    rows = [_row("aws", "0.000000001"), _row("gcp", "12.5")]
    data = CloudCostAnalyzer().compare_aggregate(rows, None, None).to_dict()
    assert data["totals"] == {"aws": "0.000000001", "gcp": "12.50"}


def test_cur_resource_tag_columns_become_one_tags_object(tmp_path: Path) -> None:
    with open(CUR, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        row = next(r for r in reader if r["lineItem/LineItemType"] == "Usage")
        fields = [
            *list(reader.fieldnames or []),
            "resourceTags/user:team",
            "resourceTags/aws:createdBy",
        ]
    path = tmp_path / "tagged.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerow({**row, "resourceTags/user:team": "web", "resourceTags/aws:createdBy": "ci"})
        w.writerow({**row, "resourceTags/user:team": "", "resourceTags/aws:createdBy": ""})
    frame = FocusFrame.from_sources([path])
    tags = [json.loads(t) for t in frame.to_arrow().column("Tags").to_pylist()]
    frame.close()
    assert tags == [{"team": "web", "aws:createdBy": "ci"}, {}]
