"""Public billing exports nobody on this project wrote (tests/data/billing/PROVENANCE.md).

Expected figures come from `expected_totals.json` (computed independently with csv +
Decimal) or are computed here with csv/json + Decimal, never with providers.cost.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commands.main import app
from providers.cost.analyzer import CloudCostAnalyzer, CostComparison
from providers.cost.frame import FocusFrame
from providers.errors import CostInputError

DATA = Path(__file__).resolve().parent.parent / "data" / "billing"
EXPECTED = json.loads((DATA / "expected_totals.json").read_text())
FILES = {
    "focus_sample.csv": DATA / "focus" / "focus_sample.csv",
    "aws_cur1_sample.csv": DATA / "aws" / "aws_cur1_sample.csv",
    "EA_ActualCost_Small.csv": DATA / "azure" / "EA_ActualCost_Small.csv",
    "EA_AmortizedCost_Small.csv": DATA / "azure" / "EA_AmortizedCost_Small.csv",
}
#: the provider as each file names it -> the one id the comparison uses
IDS = {"AWS": "aws", "Microsoft": "azure", "Oracle": "oracle", "aws": "aws", "azure": "azure"}
CENT = Decimal("0.01")
runner = CliRunner()


def cents(v: Decimal) -> Decimal:
    return v.quantize(CENT, rounding=ROUND_HALF_UP)


def compare(*paths: Path, **kw: Any) -> CostComparison:
    frame = FocusFrame.from_sources(list(paths))
    try:
        return CloudCostAnalyzer(**kw).compare(frame)
    finally:
        frame.close()


def rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
        return list(csv.DictReader(fh))


def dsum(values: Any) -> Decimal:
    return sum((Decimal(v) for v in values if v not in ("", None, "NULL")), Decimal(0))


# ------------------------------------------------------------------ the shared exports
@pytest.mark.parametrize("name", sorted(FILES))
def test_every_expected_figure_to_the_cent(name: str) -> None:
    want = EXPECTED[name]
    c = compare(FILES[name])
    assert c.rows == want["rows"]
    if isinstance(want["BilledCost"], dict):
        assert c.measure == "BilledCost"
        for prov, fig in want["BilledCost"].items():
            assert cents(c.billed[IDS[prov]] or Decimal("NaN")) == Decimal(fig["total"]), prov
            assert cents(c.totals[IDS[prov]]) == Decimal(fig["total"]), prov
            if "no_invoice_id" in fig:  # an open month: every row is estimated
                assert cents(c.estimated[IDS[prov]]) == Decimal(fig["no_invoice_id"])
    else:  # an amortized export: BilledCost is not known, the measure is EffectiveCost
        assert c.measure == "EffectiveCost"
        assert all(v is None for v in c.billed.values())
        assert any("amortized" in n for n in c.notes)
        assert any(s["dataset"] == "amortized" for s in c.sources)
    for prov, fig in want["EffectiveCost"].items():
        assert cents(c.effective[IDS[prov]]) == Decimal(fig["total"]), prov
    for cur, per in want["by_currency"].items():
        assert c.currency == cur
        for prov, amount in per.items():
            assert cents(c.totals[IDS[prov]]) == Decimal(amount)
    for prov, charges in want["by_charge"].items():
        got = {k: cents(v) for k, v in c.by_charge[IDS[prov]].items() if v or k in charges}
        assert got == {k: Decimal(v) for k, v in charges.items()}, prov


def test_focus_and_azure_export_give_one_azure_provider() -> None:
    c = compare(FILES["focus_sample.csv"], FILES["EA_ActualCost_Small.csv"])
    assert c.providers == ["aws", "azure", "oracle"]
    assert c.provider_names["azure"] == "Microsoft Azure"
    want = Decimal(EXPECTED["focus_sample.csv"]["BilledCost"]["Microsoft"]["total"]) + Decimal(
        EXPECTED["EA_ActualCost_Small.csv"]["BilledCost"]["azure"]["total"]
    )
    assert abs(c.totals["azure"] - want) < CENT
    titles = {s["title"] for s in c.sources}
    assert titles == {"FOCUS file", "Azure Cost Management export (EA/MCA), actual cost"}


def test_focus_null_strings_are_empty_values() -> None:
    frame = FocusFrame.from_sources([FILES["focus_sample.csv"]])
    table = frame.to_arrow()
    frame.close()
    raw = rows(FILES["focus_sample.csv"])
    for col in ("RegionId", "ResourceId", "PricingUnit"):
        values = table.column(col).to_pylist()
        assert "NULL" not in values, col
        assert values.count(None) == sum(1 for r in raw if r[col] in ("NULL", "")), col


def test_cheapest_overall_is_not_a_provider_with_pennies() -> None:
    c = compare(FILES["focus_sample.csv"])
    overall = c.cheapest_overall
    assert overall["comparable"] is False and overall["provider"] is None
    assert "oracle 0.54" in overall["reason"]
    for verdict in c.cheapest.values():
        if verdict["comparable"]:
            assert all(v >= 10 for v in verdict["costs"].values())


# ------------------------------------------------------------------ AWS
def test_savings_plan_covered_usage_effective_cost() -> None:
    path = DATA / "aws" / "koku-2023-06-01-savings-plan.csv"
    raw = rows(path)
    c = compare(path)
    assert c.currency == "NOK"
    assert c.billed["aws"] == dsum(r["lineItem/UnblendedCost"] for r in raw) == Decimal(30)
    # FOCUS: SavingsPlanCoveredUsage -> EffectiveCost = savingsPlan/SavingsPlanEffectiveCost
    assert c.effective["aws"] == dsum(r["savingsPlan/SavingsPlanEffectiveCost"] for r in raw)
    assert c.effective["aws"] == Decimal("0.3")
    assert c.by_charge["aws"] == {"Usage": Decimal(30)}
    eff = compare(path, measure="effective")
    assert eff.measure == "EffectiveCost" and eff.totals["aws"] == Decimal("0.3")


def test_legacy_cur_gzip_and_several_files_with_manifest(tmp_path: Path) -> None:
    src = FILES["aws_cur1_sample.csv"]
    want = dsum(r["lineItem/UnblendedCost"] for r in rows(src))
    gz = tmp_path / "single" / "report-1.csv.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert cents(compare(gz).totals["aws"]) == cents(want)
    # a CUR delivery: two parts listed by the manifest, and an older assembly of the month
    lines = src.read_text("utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    root = tmp_path / "cur" / "daily" / "20231101-20231201"
    current, old = root / "asm-2", root / "asm-1"
    current.mkdir(parents=True)
    old.mkdir()
    (current / "daily-1.csv.gz").write_bytes(gzip.compress((header + "".join(body[:600])).encode()))
    (current / "daily-2.csv.gz").write_bytes(gzip.compress((header + "".join(body[600:])).encode()))
    (old / "daily-1.csv.gz").write_bytes(gzip.compress(src.read_bytes()))
    manifest = {
        "assemblyId": "asm-2",
        "reportKeys": [
            "cur/daily/20231101-20231201/asm-2/daily-1.csv.gz",
            "cur/daily/20231101-20231201/asm-2/daily-2.csv.gz",
        ],
    }
    (root / "daily-Manifest.json").write_text(json.dumps(manifest))
    c = compare(tmp_path / "cur")
    # the old assembly is not counted
    assert cents(c.totals["aws"]) == cents(want) and c.rows == len(body)
    assert {s["title"] for s in c.sources} == {"AWS legacy Cost and Usage Report"}


def test_cur2_names_as_csv_and_parquet_with_flattened_tags(tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    src = DATA / "aws" / "koku-2022-07-01-alt-columns.csv"
    raw = rows(src)
    want = dsum(r["line_item_unblended_cost"] for r in raw)
    options = pacsv.ConvertOptions(strings_can_be_null=True, column_types={})
    table = pacsv.read_csv(src, convert_options=options)
    pq.write_table(table, tmp_path / "cur2.parquet")
    for path in (src, tmp_path / "cur2.parquet"):
        c = compare(path)
        assert c.totals["aws"] == want and c.rows == len(raw)
        assert c.sources[0]["title"] == "AWS CUR 2.0"
    frame = FocusFrame.from_sources([src])
    tags = [json.loads(t) for t in frame.to_arrow().column("Tags").to_pylist()]
    frame.close()
    for tag, r in zip(tags, raw, strict=True):
        want_tags = {
            k.removeprefix("resource_tags_").removeprefix("user_"): v
            for k, v in r.items()
            if k.startswith("resource_tags_") and v
        }
        assert tag == want_tags


# ------------------------------------------------------------------ Azure
def test_azure_list_cost_from_payg_price() -> None:
    path = FILES["EA_ActualCost_Small.csv"]
    raw = rows(path)
    frame = FocusFrame.from_sources([path])
    got = sum(frame.to_arrow().column("ListCost").to_pylist(), Decimal(0))
    frame.close()
    want = sum((Decimal(r["PayGPrice"]) * Decimal(r["Quantity"]) for r in raw), Decimal(0))
    assert cents(got) == cents(want)
    assert got != sum((Decimal(r["Cost"]) for r in raw), Decimal(0))


@pytest.mark.parametrize(
    ("name", "cost", "currency"),
    [
        ("koku-azure_camelCased.csv", "preTaxCost", "currency"),
        ("koku-costreport-legacy.csv", "PreTaxCost", "Currency"),
        ("koku-camel_azure_version_2.csv", "costInBillingCurrency", "billingCurrency"),
        ("sample-anonymous-ea-export-dataset.csv", "CostInBillingCurrency", "BillingCurrencyCode"),
    ],
)
def test_azure_schemas(name: str, cost: str, currency: str) -> None:
    path = DATA / "azure" / name
    raw = rows(path)
    c = compare(path)
    assert c.providers == ["azure"] and c.rows == len(raw)
    assert c.currency == raw[0][currency]
    assert cents(c.totals["azure"]) == cents(dsum(r[cost] for r in raw))


def test_mixed_line_endings_and_bom(tmp_path: Path) -> None:
    src = FILES["EA_ActualCost_Small.csv"]
    data = src.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    mixed = b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines) if line)
    path = tmp_path / "mixed.csv"
    path.write_bytes(mixed)
    assert cents(compare(path).totals["azure"]) == cents(dsum(r["Cost"] for r in rows(src)))


@pytest.mark.parametrize(
    "path",
    [
        DATA / "azure" / "EA_NoRows.csv",
        DATA / "azure" / "koku-empty_frame.csv",
        DATA / "aws" / "koku-empty_frame.csv",
    ],
)
def test_export_with_no_rows_is_an_error_naming_it(path: Path) -> None:
    with pytest.raises(CostInputError, match="no data rows") as err:
        compare(path, FILES["focus_sample.csv"])
    assert str(path) in str(err.value)


def test_cut_exports_are_errors_naming_file_row_and_column(tmp_path: Path) -> None:
    src = FILES["EA_ActualCost_Small.csv"].read_bytes()
    cut = tmp_path / "cut-mid-row.csv"
    cut.write_bytes(src[: src.rstrip().rindex(b"\n") + 200])  # inside the last row
    with pytest.raises(CostInputError) as err:
        compare(cut)
    text = str(err.value)
    assert f"file {cut}, row 11, column " in text and "cut short" in text
    assert "Possible fixes" not in text and "duckdb" not in text.lower()
    header_cut = tmp_path / "cut-in-header.csv"
    header_cut.write_bytes(src[:200])
    with pytest.raises(CostInputError, match=r"no data rows|not recognised") as err:
        compare(header_cut)
    assert str(header_cut) in str(err.value)
    # every row one value short of the header (a malformed public file)
    short = DATA / "aws" / "koku-test_cur.csv.gz"
    with pytest.raises(CostInputError, match=r"row 1, column 'costCategory/CostCenter'"):
        compare(short)


def test_cli_bad_exports_exit_2_with_the_fix(tmp_path: Path) -> None:
    for path in (DATA / "azure" / "EA_NoRows.csv", DATA / "aws" / "koku-test_cur.csv"):
        result = runner.invoke(
            app,
            ["cloud", "cost", "--source", str(FILES["focus_sample.csv"]), "--source", str(path)],
        )
        assert result.exit_code == 2, result.output
        text = " ".join(result.stderr.split())
        assert str(path) in text and "Traceback" not in text and "Possible fixes" not in text


# ------------------------------------------------------------------ GCP
def _gcp_rows(path: Path) -> list[dict[str, Any]]:
    """The dotted CSV rebuilt into BigQuery's nested rows (as bq --format=json writes them:
    numbers as strings)."""
    out = []
    for r in rows(path):
        row: dict[str, Any] = {}
        for k, v in r.items():
            if "." in k:
                head, tail = k.split(".", 1)
                row.setdefault(head, {})[tail] = v or None
            elif k in ("credits", "labels"):
                row[k] = [
                    {kk: (str(vv) if vv is not None else None) for kk, vv in d.items()}
                    for d in ast.literal_eval(v or "[]")
                ]
            else:
                row[k] = v or None
        out.append(row)
    return out


def _gcp_net(path: Path) -> Decimal:
    total = Decimal(0)
    for r in rows(path):
        credits = ast.literal_eval(r["credits"] or "[]")
        total += Decimal(r["cost"]) + sum((Decimal(str(c["amount"])) for c in credits), Decimal(0))
    return total


@pytest.mark.parametrize("name", ["koku-202011-dotted.csv", "koku-2022-08-01-dotted.csv"])
def test_gcp_dotted_csv_json_lines_array_pretty_and_gzip(tmp_path: Path, name: str) -> None:
    src = DATA / "gcp" / name
    want = _gcp_net(src)
    n = len(rows(src))
    nested = _gcp_rows(src)
    variants = {
        "rows.jsonl": "\n".join(json.dumps(r) for r in nested) + "\n",
        "rows.json": json.dumps(nested),
        "pretty.json": json.dumps(nested, indent=2),
    }
    paths = [src]
    for fname, text in variants.items():
        (tmp_path / fname).write_text(text)
        paths.append(tmp_path / fname)
    gz = tmp_path / "pretty.json.gz"
    gz.write_bytes(gzip.compress(variants["pretty.json"].encode()))
    paths.append(gz)
    for path in paths:
        c = compare(path)
        assert c.providers == ["gcp"] and c.rows == n, path
        assert c.totals["gcp"].quantize(Decimal("1e-9")) == want.quantize(Decimal("1e-9")), path
        assert c.sources[0]["title"] == "GCP BigQuery billing export"


def _gcp_json_with(tmp_path: Path, **override: Any) -> Path:
    nested = _gcp_rows(DATA / "gcp" / "koku-2022-08-01-dotted.csv")
    nested[2].update(override)
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in nested) + "\n")
    return path


@pytest.mark.parametrize("value", ["1_000", True, "1,5", "NaN"])
def test_gcp_numbers_follow_one_strict_rule(tmp_path: Path, value: Any) -> None:
    path = _gcp_json_with(tmp_path, cost=value)
    with pytest.raises(CostInputError, match=r"row 3, column 'cost'|column 'cost' holds true"):
        compare(path)


def test_gcp_huge_cost_is_an_error_not_dropped(tmp_path: Path) -> None:
    nested = _gcp_rows(DATA / "gcp" / "koku-2022-08-01-dotted.csv")
    for r in nested:
        r["cost"] = float(r["cost"])
    nested[2]["cost"] = 1e308
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in nested) + "\n")
    with pytest.raises(CostInputError, match=r"row 3, column 'cost': .* out of range"):
        compare(path)


def test_json_of_the_wrong_shape_says_the_expected_shape(tmp_path: Path) -> None:
    nested = _gcp_rows(DATA / "gcp" / "koku-2022-08-01-dotted.csv")
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"rows": nested}))
    with pytest.raises(CostInputError, match=r"JSON lines .* or a JSON array of row objects"):
        compare(path)


# ------------------------------------------------------------------ FOCUS versions
def _focus_variant(tmp_path: Path, rename: dict[str, str], drop: set[str]) -> Path:
    raw = rows(FILES["focus_sample.csv"])
    fields = [rename.get(f, f) for f in raw[0] if f not in drop]
    path = tmp_path / "focus-variant.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in raw:
            w.writerow({rename.get(k, k): v for k, v in r.items() if k not in drop})
    return path


def test_focus_1_3_service_provider_name_and_missing_mandatory_columns(tmp_path: Path) -> None:
    path = _focus_variant(
        tmp_path, {"ProviderName": "ServiceProviderName"}, {"ChargeClass", "InvoiceIssuerName"}
    )
    c = compare(path)
    assert c.providers == ["aws", "azure", "oracle"]
    want = EXPECTED["focus_sample.csv"]["BilledCost"]
    for prov, fig in want.items():
        assert cents(c.totals[IDS[prov]]) == Decimal(fig["total"])
    assert any("ChargeClass" in w and "InvoiceIssuerName" in w for w in c.warnings)


def test_focus_file_missing_a_needed_column_is_refused(tmp_path: Path) -> None:
    path = _focus_variant(tmp_path, {}, {"BillingCurrency"})
    with pytest.raises(CostInputError, match="column 'BillingCurrency' is missing"):
        compare(path)


def test_per_provider_totals_from_independent_sums() -> None:
    """FOCUS sample per provider and charge category, summed here."""
    per: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows(FILES["focus_sample.csv"]):
        per[(IDS[r["ProviderName"]], r["ChargeCategory"])] += Decimal(r["BilledCost"])
    c = compare(FILES["focus_sample.csv"])
    for (prov, charge), amount in per.items():
        assert cents(c.by_charge[prov][charge]) == cents(amount)


def test_cur2_data_exports_manifest_lists_the_files(tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    src = DATA / "aws" / "koku-2022-07-01-alt-columns.csv"
    want = dsum(r["line_item_unblended_cost"] for r in rows(src))
    table = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    period = tmp_path / "export" / "data" / "BILLING_PERIOD=2022-07"
    period.mkdir(parents=True)
    pq.write_table(table, period / "export-00001.snappy.parquet")
    stale = tmp_path / "export" / "data" / "BILLING_PERIOD=2022-07-old"
    stale.mkdir()
    pq.write_table(table, stale / "export-00001.snappy.parquet")  # not in the manifest
    manifest = {
        "dataFiles": ["s3://bucket/export/data/BILLING_PERIOD=2022-07/export-00001.snappy.parquet"],
        "billingPeriod": {"start": "2022-07-01", "end": "2022-08-01"},
    }
    (tmp_path / "export" / "Manifest.json").write_text(json.dumps(manifest))
    c = compare(tmp_path / "export")
    assert c.totals["aws"] == want and c.rows == len(rows(src))


def test_mca_list_cost_from_payg_cost() -> None:
    path = DATA / "azure" / "koku-camel_azure_version_2.csv"
    frame = FocusFrame.from_sources([path])
    got = sum(frame.to_arrow().column("ListCost").to_pylist(), Decimal(0))
    frame.close()
    nine = Decimal("1e-9")  # amounts are kept to nine decimals, row by row
    want = sum(
        (Decimal(r["paygCostInBillingCurrency"]).quantize(nine) for r in rows(path)), Decimal(0)
    )
    assert got == want != 0


def test_typed_amount_that_does_not_fit_is_an_error_not_null(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    src = DATA / "aws" / "koku-2022-07-01-alt-columns.csv"
    table = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    for col, where in (
        ("line_item_unblended_cost", "row 2"),
        ("pricing_public_on_demand_cost", ""),
    ):
        values = pa.array([0.0, 1e308], pa.float64())
        t = table.set_column(table.schema.get_field_index(col), col, values)
        path = tmp_path / f"{col}.parquet"
        pq.write_table(t, path)
        frame = FocusFrame.from_sources([path])
        with pytest.raises(CostInputError, match=rf"{where}.*out of range"):
            frame.write_parquet(tmp_path / "rows.parquet")
        frame.close()
        assert not (tmp_path / "rows.parquet").exists()


def test_oci_cost_report_is_provider_oracle() -> None:
    path = DATA / "oci" / "reports_cost-csv_0000000030000269.csv"
    raw = rows(path)
    c = compare(path, FILES["focus_sample.csv"])
    assert c.providers == ["aws", "azure", "oracle"]
    want = dsum(r["cost/myCost"] for r in raw) + dsum(
        r["BilledCost"] for r in rows(FILES["focus_sample.csv"]) if r["ProviderName"] == "Oracle"
    )
    assert cents(c.totals["oracle"]) == cents(want)
    assert "Oracle Cloud (OCI) cost report" in {s["title"] for s in c.sources}
    assert c.by_category["Databases"]["oracle"] > 0
