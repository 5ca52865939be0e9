"""Flow `cost-compare` under prefect_test_harness: per-source tasks, missing sources,
artifacts with keys, report written."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from providers.cost import sample
from providers.cost.analyzer import cents


def _artifacts(keys: list[str]) -> dict[str, list[object]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> dict[str, list[object]]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
            )
        out: dict[str, list[object]] = {}
        for a in found:
            out.setdefault(a.key or "", []).append(a)
        return out

    return asyncio.run(read())


def test_flow_compares_reports_missing_and_publishes(
    prefect_harness: None, sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    from flows.cost_compare import cost_compare

    truth, folder = sample_dir
    missing = str(tmp_path / "no-such-export")
    out = tmp_path / "out"
    data = cost_compare(
        start="2024-01-01",
        end="2024-01-11",
        sources=[str(folder / "aws"), str(folder / "gcp"), str(folder / "azure"), missing],
        optional=[missing],  # allowed to be missing: the run completes
        output=str(out),
    )
    for p in ("aws", "azure", "gcp"):
        assert Decimal(data["totals"][p]) == truth.total(p)
    assert list(data["missing"]) == [missing]
    assert set(data["artifacts"]) == {"cost-aws", "cost-azure", "cost-gcp", "cost-comparison"}
    found = _artifacts(data["artifacts"])
    assert set(found) == set(data["artifacts"])
    md = found["cost-comparison"][0].data  # type: ignore[attr-defined]
    assert "Cheapest overall" in md and missing in md
    table = found["cost-aws"][0].data  # type: ignore[attr-defined]
    assert f"{cents(truth.total('aws')):.2f}" in str(table)
    assert (out / "cost-report.html").is_file() and (out / "focus-rows.parquet").is_file()


def test_flow_strict_fails_on_a_missing_source(
    prefect_harness: None, sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    from flows.cost_compare import cost_compare

    _, folder = sample_dir
    with pytest.raises(Exception, match="no billing files found"):
        cost_compare(sources=[str(folder), str(tmp_path / "nope")], strict=True)


def test_cli_reads_a_block_location_and_runs_the_flow(
    prefect_harness: None, sample_dir: tuple[sample.SampleTruth, Path], tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from blocks import SpecifyLocal
    from commands.main import app

    truth, _ = sample_dir
    SpecifyLocal(root=str(tmp_path / "cloud"), bucket="billing").save("cost-test", overwrite=True)
    store = SpecifyLocal.load("cost-test").provider().get_storage("billing")
    for f in truth.files.values():
        store.upload(f, f"exports/{f.parent.name}/{f.name}")
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "cloud",
            "cost",
            "--source",
            "block:cost-test/exports",
            "--format",
            "json",
            "--report",
            "block:cost-test/reports",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert Decimal(data["totals"]["gcp"]) == truth.total("gcp")
    assert {o.key for o in store.list_objects("reports/")} == {
        "reports/cost-report.html",
        "reports/focus-rows.parquet",
        "reports/comparison.json",
    }
    result = runner.invoke(
        app,
        ["cloud", "cost", "--prefect", "--source", "block:cost-test/exports", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert Decimal(data["totals"]["azure"]) == truth.total("azure")
    assert "cost-comparison" in data["artifacts"]


def test_cli_prefect_honours_rates_currency_and_measure(
    prefect_harness: None, tmp_path: Path
) -> None:
    """--prefect runs the flow with every option: the same figures as the direct run."""
    import json

    from typer.testing import CliRunner

    from commands.main import app

    data_dir = Path(__file__).resolve().parent.parent / "data" / "billing"
    rates = tmp_path / "rates.csv"
    rates.write_text("currency,rate\nUSD,0.5\n")
    args = [
        "cloud",
        "cost",
        "--source",
        str(data_dir / "focus" / "focus_sample.csv"),
        "--rates",
        str(rates),
        "--currency",
        "EUR",
        "--measure",
        "effective",
        "--format",
        "json",
    ]
    runner = CliRunner()
    direct = runner.invoke(app, args)
    assert direct.exit_code == 0, direct.output
    flow = runner.invoke(app, [*args, "--prefect"])
    assert flow.exit_code == 0, flow.output
    a, b = json.loads(direct.stdout), json.loads(flow.stdout)
    assert a["currency"] == b["currency"] == "EUR"
    assert a["measure"] == b["measure"] == "EffectiveCost"
    assert a["totals"] == b["totals"]
    # AWS EffectiveCost in the FOCUS sample is 13.00 USD (expected_totals.json)
    assert cents(Decimal(b["totals"]["aws"])) == Decimal("6.50")


def test_flow_labels_sample_data_in_artifacts(prefect_harness: None, tmp_path: Path) -> None:
    from flows.cost_compare import cost_compare

    data = cost_compare(start="2024-02-01", end="2024-03-01", sample=True)
    assert data["sample"] is True and data["label"].startswith("SAMPLE DATA")
    found = _artifacts(data["artifacts"])
    latest = {k: max(v, key=lambda a: a.created) for k, v in found.items()}  # type: ignore[attr-defined]
    assert "SAMPLE DATA" in latest["cost-comparison"].data  # type: ignore[attr-defined]
    for key in data["artifacts"]:
        if key != "cost-comparison":
            assert "SAMPLE DATA" in (latest[key].description or "")  # type: ignore[attr-defined]
