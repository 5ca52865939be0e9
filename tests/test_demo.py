"""The quick start's main job: `specify cloud demo` on the embedded local provider."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_compares_replicates_and_fails_over(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "commands", "cloud", "demo", "--dir", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_env(), "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr
    report = out / "cost-report"
    figures = json.loads((report / "comparison.json").read_text())
    assert set(figures["totals"]) == {"aws", "gcp", "azure"}
    # both local clouds hold verified copies; the primary lost one and the backup served it
    assert (out / "cloud-b" / "cost-report.html").read_bytes() == (
        report / "cost-report.html"
    ).read_bytes()
    assert not (out / "cloud-a" / "cost-report.html").exists()
    assert (out / "restored" / "cost-report.html").read_bytes() == (
        report / "cost-report.html"
    ).read_bytes()
    said = "".join(run.stdout.split())  # Rich wraps long lines
    assert f"(from{(out / 'cloud-b').as_uri()})" in said


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
