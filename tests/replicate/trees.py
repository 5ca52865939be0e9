"""The flat-memory tests' tools: large local trees made fast, and a measured run of a
script in a process of its own (its peak RSS is its own, not the test runner's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.emulators import REPO_ROOT

#: defined before each measured script: its own peak RSS in MiB
_PEAK_RSS = """
def peak_rss_mib():
    # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's across exec)
    with open("/proc/self/status") as fh:
        hwm = next(line for line in fh if line.startswith("VmHWM:"))
    return int(hwm.split()[1]) / 1024
"""


def run_json(script: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run script (which may call peak_rss_mib()) with args in a fresh interpreter on
    this checkout; the JSON it prints."""
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS + script, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def hard_link_tree(root: Path, n: int) -> None:
    """n one-byte objects: hard links to one file per directory of 1,000."""
    for d in range(n // 1000):
        directory = root / f"d{d:04d}"
        directory.mkdir(parents=True)
        seed = directory / "f0000"
        seed.write_bytes(b"x")
        for i in range(1, 1000):
            os.link(seed, directory / f"f{i:04d}")
