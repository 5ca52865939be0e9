"""`specify cloud deploy|status|destroy`: bad input exits 2 naming the field; a real local run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commands.main import app
from tests.emulators import REPO_ROOT

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (["--to", "oracle:us-ashburn-1"], "--to", "unknown provider 'oracle'"),
        (["--to", "aws:us east"], "--to", "is not a region name for aws"),
        (["--to", "aws:us-east-1", "--size", "huge"], "--size", "'huge' is neither a size"),
        (["--to", "local", "--strategy", "yolo"], "--strategy", "unknown strategy"),
        (["--to", "local", "--port", "70000"], "--port", "out of range"),
        (["--to", "local", "--id", "Bad ID"], "--id", "not allowed"),
        # "specify-" + 56 characters would be a 64-character GCE instance name
        (["--to", "gcp:us-central1", "--id", "x" * 56], "--id", "not allowed"),
    ],
)
def test_bad_input_exits_2_naming_the_field(
    app_dir: Path, args: list[str], field: str, words: str
) -> None:
    result = runner.invoke(app, ["cloud", "deploy", str(app_dir), *args])
    assert result.exit_code == 2, result.output
    assert f"{field}:" in result.stderr and words in result.stderr


def test_missing_artifact_and_missing_start_command(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cloud", "deploy", str(tmp_path / "nope"), "--to", "local"])
    assert result.exit_code == 2 and "ARTIFACT:" in result.stderr
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hi")
    result = runner.invoke(app, ["cloud", "deploy", str(tmp_path / "site"), "--to", "local"])
    assert (
        result.exit_code == 2 and "--run:" in result.stderr and "--run 'COMMAND'" in result.stderr
    )


def test_dry_run_prints_the_plan_and_creates_nothing(app_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "cloud",
            "deploy",
            str(app_dir),
            "--to",
            "aws:us-east-1,gcp:us-central1,azure:eastus,local",
            "--size",
            "medium",
            "--dry-run",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert [(r["provider"], r["state"], r["hourly_price"]) for r in plan["results"]] == [
        ("aws", "planned", "0.0416"),
        ("gcp", "planned", "0.033503"),
        ("azure", "planned", "0.0416"),
        ("local", "planned", "0"),
    ]
    assert not (tmp_path / "local").exists() and not (tmp_path / "state").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commands", "cloud", *args],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_to_local_from_the_command_line(app_dir: Path) -> None:
    """`specify cloud deploy ./app --to local` with no account: generated id, live app, destroy."""
    deployed = _cli("deploy", str(app_dir), "--to", "local")
    assert deployed.returncode == 0, deployed.stderr
    dep_id = deployed.stderr.split("deployment id:")[1].split()[0]
    status = json.loads(_cli("status", dep_id, "--json").stdout)
    (row,) = status["results"]
    try:
        assert row["state"] == "running"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{row['address']}/", timeout=5) as resp:
            assert resp.read() == f"hello {dep_id}".encode()
    finally:
        destroyed = _cli("destroy", dep_id, "--json")
    assert destroyed.returncode == 0, destroyed.stderr
    assert [r["state"] for r in json.loads(destroyed.stdout)["results"]] == ["destroyed"]
    with pytest.raises(OSError):
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://{row['address']}/", timeout=2
        )
