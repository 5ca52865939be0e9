"""`specify cloud mb LOCATION` on every store: made once, then reported as existing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.emulators import Emulators

REPO = Path(__file__).resolve().parent.parent


def mb(tmp_path: Path, location: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        SPECIFY_LOCAL_ROOT=str(tmp_path / "root"),
        SPECIFY_AUDIT_LOG="off",
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, "-m", "commands", "cloud", "mb", location, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("scheme", ["s3", "gs", "az", "dir"])
def test_mb_creates_then_keeps(emulators: Emulators, tmp_path: Path, scheme: str) -> None:
    name = f"mb-{uuid.uuid4().hex[:12]}"
    location = str(tmp_path / name) if scheme == "dir" else f"{scheme}://{name}"
    first = mb(tmp_path, location)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["created"] is True
    again = mb(tmp_path, location)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created"] is False
    if scheme == "dir":
        assert (tmp_path / name).is_dir()
