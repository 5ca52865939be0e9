"""The `specify` command line starts without heavy imports and lists the providers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("prefect", "boto3", "google.cloud", "azure")


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        SPECIFY_LOCAL_ROOT=str(tmp_path / "root"),
        SPECIFY_AUDIT_LOG="off",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        COLUMNS="200",
    )
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_help(cli_env: dict[str, str]) -> None:
    top = run(cli_env, "-m", "commands", "--help")
    assert top.returncode == 0, top.stderr
    assert "cloud" in top.stdout and "Usage" in top.stdout
    cloud = run(cli_env, "-m", "commands", "cloud", "--help")
    assert cloud.returncode == 0, cloud.stderr
    assert "providers" in cloud.stdout


def test_help_imports_no_sdk_and_no_prefect(cli_env: dict[str, str]) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from typer.testing import CliRunner
        from commands.main import app

        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0, result.output
        assert "cloud" in result.output
        result = CliRunner().invoke(app, ["cloud", "--help"])
        assert result.exit_code == 0, result.output
        heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or
                 any(m == h or m.startswith(h + ".") for h in {HEAVY!r})]
        print("HEAVY:", sorted(heavy))
        """
    )
    proc = run(cli_env, "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY: []" in proc.stdout


def test_providers_table_and_json(cli_env: dict[str, str]) -> None:
    table = run(cli_env, "-m", "commands", "cloud", "providers")
    assert table.returncode == 0, table.stderr
    for name in ("local", "aws", "gcp", "azure"):
        assert name in table.stdout
    as_json = run(cli_env, "-m", "commands", "cloud", "providers", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = {r["name"]: r for r in json.loads(as_json.stdout)}
    assert {"local", "aws", "gcp", "azure"} <= set(rows)
    assert rows["local"]["sdk_installed"] is True and rows["local"]["credentials"] is True
    assert rows["aws"]["extra"] == "aws" and rows["local"]["source"] == "builtin"
