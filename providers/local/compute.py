"""Compute as local processes: an instance is a `bash -c user_data` in its own session.

Layout under the root, one directory per instance (also the process's working dir):
    <id>/instance.json   what a later process needs: pid, its start time, tags, state
    <id>/output.log      stdout and stderr
    <id>/exit_code       written by the wrapper shell when the script ends
The pid is trusted only while the process's start time matches the recorded one, so a
reused pid is never taken for the instance (or signalled).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from providers.base import Instance, InstanceSpec
from providers.errors import CloudError, ConfigurationError, DeploymentError, NotFoundError
from providers.operation import ServiceAdapter, cloud_operation, map_generic_error

ADDRESS = "127.0.0.1"
OUTPUT_TAIL = 1024 * 1024  # get_output returns at most the last MiB
TERM_GRACE_S = 5.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Variables a process needs to find programs and behave; the rest of this process's
# environment (credentials included) is not passed on, as on a fresh cloud instance.
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL")
# The wrapper runs the script, then records its exit status for later readers.
WRAPPER = 'bash -c "$1"; echo $? > exit_code.tmp && mv exit_code.tmp exit_code'


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None when there is no such pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None when it is gone."""
    if not Path("/proc").is_dir():  # pragma: no cover - non-Linux: pid liveness only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "unknown"
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):  # zombies have finished
        return None
    return fields[19]


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in process group pgid."""
    if not Path("/proc").is_dir():  # pragma: no cover
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields and fields[0] not in ("Z", "X") and fields[2] == str(pgid):
                return True
    return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((ADDRESS, port), timeout=0.5):
            return True
    except OSError:
        return False


class ProcessCompute(ServiceAdapter):
    """CloudCompute whose instances are process groups on this machine."""

    provider_name = "local"
    service_name = "compute"

    def __init__(self, root: Path | str, *, term_grace: float = TERM_GRACE_S) -> None:
        self.root = Path(root).expanduser().resolve()
        self.term_grace = term_grace  # seconds between SIGTERM and SIGKILL
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # to reap our own children

    @property
    def location(self) -> str:
        return str(self.root)

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        if isinstance(exc, FileNotFoundError) and exc.filename and "bash" in str(exc.filename):
            return kind(
                "bash is not installed",
                provider="local",
                operation=operation,
                resource=resource,
                hint="Install bash: instances run `bash -c user_data`",
            )
        return map_generic_error(
            exc, provider="local", operation=operation, resource=resource, kind=kind
        )

    # ------------------------------------------------------------------ state
    def _dir(self, instance_id: str) -> Path:
        if not _ID.match(instance_id):
            raise ConfigurationError(
                f"{instance_id!r} is not an instance id",
                provider="local",
                operation="compute",
                hint="Ids look like local-0123456789ab",
            )
        return self.root / instance_id

    def _read(self, instance_id: str) -> dict[str, Any]:
        path = self._dir(instance_id) / "instance.json"
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFoundError(
                f"no instance under {self.root}",
                provider="local",
                operation="get_instance",
                resource=instance_id,
                hint="List instances with list_instances",
            ) from None
        return state

    def _write(self, state: dict[str, Any]) -> None:
        path = self._dir(state["instance_id"]) / "instance.json"
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".instance.")
        with os.fdopen(fd, "w") as out:
            json.dump(state, out)
        os.replace(name, path)

    def _refresh(self, state: dict[str, Any]) -> dict[str, Any]:
        """Bring a stored state up to date with the process; persist final states."""
        if state["state"] in ("terminated", "stopped", "failed"):
            return state
        pid = int(state["pid"])
        child = self._children.get(pid)
        if child is not None:
            child.poll()  # reap our own zombie
        if _start_time(pid) == state["start_time"]:
            return {**state, "state": "running"}
        code_file = self._dir(state["instance_id"]) / "exit_code"
        try:
            code: int | None = int(code_file.read_text().strip())
        except (OSError, ValueError):
            code = None  # killed from outside, before the wrapper could record anything
        state = {**state, "state": "stopped" if code == 0 else "failed", "exit_code": code}
        self._write(state)
        return state

    @staticmethod
    def _instance(state: dict[str, Any]) -> Instance:
        return Instance(
            instance_id=state["instance_id"],
            name=state["name"],
            state=state["state"],
            provider="local",
            region="local",
            instance_type="process",
            public_address=ADDRESS,
            private_address=ADDRESS,
            tags=dict(state.get("tags") or {}),
            launched_at=datetime.fromisoformat(state["launched_at"]),
        )

    # ------------------------------------------------------------------ protocol
    @cloud_operation("create_instance", kind=DeploymentError, mutating=True, resource="spec")
    def create_instance(self, spec: InstanceSpec) -> Instance:
        if not spec.user_data.strip():
            raise ConfigurationError(
                "user_data is empty: a local instance runs it as a bash script",
                provider="local",
                operation="create_instance",
                resource=spec.name,
            )
        instance_id = f"local-{uuid.uuid4().hex[:12]}"
        workdir = self._dir(instance_id)
        workdir.mkdir(parents=True)
        env = {k: os.environ[k] for k in BASE_ENV if k in os.environ}
        env.update({str(k): str(v) for k, v in spec.env.items()})
        env["SPECIFY_INSTANCE_ID"] = instance_id
        if spec.port is not None:
            env["PORT"] = str(spec.port)
        with (workdir / "output.log").open("ab") as log:
            proc = subprocess.Popen(
                ["bash", "-c", WRAPPER, instance_id, spec.user_data],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so terminate gets everything
            )
        self._children[proc.pid] = proc
        state = {
            "instance_id": instance_id,
            "name": spec.name,
            "pid": proc.pid,
            "start_time": _start_time(proc.pid),
            "port": spec.port,
            "tags": dict(spec.tags),
            "launched_at": datetime.now(UTC).isoformat(),
            "state": "pending",
        }
        self._write(state)
        return self._instance(self._refresh(state))

    @cloud_operation("get_instance", kind=DeploymentError, resource="instance_id")
    def get_instance(self, instance_id: str) -> Instance:
        return self._instance(self._refresh(self._read(instance_id)))

    @cloud_operation("list_instances", kind=DeploymentError, resource=None)
    def list_instances(self, tags: Mapping[str, str] | None = None) -> list[Instance]:
        """Instances whose tags include all of `tags` (terminated ones too), oldest first."""
        out = []
        if self.root.is_dir():
            for path in self.root.glob("*/instance.json"):
                try:
                    state = self._refresh(json.loads(path.read_text()))
                except (OSError, ValueError):
                    continue  # being created or removed right now
                have = state.get("tags") or {}
                if all(have.get(k) == v for k, v in (tags or {}).items()):
                    out.append(self._instance(state))
        return sorted(out, key=lambda i: i.launched_at or datetime.min.replace(tzinfo=UTC))

    @cloud_operation(
        "wait_until_running", kind=DeploymentError, resource="instance_id", retry=False
    )
    def wait_until_running(self, instance_id: str, timeout: float = 300.0) -> Instance:
        """Wait for the process, and for its port (if any) to accept TCP connections."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            state = self._refresh(self._read(instance_id))
            if state["state"] != "running":
                raise DeploymentError(
                    f"the process ended ({state['state']}, exit code {state.get('exit_code')})",
                    provider="local",
                    operation="wait_until_running",
                    resource=instance_id,
                    hint=f"Read its output in {self._dir(instance_id) / 'output.log'}",
                )
            port = state.get("port")
            if port is None or _port_open(int(port)):
                return self._instance(state)
            if time.monotonic() >= deadline:
                raise DeploymentError(
                    f"port {port} did not accept connections within {timeout:g} s",
                    provider="local",
                    operation="wait_until_running",
                    resource=instance_id,
                    hint="Check that the command listens on $PORT at 127.0.0.1",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    @cloud_operation("get_output", kind=DeploymentError, resource="instance_id")
    def get_output(self, instance_id: str) -> str:
        self._read(instance_id)
        path = self._dir(instance_id) / "output.log"
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - OUTPUT_TAIL))
            return fh.read().decode("utf-8", errors="replace")

    @cloud_operation(
        "terminate_instance", kind=DeploymentError, mutating=True, resource="instance_id"
    )
    def terminate_instance(self, instance_id: str) -> bool:
        """SIGTERM the process group, SIGKILL what is left after a grace period.

        False when the instance was already terminated."""
        state = self._read(instance_id)
        if state["state"] == "terminated":
            return False
        pgid = int(state["pid"])
        # signal the group only if its leader is still ours, or the group outlived it
        if _start_time(pgid) == state["start_time"] or _group_alive(pgid):
            self._signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + self.term_grace
            while self._alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._alive(pgid):
                self._signal_group(pgid, signal.SIGKILL)
                while self._alive(pgid) and time.monotonic() < deadline + self.term_grace:
                    time.sleep(0.05)
        self._write(
            {**state, "state": "terminated", "terminated_at": datetime.now(UTC).isoformat()}
        )
        return True

    def _alive(self, pgid: int) -> bool:
        child = self._children.get(pgid)
        if child is not None:
            child.poll()
        return _group_alive(pgid)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
