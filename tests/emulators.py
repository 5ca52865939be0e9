"""Local cloud emulators for tests: moto (AWS), gcp-storage-emulator (GCS), Azurite (Azure Blob).

Python API::

    with Emulators(state_dir) as emu:      # starts all three
        os.environ.update(emu.env)

Command line (state in ``.specify-cloud/emulators`` under the repo root by default)::

    eval "$(python -m tests.emulators up)"
    python -m tests.emulators env | status | down [--state-dir DIR]

Each server runs in its own process group on a free 127.0.0.1 port and logs to
``<state-dir>/<name>.log``. ``stop_one``/``start_one`` keep the port, so a test can take
one emulator down and bring it back where clients expect it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".specify-cloud" / "emulators"
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
NAMES: tuple[str, ...] = ("moto", "gcs", "azurite")
STATE_FILE = "state.json"

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
GCP_PROJECT = "test-project"

# Ignore any proxy settings: the emulators are on loopback.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 = state), or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def _group_alive(pgid: int) -> bool:
    """True while any non-zombie process is in process group ``pgid``."""
    if not Path("/proc").is_dir():  # not Linux: best effort
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def kill_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)  # reap if it is our child
            if not _group_alive(pgid):
                return
            time.sleep(0.05)
    raise EmulatorError(f"process group {pgid} survived SIGKILL")


def _http_status(url: str, method: str = "GET", timeout: float = 2.0) -> int:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with _HTTP.open(req, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as e:  # any HTTP answer counts as "up"
        return int(e.code)


def ensure_tools(which: Iterable[str] = NAMES) -> None:
    """Install whatever emulator is missing (pip for Python ones, npm for Azurite)."""
    which = set(which)
    pip: list[str] = []
    if "moto" in which and _find_script("moto_server") is None:
        pip.append("moto[server]")
    if "gcs" in which and _find_script("gcp-storage-emulator") is None:
        pip.append("gcp-storage-emulator")
    if pip:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *pip], check=True)
    if "azurite" in which and not AZURITE_BIN.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise EmulatorError("npm not found: install nodejs and npm to run Azurite")
        spec = [] if (REPO_ROOT / "package.json").exists() else ["--no-save", "azurite@3"]
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", *spec],
            cwd=REPO_ROOT,
            check=True,
            stdin=subprocess.DEVNULL,
        )
        if not AZURITE_BIN.exists():
            raise EmulatorError(f"npm install did not create {AZURITE_BIN}")


def _find_script(name: str) -> str | None:
    beside = Path(sys.executable).parent / name  # same environment as this interpreter
    return str(beside) if beside.exists() else shutil.which(name)


class Emulators:
    """Start, stop and describe the three emulators. Also a context manager."""

    def __init__(self, state_dir: Path | str | None = None, timeout: float = 60.0) -> None:
        self.state_dir = Path(state_dir) if state_dir else DEFAULT_STATE_DIR
        self.timeout = timeout
        self.ports: dict[str, int] = {}
        self.pids: dict[str, int] = {}
        self.started_at: dict[str, int | None] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Emulators:
        if not self.pids:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, which: Iterable[str] = NAMES) -> Emulators:
        """Start the named emulators concurrently and wait until each answers."""
        names = [n for n in which if n not in self.pids]
        for n in names:
            if n not in NAMES:
                raise ValueError(f"unknown emulator {n!r}; expected one of {NAMES}")
        ensure_tools(names)
        fresh = {n for n in names if n not in self.ports}
        try:
            for n in names:
                self._spawn(n)
            for n in names:
                try:
                    self._wait_ready(n)
                except EmulatorError:
                    if n not in fresh or self._procs[n].poll() is None:
                        raise
                    # Most likely lost a race for the free port: once more on another one.
                    self._kill(n)
                    del self.ports[n]
                    self._spawn(n)
                    self._wait_ready(n)
        except BaseException:
            for n in names:
                self._kill(n)
            raise
        self.save()
        return self

    def stop(self) -> None:
        """Stop every emulator this object knows about and remove the state file."""
        for name in list(self.pids):
            self._kill(name)
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / STATE_FILE).unlink()

    def start_one(self, name: str) -> None:
        """(Re)start one emulator, on its previous port if it had one."""
        if name in self.pids:
            raise EmulatorError(f"{name} is already running (pid {self.pids[name]})")
        self._spawn(name)
        try:
            self._wait_ready(name)
        except BaseException:
            self._kill(name)
            raise
        self.save()

    def stop_one(self, name: str) -> None:
        """Stop one emulator; its port is kept for ``start_one``."""
        self._kill(name)
        self.save()

    def restart(self, name: str) -> None:
        """Fresh process on the same port (moto and gcs lose their data; Azurite keeps it)."""
        if name in self.pids:
            self.stop_one(name)
        self.start_one(name)

    def reset_moto(self) -> None:
        _http_status(self.url("moto") + "/moto-api/reset", method="POST")

    def reset_gcs(self) -> None:
        """Delete every bucket and object (the emulator's own /wipe endpoint)."""
        _http_status(self.url("gcs") + "/wipe")

    def alive(self) -> dict[str, bool]:
        """Which recorded emulators still run (a reused PID does not count)."""
        return {
            n: _group_alive(pid) and self.started_at.get(n) in (None, _start_time(pid))
            for n, pid in self.pids.items()
        }

    # -- description -------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if "moto" in self.ports:
            env.update(
                AWS_ENDPOINT_URL=self.url("moto"),
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_DEFAULT_REGION="us-east-1",
                SPECIFY_MOTO_URL=self.url("moto"),
            )
        if "gcs" in self.ports:
            env.update(
                STORAGE_EMULATOR_HOST=self.url("gcs"),
                GOOGLE_CLOUD_PROJECT=GCP_PROJECT,
                SPECIFY_GCS_URL=self.url("gcs"),
            )
        if "azurite" in self.ports:
            blob = f"{self.url('azurite')}/{AZURITE_ACCOUNT}"
            env.update(
                AZURE_STORAGE_CONNECTION_STRING=(
                    f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                    f"AccountKey={AZURITE_KEY};BlobEndpoint={blob};"
                ),
                SPECIFY_AZURITE_URL=self.url("azurite"),
            )
        return env

    def exports(self) -> str:
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(self.env.items()))

    # -- state file --------------------------------------------------------------------
    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "pids": self.pids,
            "ports": self.ports,
            "started_at": self.started_at,
            "env": self.env,
        }
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.state_dir / STATE_FILE)

    @classmethod
    def load(cls, state_dir: Path | str | None = None) -> Emulators | None:
        emu = cls(state_dir)
        try:
            state = json.loads((emu.state_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        emu.pids = {k: int(v) for k, v in state["pids"].items()}
        emu.ports = {k: int(v) for k, v in state["ports"].items()}
        emu.started_at = dict(state.get("started_at", {}))
        return emu

    # -- internals ---------------------------------------------------------------------
    def _command(self, name: str, port: int) -> list[str]:
        host = "127.0.0.1"
        if name == "moto":
            return [str(_find_script("moto_server")), "-H", host, "-p", str(port)]
        if name == "gcs":
            return [
                str(_find_script("gcp-storage-emulator")),
                "start",
                "--host",
                host,
                "--port",
                str(port),
                "--in-memory",
            ]
        location = self.state_dir / "azurite"
        location.mkdir(parents=True, exist_ok=True)
        return [
            str(AZURITE_BIN),
            "--blobHost",
            host,
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]

    def _spawn(self, name: str) -> None:
        port = self.ports.get(name) or free_port()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / f"{name}.log", "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting on port {port}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                self._command(name, port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                start_new_session=True,
            )
        self._procs[name] = proc
        self.pids[name] = proc.pid
        self.ports[name] = port
        self.started_at[name] = _start_time(proc.pid)

    def _probe(self, name: str) -> bool:
        base = self.url(name)
        try:
            if name == "azurite":
                with socket.create_connection(("127.0.0.1", self.ports[name]), timeout=1):
                    pass
                _http_status(f"{base}/{AZURITE_ACCOUNT}?comp=list")
                return True
            path = "/moto-api/" if name == "moto" else "/storage/v1/b?project=" + GCP_PROJECT
            return _http_status(base + path) == 200
        except (OSError, urllib.error.URLError):
            return False

    def _wait_ready(self, name: str) -> None:
        proc = self._procs[name]
        deadline = time.monotonic() + self.timeout
        while True:
            if self._probe(name) and proc.poll() is None:
                return  # answered, and not some other server left on this port
            code = proc.poll()
            if code is not None or time.monotonic() > deadline:
                why = f"exited with {code}" if code is not None else f"no answer in {self.timeout}s"
                log = self.state_dir / f"{name}.log"
                raise EmulatorError(
                    f"{name} on port {self.ports[name]} {why}; last lines of {log}:\n{_tail(log)}"
                )
            time.sleep(0.05)

    def _kill(self, name: str) -> None:
        pid = self.pids.pop(name, None)
        started = self.started_at.pop(name, None)
        proc = self._procs.pop(name, None)
        if pid is None:
            return
        if started is not None and _start_time(pid) not in (None, started):
            return  # PID reused by an unrelated process: it is not ours to kill
        kill_group(pid)
        if proc is not None:
            proc.wait(timeout=5)


# -- command line ----------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulators",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "env", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        help="with up: start only this emulator (repeatable)",
    )
    args = parser.parse_args(argv)
    emu = Emulators.load(args.state_dir)

    if args.command == "up":
        if emu is not None:
            if emu.pids and all(emu.alive().values()):
                sys.stdout.write(emu.exports())
                return 0
            emu.stop()  # stale state: clear leftovers before starting afresh
        t0 = time.monotonic()
        emu = Emulators(args.state_dir).start(args.only or NAMES)
        print(
            f"# emulators up in {time.monotonic() - t0:.2f}s: "
            + ", ".join(f"{n}={p}" for n, p in emu.ports.items()),
            file=sys.stderr,
        )
        sys.stdout.write(emu.exports())
        return 0
    if emu is None:
        print(f"no emulators recorded in {args.state_dir}", file=sys.stderr)
        return 0 if args.command == "down" else 1
    if args.command == "env":
        sys.stdout.write(emu.exports())
    elif args.command == "down":
        emu.stop()
    else:
        alive = emu.alive()
        for name in NAMES:
            if name in emu.pids:
                state = "alive" if alive[name] else "dead"
                print(f"{name}\t{state}\tpid={emu.pids[name]}\tport={emu.ports[name]}")
        return 0 if all(alive.values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
