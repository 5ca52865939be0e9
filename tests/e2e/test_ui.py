"""The Prefect UI of the e2e server in a real browser (Debian's headless Chromium): the
deployments page and a completed run's artifact, rendered, screenshotted and checked."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import BUCKET, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed: apt-get install -y chromium (.ci/run does it)"
    return path


def browse(url: str, tmp: Path, *, screenshot: Path | None = None) -> str:
    """Load url headless; save a screenshot or return the rendered DOM."""
    profile = tmp / f"profile-{uuid.uuid4().hex[:6]}"
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        f"--user-data-dir={profile}",
        "--window-size=1400,900",
        # the UI is a single-page app: let its scripts fetch and render before capture
        "--virtual-time-budget=15000",
    ]
    cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    result = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def assert_real_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    # a blank 1400x900 page compresses to a few KB; a rendered UI is far larger
    assert len(data) > 30_000, f"{path} is only {len(data)} bytes"


def test_deployments_page_shows_the_deployments(stack: Stack, tmp_path: Path) -> None:
    url = f"{stack.server.url}/deployments"
    png = tmp_path / "deployments.png"
    browse(url, tmp_path, screenshot=png)
    assert_real_png(png)
    dom = browse(url, tmp_path)
    for name in ("by-hand", "replicate", "deploy", "destroy"):
        assert name in dom, f"{name!r} not rendered on {url}"


def test_completed_run_artifact_page(stack: Stack, tmp_path: Path) -> None:
    prefix = f"ui-{uuid.uuid4().hex[:8]}"
    src = stack.local_root / "storage" / BUCKET / prefix
    src.mkdir(parents=True)
    (src / "hello.txt").write_text("hello from the UI test\n")
    result, run = stack.run_deployment(
        "replicate/by-hand",
        {
            "source": f"block:specify-local/{prefix}",
            "targets": [f"block:specify-local/{prefix}-copy"],
        },
    )
    assert run["state"]["type"] == "COMPLETED", result.stdout + result.stderr
    summary = next(a for a in stack.artifacts(run["id"]) if a["key"] == "replicate-summary")

    url = f"{stack.server.url}/artifacts/artifact/{summary['id']}"
    png = tmp_path / "artifact.png"
    browse(url, tmp_path, screenshot=png)
    assert_real_png(png)
    dom = browse(url, tmp_path)
    assert "replicate-summary" in dom
    assert "Replication from" in dom  # the markdown itself, rendered

    run_png = tmp_path / "flow-run.png"
    browse(f"{stack.server.url}/runs/flow-run/{run['id']}", tmp_path, screenshot=run_png)
    assert_real_png(run_png)
