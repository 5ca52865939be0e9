"""End-to-end fixtures: one real Prefect server per session (own home and SQLite DB),
blocks saved on it that point at the emulators, and `python -m deployments.serve`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.emulators import Emulators
from tests.prefect_server import REPO_ROOT, Served, TestServer, wait_for_final_state

BUCKET = "specify-e2e"
RUN_ID = re.compile(r"UUID:\s*([0-9a-f-]{36})")


@pytest.fixture(scope="session")
def prefect_test_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    """A `prefect server start` on a free loopback port, with helpers to drive it."""
    with TestServer(tmp_path_factory.mktemp("prefect-server"), timeout=180) as server:
        yield server


@pytest.fixture(scope="session")
def prefect_server(prefect_test_server: TestServer) -> str:
    """The API URL (http://127.0.0.1:P/api) of the session's real Prefect server."""
    return prefect_test_server.api_url


@dataclass
class Stack:
    """The server, the served deployments and the blocks saved for the emulators."""

    server: TestServer
    served: Served
    emulators: Emulators
    local_root: Path
    blocks: list[dict[str, Any]]  # rows of `specify cloud blocks init --json`
    register_output: str

    def target(self, cloud: str, prefix: str) -> str:
        """The location of prefix in cloud: its block when one was saved, else the URL."""
        for row in self.blocks:
            if row["cloud"] == cloud and row["created"]:
                return f"block:{row['name']}/{prefix}"
        scheme = {"aws": "s3", "gcp": "gs", "azure": "az"}[cloud]
        return f"{scheme}://{BUCKET}/{prefix}"

    def run_deployment(
        self, name: str, params: dict[str, Any] | None = None, timeout: float = 150
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """`prefect deployment run NAME --params JSON --watch`; the CLI result and the run."""
        args = ["deployment", "run", name, "--watch", "--watch-interval", "1"]
        if params is not None:
            args += ["--params", json.dumps(params)]
        result = self.server.prefect(*args, timeout=timeout)
        found = RUN_ID.search(result.stdout)
        assert found, f"no flow run id in:\n{result.stdout}\n{result.stderr}"
        return result, wait_for_final_state(self.server, found.group(1), timeout=30)

    def artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
        return list(self.server.api("POST", "/artifacts/filter", body))

    def task_runs(self, flow_run_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
        return list(self.server.api("POST", "/task_runs/filter", body))

    def logs(self, flow_run_id: str) -> list[dict[str, Any]]:
        body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC"}
        return list(self.server.api("POST", "/logs/filter", body))

    def events(self, flow_run_id: str, prefix: str, expect: int = 1) -> list[dict[str, Any]]:
        """Events named prefix* that relate the flow run, read back from the server's
        events API (they arrive a moment after the run ends)."""
        body = {
            "filter": {
                "event": {"prefix": [prefix]},
                "related": {"id": [f"prefect.flow-run.{flow_run_id}"]},
            },
            "limit": 50,  # the most the API returns per page
        }
        deadline = time.monotonic() + 30
        while True:
            found = list(self.server.api("POST", "/events/filter", body)["events"])
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@pytest.fixture(scope="session")
def stack(
    prefect_test_server: TestServer,
    emulators: Emulators,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    server = prefect_test_server
    # Every block type registers through Prefect's own CLI.
    registered = server.prefect("block", "register", "-m", "blocks")
    assert registered.returncode == 0, registered.stdout + registered.stderr

    local_root = tmp_path_factory.mktemp("local-cloud")
    init = subprocess.run(
        [
            *(sys.executable, "-m", "commands.main", "cloud", "blocks", "init"),
            *("--emulators", str(emulators.state_dir), "--bucket", BUCKET),
            *("--local-root", str(local_root), "--json"),
        ],
        env=server.env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    blocks = json.loads(init.stdout)

    log = server.home / "serve.log"
    # One tenacity attempt per SDK call: Prefect's task retries (visible in the UI) and
    # the SDKs' own retries are enough, and a run against a stopped emulator ends quickly.
    # Progress lines every half second, so a short test run logs several.
    env = server.env(
        SPECIFY_LOCAL_ROOT=str(local_root),
        SPECIFY_RETRY_ATTEMPTS="1",
        SPECIFY_RETRY_WAIT="0.1",
        SPECIFY_PROGRESS_INTERVAL="0.5",
        SPECIFY_DEPLOY_STATE=str(tmp_path_factory.mktemp("deploy-state")),
    )
    served = Served(server, log, env)
    try:
        served.wait_for(["cost-compare/daily", "replicate/by-hand"], timeout=120)
        yield Stack(server, served, emulators, local_root, blocks, registered.stdout)
    finally:
        served.stop()
