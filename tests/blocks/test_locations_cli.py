"""Locations are parsed once, at the command's edge: a bad one anywhere in a list exits 2
naming the option before any store is opened or written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from commands.main import app


@pytest.mark.parametrize("command", ["replicate", "verify"])
def test_a_bad_target_stops_the_command_before_any_copy(command: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("x")
    good = tmp_path / "good"
    result = CliRunner().invoke(
        app, ["cloud", command, str(src), "--to", f"{good},az://Not--Valid"]
    )
    assert result.exit_code == 2
    assert "--to" in result.output and "Not--Valid" in result.output
    assert not good.exists()


def test_a_bad_source_names_the_argument(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["cloud", "replicate", "gs://", "--to", str(tmp_path / "t")])
    assert result.exit_code == 2 and "SRC" in result.output
    result = CliRunner().invoke(
        app, ["cloud", "download", "k", str(tmp_path), "--from", "block:Bad"]
    )
    assert result.exit_code == 2 and "--from" in result.output
