"""scripts/test-deps (run by scripts/test, the README's test command) installs what the
tests need and is missing, as .ci/run does: here on a PATH with no Chromium, no Node.js
and no Azurite, whose apt-get and npm are stand-ins that record what they were asked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _stub(path: Path, log: Path) -> None:
    path.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> {log}\n')
    path.chmod(0o755)


def _machine(tmp_path: Path, *present: str) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "test-deps", root / "scripts" / "test-deps")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    for tool in ("id", "dirname", "basename", "sh"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python").symlink_to(sys.executable)
    for tool in ("apt-get", "npm", *present):
        _stub(bin_dir / tool, log)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return root, log, env


def _run(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash
    return subprocess.run(
        [bash, str(root / "scripts" / "test-deps")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_fresh_machine_gets_chromium_node_and_azurite(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        # without root the script prints the apt-get command instead of running it
        root, log, env = _machine(tmp_path)
        result = _run(root, env)
        assert result.returncode == 0, result.stderr
        assert "sudo apt-get install -y chromium" in result.stderr
        return
    root, log, env = _machine(tmp_path)
    result = _run(root, env)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert "apt-get update -qq" in calls
    for pkg in ("nodejs", "chromium"):  # npm is there (the stand-in)
        assert f"apt-get install -y -qq {pkg}" in calls, calls
    assert "apt-get install -y -qq npm" not in calls
    assert "npm install --no-audit --no-fund" in calls, calls
    assert calls.count("apt-get update -qq") == 1


def test_nothing_is_installed_when_everything_is_there(tmp_path: Path) -> None:
    root, log, env = _machine(tmp_path, "node", "chromium")
    azurite = root / "node_modules" / ".bin" / "azurite-blob"
    azurite.parent.mkdir(parents=True)
    _stub(azurite, log)
    result = _run(root, env)
    assert result.returncode == 0, result.stderr
    assert log.read_text() == "", "nothing was missing, so nothing may be installed"
