"""Malformed input: the error names file, row and column, and nothing partial is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from providers.cost import sample
from providers.cost.analyzer import CloudCostAnalyzer
from providers.cost.frame import FocusFrame
from providers.cost.report import write_report
from providers.errors import CostAnalysisError


def _rewrite_csv(path: Path, row: int, column: str, value: str | None) -> None:
    """Set (or with None, drop) a column; row is the 1-based data row."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    if value is None:
        fields.remove(column)
        for r in rows:
            del r[column]
    else:
        rows[row - 1][column] = value
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _compare_and_report(folder: Path, out: Path) -> None:
    frame = FocusFrame.from_sources([folder])
    comparison = CloudCostAnalyzer().compare(frame)
    write_report(comparison, frame, out)


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("provider", "row", "column", "value", "message"),
    [
        ("azure", 7, "date", "13/45/2024", r"row 7, column 'date': '13/45/2024' is not a date"),
        (
            "azure",
            3,
            "costInBillingCurrency",
            "12,5x",
            r"row 3, column 'costInBillingCurrency': '12,5x' is not a number",
        ),
        (
            "aws",
            11,
            "line_item_unblended_cost",
            "abc",
            r"row 11, column 'line_item_unblended_cost': 'abc' is not a number",
        ),
        (
            "aws",
            4,
            "line_item_usage_start_date",
            "yesterday",
            r"row 4, column 'line_item_usage_start_date': 'yesterday' is not a date",
        ),
        (
            "aws",
            9,
            "line_item_currency_code",
            "DOLLARS",
            r"row 9, column 'line_item_currency_code': 'DOLLARS' is not a known currency",
        ),
        (
            "azure",
            5,
            "chargeType",
            "Freebie",
            r"row 5, column 'chargeType': 'Freebie' is not a known charge type",
        ),
        ("azure", 2, "costInBillingCurrency", "", r"row 2, column 'costInBillingCurrency': empty"),
    ],
)
def test_bad_value_names_file_row_and_column(
    sample_dir: tuple[sample.SampleTruth, Path],
    tmp_path: Path,
    provider: str,
    row: int,
    column: str,
    value: str,
    message: str,
) -> None:
    truth, folder = sample_dir
    path = truth.files[provider]
    _rewrite_csv(path, row, column, value)
    out = tmp_path / "report"
    with pytest.raises(CostAnalysisError, match=message) as err:
        _compare_and_report(folder, out)
    assert str(path) in str(err.value)
    _assert_nothing_written(out)


def test_missing_column_names_file_and_column(
    sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    truth, folder = sample_dir
    _rewrite_csv(truth.files["azure"], 1, "billingCurrency", None)
    out = tmp_path / "report"
    with pytest.raises(CostAnalysisError, match=r"column 'billingCurrency' is missing") as err:
        _compare_and_report(folder, out)
    assert str(truth.files["azure"]) in str(err.value)
    _assert_nothing_written(out)


def test_unknown_currency_in_gcp_jsonl(
    sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    truth, folder = sample_dir
    path = truth.files["gcp"]
    lines = path.read_text().splitlines()
    rec = json.loads(lines[41])
    rec["currency"] = "ZZZ"
    lines[41] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CostAnalysisError, match=rf"file {path}, row 42, column 'currency': 'ZZZ'"):
        _compare_and_report(folder, tmp_path / "report")
    _assert_nothing_written(tmp_path / "report")


def test_bad_parquet_value_is_found_after_aggregation(tmp_path: Path) -> None:
    truth = sample.generate(
        tmp_path / "src", seed=1, days=8, providers=("azure",), azure_format="parquet"
    )
    import pyarrow.parquet as pq

    table = pq.read_table(truth.files["azure"])
    cur = table.column("billingCurrency").to_pylist()
    cur[30] = "EURO"
    table = table.set_column(
        table.schema.get_field_index("billingCurrency"), "billingCurrency", [cur]
    )
    pq.write_table(table, truth.files["azure"])
    with pytest.raises(CostAnalysisError, match=r"row 31, column 'billingCurrency': 'EURO'"):
        _compare_and_report(tmp_path / "src", tmp_path / "out")
    _assert_nothing_written(tmp_path / "out")


def test_unrecognised_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CostAnalysisError, match="format is not recognised") as err:
        FocusFrame.from_sources([path])
    assert str(path) in str(err.value)


def test_no_files_found(tmp_path: Path) -> None:
    with pytest.raises(CostAnalysisError, match="no billing files found"):
        FocusFrame.from_sources([tmp_path / "nothing"])


def test_missing_value_in_parquet_found_through_footer_statistics(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    truth = sample.generate(tmp_path / "src", seed=1, days=8, providers=("aws",))
    table = pq.read_table(truth.files["aws"])
    values = table.column("line_item_unblended_cost").to_pylist()
    values[12] = None
    idx = table.schema.get_field_index("line_item_unblended_cost")
    pq.write_table(
        table.set_column(idx, "line_item_unblended_cost", pa.array(values)), truth.files["aws"]
    )
    with pytest.raises(
        CostAnalysisError, match=r"row 13, column 'line_item_unblended_cost': empty"
    ):
        _compare_and_report(tmp_path / "src", tmp_path / "out")
    _assert_nothing_written(tmp_path / "out")


def test_bad_date_string_in_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    truth = sample.generate(
        tmp_path / "src", seed=1, days=8, providers=("azure",), azure_format="parquet"
    )
    table = pq.read_table(truth.files["azure"])
    dates = table.column("date").to_pylist()
    dates[17] = "2024-13-45"
    idx = table.schema.get_field_index("date")
    pq.write_table(table.set_column(idx, "date", [dates]), truth.files["azure"])
    with pytest.raises(
        CostAnalysisError, match=r"row 18, column 'date': '2024-13-45' is not a date"
    ):
        _compare_and_report(tmp_path / "src", tmp_path / "out")
    _assert_nothing_written(tmp_path / "out")


def test_bad_date_is_found_even_when_a_date_range_is_asked(
    sample_dir: tuple[sample.SampleTruth, Path],
) -> None:
    from datetime import date

    truth, folder = sample_dir
    _rewrite_csv(truth.files["azure"], 40, "date", "not-a-day")
    frame = FocusFrame.from_sources([folder], start=date(2024, 1, 2), end=date(2024, 1, 3))
    with pytest.raises(
        CostAnalysisError, match=r"row 40, column 'date': 'not-a-day' is not a date"
    ):
        CloudCostAnalyzer().compare(frame)
