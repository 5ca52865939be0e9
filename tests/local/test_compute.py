"""ProcessCompute through the CloudCompute protocol, with real processes."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from providers.base import CloudCompute, InstanceSpec
from providers.errors import ConfigurationError, DeploymentError, NotFoundError
from providers.local.compute import ProcessCompute
from providers.local.provider import LocalProvider

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_state(compute: CloudCompute, instance_id: str, state: str) -> None:
    deadline = time.monotonic() + 15
    while compute.get_instance(instance_id).state != state:
        assert time.monotonic() < deadline, f"never became {state}"
        time.sleep(0.05)


def test_http_server_start_health_output_stop(provider: LocalProvider, audit_lines: Any) -> None:
    compute = provider.get_compute()
    assert isinstance(compute, CloudCompute)
    port = free_port()
    spec = InstanceSpec(
        name="web",
        user_data=(
            f'echo "greeting=$GREETING"; echo "data" > page.txt; '
            f'exec "{sys.executable}" -m http.server "$PORT" --bind 127.0.0.1'
        ),
        port=port,
        tags={"deployment": "d-1", "role": "web"},
        env={"GREETING": "hello"},
    )
    inst = compute.create_instance(spec)
    assert inst.state == "running" and inst.name == "web"
    ready = compute.wait_until_running(inst.instance_id, timeout=30)
    assert ready.state == "running"
    with NO_PROXY.open(f"http://127.0.0.1:{port}/page.txt", timeout=10) as resp:
        assert resp.read() == b"data\n"  # served from the instance's working directory
    assert "greeting=hello" in compute.get_output(inst.instance_id)

    # another process (a later CLI call) sees the same instance
    other = ProcessCompute(provider.root / "compute")
    assert other.get_instance(inst.instance_id).state == "running"
    assert [i.instance_id for i in other.list_instances({"deployment": "d-1"})] == [
        inst.instance_id
    ]
    assert other.list_instances({"deployment": "d-2"}) == []

    assert other.terminate_instance(inst.instance_id) is True
    assert compute.get_instance(inst.instance_id).state == "terminated"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert compute.terminate_instance(inst.instance_id) is False
    whats = [(r["what"], r["resource"]) for r in audit_lines()]
    assert whats == [
        ("local.compute.create_instance", "web"),
        ("local.compute.terminate_instance", inst.instance_id),
        ("local.compute.terminate_instance", inst.instance_id),
    ]


def test_exit_codes_become_stopped_or_failed(provider: LocalProvider) -> None:
    compute = provider.get_compute()
    ok = compute.create_instance(InstanceSpec("ok", user_data="echo done"))
    bad = compute.create_instance(InstanceSpec("bad", user_data="echo oops >&2; exit 3"))
    wait_state(compute, ok.instance_id, "stopped")
    wait_state(compute, bad.instance_id, "failed")
    assert compute.get_output(ok.instance_id) == "done\n"
    assert compute.get_output(bad.instance_id) == "oops\n"
    with pytest.raises(DeploymentError, match="exit code 3"):
        compute.wait_until_running(bad.instance_id, timeout=5)
    # scripts that end before their start time is read are still seen to end
    quick = [compute.create_instance(InstanceSpec("q", user_data="true")) for _ in range(5)]
    for inst in quick:
        wait_state(compute, inst.instance_id, "stopped")


def test_terminate_kills_the_whole_group_even_if_sigterm_is_ignored(
    provider: LocalProvider, tmp_path: Path
) -> None:
    compute = ProcessCompute(provider.root / "compute", term_grace=1.0)
    pidfile = tmp_path / "child.pid"
    inst = compute.create_instance(
        InstanceSpec(
            "stubborn",
            user_data=f"trap '' TERM; (trap '' TERM; sleep 300) & echo $! > {pidfile}; wait",
        )
    )
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(pidfile.read_text())
    started = time.monotonic()
    assert compute.terminate_instance(inst.instance_id)
    assert 5 > time.monotonic() - started >= 1.0  # SIGTERM ignored, SIGKILL after the grace
    assert (
        not Path(f"/proc/{child}").exists()
        or "Z" in Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[0]
    )


def test_port_health_check_times_out(provider: LocalProvider) -> None:
    compute = provider.get_compute()
    inst = compute.create_instance(InstanceSpec("deaf", user_data="sleep 30", port=free_port()))
    try:
        with pytest.raises(DeploymentError, match="did not accept connections"):
            compute.wait_until_running(inst.instance_id, timeout=0.5)
    finally:
        compute.terminate_instance(inst.instance_id)


def test_unknown_and_bad_ids(provider: LocalProvider) -> None:
    compute = provider.get_compute()
    with pytest.raises(NotFoundError):
        compute.get_instance("local-000000000000")
    with pytest.raises(ConfigurationError):
        compute.get_instance("../../etc")
    with pytest.raises(ConfigurationError):
        compute.create_instance(InstanceSpec("empty", user_data=" "))
