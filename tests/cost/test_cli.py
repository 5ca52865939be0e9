"""`specify cloud cost`: JSON numbers, CSV, report files, exit codes."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from commands.main import app
from providers.cost import sample
from providers.cost.analyzer import cents

runner = CliRunner()


def test_json_totals_per_provider_and_category(sample_dir: tuple[sample.SampleTruth, Path]) -> None:
    truth, folder = sample_dir
    result = runner.invoke(app, ["cloud", "cost", "--source", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for p in ("aws", "azure", "gcp"):
        # money is an exact decimal string: the generator's exact total, not a float
        assert isinstance(data["totals"][p], str)
        assert Decimal(data["totals"][p]) == truth.total(p)
    for (p, cat), amount in truth.by("category").items():
        assert Decimal(data["by_category"][cat][p]) == amount
    assert data["sample"] is True and data["measure"] == "BilledCost"  # generated data
    assert data["breakdown"] == data["by_category"]
    assert data["cheapest"]["Compute"]["provider"] == "gcp"


def test_group_by_tag_and_csv(sample_dir: tuple[sample.SampleTruth, Path]) -> None:
    truth, folder = sample_dir
    result = runner.invoke(
        app, ["cloud", "cost", "--source", str(folder), "--group-by", "tag:team", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    got = {(r["provider"], r["tag:team"]): r["amount"] for r in rows}
    assert got == {k: f"{cents(v):.2f}" for k, v in truth.by("team").items()}


def test_embedded_default_needs_no_account(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["cloud", "cost", "--from", "2024-02-01", "--to", "2024-03-01", "--report", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    for p in ("aws", "azure", "gcp"):
        assert p in result.stdout
    assert "Cheapest per comparable category" in result.stdout
    assert (tmp_path / "cost-report.html").is_file() and (tmp_path / "focus-rows.parquet").is_file()
    data = json.loads((tmp_path / "comparison.json").read_text())
    assert data["start"] == "2024-02-01" and data["days"] == 29


def test_bad_dates_exit_2_naming_the_option() -> None:
    result = runner.invoke(app, ["cloud", "cost", "--from", "2024-02-30", "--to", "2024-03-01"])
    assert result.exit_code == 2
    assert "--from" in result.stderr and "2024-02-30" in result.stderr
    result = runner.invoke(app, ["cloud", "cost", "--from", "2024-03-01", "--to", "2024-02-01"])
    assert result.exit_code == 2 and "--to" in result.stderr
    result = runner.invoke(app, ["cloud", "cost", "--group-by", "colour"])
    assert result.exit_code == 2 and "--group-by" in result.stderr


def test_malformed_source_exits_2_and_writes_nothing(
    sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    truth, folder = sample_dir
    path = truth.files["aws"]
    text = path.read_text().splitlines()
    text[3] = text[3].replace("USD", "US$")
    path.write_text("\n".join(text) + "\n")
    out = tmp_path / "report"
    result = runner.invoke(app, ["cloud", "cost", "--source", str(folder), "--report", str(out)])
    assert result.exit_code == 2  # bad input
    assert f"file {path}, row 3, column 'line_item_currency_code'" in " ".join(
        result.stderr.split()
    )
    assert not out.exists()


def test_unknown_provider_fails_the_run_unless_optional(
    sample_dir: tuple[sample.SampleTruth, Path],
) -> None:
    truth, folder = sample_dir
    args = ["cloud", "cost", "--from", "2024-01-01", "--to", "2024-01-11", "--source", str(folder)]
    # missing and not optional: the others are still compared, and the run exits 1 (as
    # the flow ends Failed), naming the option that allows it
    result = runner.invoke(app, [*args, "--provider", "nocloud", "--format", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert "nocloud" in data["missing"] and Decimal(data["totals"]["aws"]) == (truth.total("aws"))
    assert "--optional nocloud" in result.stderr
    optional = ["--provider", "nocloud", "--optional", "nocloud", "--format", "json"]
    result = runner.invoke(app, [*args, *optional])
    assert result.exit_code == 0, result.output
    assert "nocloud" in json.loads(result.stdout)["missing"]
    result = runner.invoke(app, [*args, "--provider", "nocloud", "--strict"])
    assert result.exit_code == 1 and "nocloud" in result.stderr


def test_sample_data_is_labelled_in_every_output(tmp_path: Path) -> None:
    base = ["cloud", "cost", "--sample", "--from", "2024-02-01", "--to", "2024-03-01"]
    table = runner.invoke(app, [*base, "--report", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "SAMPLE DATA" in table.stdout
    html = (tmp_path / "cost-report.html").read_text()
    assert 'id="sample-label"' in html and "<title>SAMPLE DATA" in html
    assert json.loads((tmp_path / "comparison.json").read_text())["sample"] is True
    data = json.loads(runner.invoke(app, [*base, "--format", "json"]).stdout)
    assert data["sample"] is True and "SAMPLE DATA" in data["label"]
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, [*base, "--format", "csv"]).stdout)))
    assert rows and all(r["sample"] == "true" for r in rows)


def test_real_export_is_not_labelled_sample() -> None:
    path = (
        Path(__file__).resolve().parent.parent / "data" / "billing" / "focus" / "focus_sample.csv"
    )
    data = json.loads(
        runner.invoke(app, ["cloud", "cost", "--source", str(path), "--format", "json"]).stdout
    )
    assert data["sample"] is False and data["label"] is None
    assert data["sources"][0]["title"] == "FOCUS file"


def test_bad_options_exit_2_naming_the_option(tmp_path: Path) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("EUR,1_000\n")
    for args, option in (
        (["--rates", str(rates)], "--rates"),
        (["--currency", "DOLLARS"], "--currency"),
        (["--measure", "list"], "--measure"),
        (["--group-by", "colour"], "--group-by"),
    ):
        result = runner.invoke(app, ["cloud", "cost", "--sample", *args])
        assert result.exit_code == 2, (args, result.output)
        assert option in result.stderr
