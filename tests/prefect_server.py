"""A real Prefect server for end-to-end tests: `prefect server start` on a free loopback
port, its own PREFECT_HOME and SQLite database, stopped by process group.

    with TestServer(tmp_dir) as server:
        subprocess.run(["prefect", "deployment", "ls"], env=server.client_env(os.environ))

The process handling lives in deployments.server (shared with `specify cloud ui`); this
module adds what tests need: client environments, a served-deployments process, waiting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deployments.server import PrefectServer, stop_group, tail

REPO_ROOT = Path(__file__).resolve().parent.parent
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Runs are picked up every PREFECT_RUNNER_POLL_FREQUENCY seconds (10 by default).
TEST_CLIENT_ENV = {
    "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}


class TestServer(PrefectServer):
    """PrefectServer plus helpers for driving it from tests."""

    __test__ = False  # not a pytest test class

    def env(self, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
        """A full environment for a client subprocess (base defaults to os.environ)."""
        env = {k: v for k, v in (base or os.environ).items() if not k.startswith("PREFECT_")}
        env.update(TEST_CLIENT_ENV)
        env.update(self.client_env())
        # Clients keep their own home: profiles and caches stay out of the user's ~/.prefect.
        env["PREFECT_HOME"] = str(self.home / "client")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env.update(extra)
        return env

    def prefect(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Run the prefect CLI against this server."""
        exe = Path(sys.executable).parent / "prefect"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "prefect"]
        return subprocess.run(
            [*cmd, *args],
            env=dict(env) if env is not None else self.env(),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """JSON request to the server's REST API (path relative to /api)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with _HTTP.open(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None


class Served:
    """`python -m deployments.serve` in its own process group, logging to a file."""

    def __init__(self, server: TestServer, log_path: Path, env: Mapping[str, str]) -> None:
        self.server = server
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deployments.serve"],
                env=dict(env),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for(self, names: list[str], timeout: float = 90) -> list[dict[str, Any]]:
        """Wait until every 'flow/deployment' name is registered; return the deployments."""
        deadline = time.monotonic() + timeout
        while True:
            found = deployments_by_name(self.server)
            if all(n in found for n in names):
                return [found[n] for n in names]
            code = self.proc.poll()
            if code is not None or time.monotonic() > deadline:
                state = "still running" if code is None else f"exited {code}"
                raise AssertionError(
                    f"deployments {names} not all served (have {sorted(found)}); serve "
                    f"{state}; last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        stop_group(self.proc)


def deployments_by_name(server: TestServer) -> dict[str, dict[str, Any]]:
    flows = {f["id"]: f["name"] for f in server.api("POST", "/flows/filter", {})}
    return {
        f"{flows.get(d['flow_id'], '?')}/{d['name']}": d
        for d in server.api("POST", "/deployments/filter", {})
    }


def wait_for_final_state(server: TestServer, flow_run_id: str, timeout: float = 120) -> dict:
    """Poll a flow run until its state is final; return the flow run."""
    deadline = time.monotonic() + timeout
    while True:
        run = server.api("GET", f"/flow_runs/{flow_run_id}")
        if run["state"] and run["state"]["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
            return dict(run)
        if time.monotonic() > deadline:
            raise AssertionError(f"flow run {flow_run_id} still {run['state']} after {timeout}s")
        time.sleep(0.5)
