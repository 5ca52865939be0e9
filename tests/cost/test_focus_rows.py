"""The normalised rows: FOCUS columns and types, raw columns reachable, parquet and HTML out."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from providers.cost import focus, sample
from providers.cost.analyzer import CloudCostAnalyzer, cents
from providers.cost.frame import FocusFrame
from providers.cost.report import write_report
from providers.local.storage import LocalStorage


def test_rows_have_focus_columns_and_exact_money(
    sample_dir: tuple[sample.SampleTruth, Path],
) -> None:
    truth, folder = sample_dir
    frame = FocusFrame.from_sources([folder])
    table = frame.to_arrow()
    assert table.schema.names == list(focus.COLUMNS)
    assert str(table.schema.field("BilledCost").type) == "decimal128(18, 9)"
    assert set(table.column("ServiceCategory").to_pylist()) <= set(focus.SERVICE_CATEGORIES)
    assert set(table.column("ChargeCategory").to_pylist()) <= set(focus.CHARGE_CATEGORIES)
    total = sum(table.column("BilledCost").to_pylist(), Decimal(0))
    assert total == truth.total()  # exact, not only to the cent
    tags = [json.loads(t) for t in table.column("Tags").to_pylist()]
    assert {"team", "env"} <= set(next(t for t in tags if t))  # CUR's user_ prefix dropped


def test_raw_source_columns_are_reachable(sample_dir: tuple[sample.SampleTruth, Path]) -> None:
    _truth, folder = sample_dir
    rows = FocusFrame.from_sources([folder]).to_pandas()
    row = rows[rows.ProviderName == "azure"].iloc[4]
    raw = duckdb.sql(
        f"SELECT * FROM read_csv('{row.x_SourceFile}', all_varchar=true) "
        f"LIMIT 1 OFFSET {row.x_SourceRow - 1}"
    ).fetchall()[0]
    cols = [
        c[0]
        for c in duckdb.sql(f"DESCRIBE SELECT * FROM read_csv('{row.x_SourceFile}')").fetchall()
    ]
    source = dict(zip(cols, raw, strict=True))
    assert Decimal(source["costInBillingCurrency"]) == row.BilledCost
    assert source["meterCategory"] == row.ServiceName or row.ServiceName == "Azure SQL Database"


def test_report_to_a_directory(sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path) -> None:
    truth, folder = sample_dir
    frame = FocusFrame.from_sources([folder])
    c = CloudCostAnalyzer().compare(frame)
    written = write_report(c, frame, tmp_path / "out")
    assert sorted(Path(p).name for p in written.values()) == sorted(
        ["cost-report.html", "focus-rows.parquet", "comparison.json"]
    )
    html = (tmp_path / "out" / "cost-report.html").read_text()
    assert "<svg" in html and html.count('class="series"') == 3
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert f"{cents(c.totals['aws']):,.2f} USD" in html
    table = pq.read_table(tmp_path / "out" / "focus-rows.parquet")
    assert table.num_rows == len(truth.rows)
    assert sum(table.column("BilledCost").to_pylist(), Decimal(0)) == truth.total()
    data = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert Decimal(data["totals"]["gcp"]) == truth.total("gcp")


def test_report_to_provider_storage_and_source_from_storage(
    sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    truth, _folder = sample_dir
    store = LocalStorage(tmp_path / "bucket")
    for f in truth.files.values():
        store.upload(f, f"exports/{f.parent.name}/{f.name}")

    def opener(url: str) -> tuple[LocalStorage, str]:
        assert url == "block:billing/exports"
        return store, "exports"

    frame = FocusFrame.from_sources(["block:billing/exports"], opener=opener)
    c = CloudCostAnalyzer().compare(frame)
    assert cents(c.total) == cents(truth.total())
    written = write_report(c, frame, store, prefix="reports/2024-01")
    assert set(written) == {"cost-report.html", "focus-rows.parquet", "comparison.json"}
    keys = {o.key for o in store.list_objects("reports/")}
    assert keys == {f"reports/2024-01/{n}" for n in written}
    frame.close()
