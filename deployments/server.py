"""A local `prefect server start` process: own home and SQLite database, loopback only.

Used by `specify cloud ui` (a person trying it out) and by the end-to-end tests. Imports
no Prefect: the server runs in a child process started through the `prefect` CLI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

# Loopback needs no proxy; a proxy set in the environment would swallow 127.0.0.1 requests.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

QUIET_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class ServerError(RuntimeError):
    """The Prefect server did not start or stop as expected."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    """True when GET {api_url}/health answers 200."""
    try:
        with _HTTP.open(f"{api_url}/health", timeout=timeout) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group led by proc, SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children (uvicorn, services) share the group: make sure none outlive the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class PrefectServer:
    """`prefect server start --host 127.0.0.1 --port P` with everything under home."""

    def __init__(
        self,
        home: Path | str,
        port: int | None = None,
        timeout: float = 120.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = Path(home).expanduser().resolve()
        self.port = port or free_port()
        self.timeout = timeout
        self.extra_env = extra_env or {}
        self.log_path = self.home / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def db_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.home / 'prefect.db'}"

    def client_env(self) -> dict[str, str]:
        """Settings a client process (CLI, serve, worker) needs to talk to this server."""
        return {**QUIET_ENV, "PREFECT_API_URL": self.api_url}

    def server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(QUIET_ENV)
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_DATABASE_CONNECTION_URL=self.db_url,
            PREFECT_SERVER_API_HOST="127.0.0.1",
            PREFECT_SERVER_API_PORT=str(self.port),
            PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> PrefectServer:
        """Start the server and wait for /api/health; ServerError with the log tail if not."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        prefect = Path(sys.executable).parent / "prefect"
        cmd = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
        cmd += ["server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                env=self.server_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,  # its own group: stop() takes uvicorn with it
            )
        deadline = time.monotonic() + self.timeout
        while not healthy(self.api_url):
            code = self.proc.poll()
            if code is not None or time.monotonic() > deadline:
                why = f"exited with {code}" if code is not None else "is not healthy"
                self.stop()
                raise ServerError(
                    f"prefect server on port {self.port} {why}; last lines of {self.log_path}:\n"
                    f"{tail(self.log_path)}"
                )
            time.sleep(0.25)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
