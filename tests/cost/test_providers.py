"""The cost engine with the real providers: S3 (moto) as source and report destination,
Cost Explorer pages (moto) and BigQuery billing rows (fake REST API) as CostRecords."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from providers.cost import sample
from providers.cost.analyzer import CloudCostAnalyzer, cents, run_comparison
from providers.cost.frame import FocusFrame
from providers.cost.options import CompareOptions
from providers.cost.report import write_report
from providers.errors import CostAnalysisError
from tests.aws.conftest import moto_post
from tests.fakes.bigquery import FakeBigQuery
from tests.gcp.test_cost import ITEMS, PROJECT, TABLE, make_cost


@pytest.fixture(autouse=True)
def _audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECIFY_AUDIT_LOG", str(tmp_path / "audit.jsonl"))


@pytest.mark.emulators
def test_exports_in_s3_and_report_to_s3(sample_dir: tuple[sample.SampleTruth, Path]) -> None:
    from providers.registry import get_provider

    truth, _ = sample_dir
    name = f"cost-{uuid.uuid4().hex[:10]}"
    store = get_provider("aws").get_storage(name)
    assert store.create_bucket() is True  # type: ignore[attr-defined]
    for f in truth.files.values():
        store.upload(f, f"billing/{f.parent.name}/{f.name}")
    frame = FocusFrame.from_sources([f"s3://{name}/billing"])
    c = CloudCostAnalyzer().compare(frame)
    for p in ("aws", "azure", "gcp"):
        assert cents(c.totals[p]) == cents(truth.total(p))
    written = write_report(c, frame, f"s3://{name}/reports/jan")
    assert {o.key for o in store.list_objects("reports/")} == {
        f"reports/jan/{n}" for n in ("cost-report.html", "focus-rows.parquet", "comparison.json")
    }
    assert all(uri.startswith(f"s3://{name}/reports/jan/") for uri in written.values())
    frame.close()


def _period(day: date, groups: list[tuple[str, str]], estimated: bool) -> dict[str, object]:
    return {
        "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
        "Total": {},
        "Groups": [
            {"Keys": [svc], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
            for svc, amount in groups
        ],
        "Estimated": estimated,
    }


@pytest.mark.emulators
def test_cost_explorer_pages_compare_with_export_files(
    sample_dir: tuple[sample.SampleTruth, Path],
) -> None:
    truth, folder = sample_dir
    start, end = date(2024, 1, 1), date(2024, 1, 11)
    moto = os.environ["SPECIFY_MOTO_URL"]  # set by the emulator harness
    pages = [
        {
            "ResultsByTime": [
                _period(start, [("Amazon Elastic Compute Cloud - Compute", "10.000000001")], False)
            ],
            "NextPageToken": "p2",
        },
        {
            "ResultsByTime": [
                _period(
                    start + timedelta(days=1), [("Amazon Simple Storage Service", "2.5")], True
                ),
                _period(start + timedelta(days=2), [("AWS Lambda", "0.75")], True),
            ]
        },
    ]
    assert moto_post(moto, "/moto-api/static/ce/cost-and-usage-results", {"results": pages}) == 201
    c, frame = run_comparison(
        CompareOptions(
            sources=(str(folder / "gcp"), str(folder / "azure")),
            providers=("aws",),
            start=start,
            end=end,
        )
    )
    frame.close()
    assert c.totals["aws"] == Decimal("13.250000001")  # both pages, exact
    assert c.estimated["aws"] == Decimal("3.25")
    assert c.by_category["Compute"]["aws"] == Decimal("10.750000001")
    assert c.by_category["Storage"]["aws"] == Decimal("2.5")
    assert cents(c.totals["gcp"]) == cents(truth.total("gcp"))
    assert cents(c.totals["azure"]) == cents(truth.total("azure"))


@pytest.fixture
def bigquery() -> Iterator[FakeBigQuery]:
    with FakeBigQuery(PROJECT, TABLE, ITEMS, page_rows=3) as server:
        yield server  # type: ignore[misc]


def test_bigquery_billing_rows_keep_credits_and_currencies(bigquery: FakeBigQuery) -> None:
    start, end = date(2024, 5, 1), date(2024, 5, 3)
    records = make_cost(bigquery.url).get_costs(start, end)
    bigquery.assert_clean()
    inside = [i for i in ITEMS if start <= i.usage_start.date() < end]
    with pytest.raises(CostAnalysisError, match=r"EUR \(gcp\); USD \(gcp\)"):
        CloudCostAnalyzer().compare(FocusFrame.from_records(records))
    rate = Decimal("1.08")
    c = CloudCostAnalyzer(rates={"EUR": rate}, currency="USD").compare(
        FocusFrame.from_records(records)
    )

    def usd(item_value: Decimal, currency: str) -> Decimal:
        return item_value * (rate if currency == "EUR" else 1)

    net = sum((usd(i.cost + sum(i.credits, Decimal(0)), i.currency) for i in inside), Decimal(0))
    credits = sum((usd(sum(i.credits, Decimal(0)), i.currency) for i in inside), Decimal(0))
    assert c.totals["gcp"] == net
    assert c.credits["gcp"] == credits < 0
    assert c.by_category["Compute"]["gcp"] == sum(
        (
            usd(i.cost + sum(i.credits, Decimal(0)), i.currency)
            for i in inside
            if i.service == "Compute Engine"
        ),
        Decimal(0),
    )


def test_local_provider_records_from_focus_files(
    sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    from providers.local.provider import LocalProvider

    truth, folder = sample_dir
    root = tmp_path / "local-cloud"
    FocusFrame.from_sources([folder]).write_parquet(root / "billing" / "focus.parquet")
    records = LocalProvider(root).get_cost().get_costs(date(2024, 1, 1), date(2024, 1, 11))
    c = CloudCostAnalyzer().compare(FocusFrame.from_records(records))
    for p in ("aws", "azure", "gcp"):
        assert cents(c.totals[p]) == cents(truth.total(p))
    for (p, cat), amount in truth.by("category").items():
        assert cents(c.by_category[cat][p]) == cents(amount)
