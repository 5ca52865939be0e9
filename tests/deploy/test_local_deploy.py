"""LocalProvider.deploy: a real process answering HTTP on its port; idempotent; destroy ends it."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from providers.artifact import DEPLOYMENT_TAG
from providers.deployer import parse_targets
from providers.local.provider import LocalProvider

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(address: str) -> bytes:
    with NO_PROXY.open(f"http://{address}/", timeout=5) as resp:
        body: bytes = resp.read()
        return body


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_deploy_answers_then_redeploy_reuses_then_destroy_ends_it(
    app_dir: Path, local_provider: LocalProvider, make_deployer: Any
) -> None:
    deployer = make_deployer({"local": local_provider})
    targets = parse_targets("local", known=["local"])

    report = deployer.deploy(app_dir, targets, deployment_id="web-1", timeout=30)
    (result,) = report.results
    assert result.state == "running", result.error
    assert result.address and result.address.startswith("127.0.0.1:")
    assert get(result.address) == b"hello web-1"  # PORT and the id reached the app
    assert result.hourly_price == 0
    assert result.artifact_url and result.artifact_url.startswith("file://")

    compute = local_provider.get_compute()
    tagged = compute.list_instances(tags={DEPLOYMENT_TAG: "web-1"})
    assert [i.instance_id for i in tagged] == [result.instance_id]
    state = json.loads((compute.root / result.instance_id / "instance.json").read_text())
    pid = int(state["pid"])
    assert _pid_alive(pid)

    again = deployer.deploy(app_dir, targets, deployment_id="web-1", timeout=30)
    assert again.results[0].instance_id == result.instance_id
    assert again.results[0].address == result.address
    assert len(compute.list_instances(tags={DEPLOYMENT_TAG: "web-1"})) == 1, "nothing new"

    status = deployer.status("web-1")
    assert [(s.provider, s.state, s.address) for s in status] == [
        ("local", "running", result.address)
    ]

    destroyed = deployer.destroy("web-1")
    assert [(d.state, d.error) for d in destroyed] == [("destroyed", None)]
    assert not _pid_alive(pid)
    with pytest.raises(OSError):
        get(result.address)
    assert [i.state for i in compute.list_instances(tags={DEPLOYMENT_TAG: "web-1"})] == [
        "terminated"
    ]
    storage = local_provider.get_storage()
    assert list(storage.list_objects("deployments/web-1/")) == []
    assert deployer.store.load("web-1") is None
    assert [s.state for s in deployer.status("web-1", providers=["local"])] == ["absent"]


def test_an_app_that_never_listens_fails_with_its_reason(
    tmp_path: Path, local_provider: LocalProvider, make_deployer: Any
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "main.py").write_text("raise SystemExit('boom')\n")
    report = make_deployer({"local": local_provider}).deploy(
        bad, parse_targets("local", known=["local"]), deployment_id="bad-1", timeout=10
    )
    (result,) = report.results
    assert result.state == "failed"
    assert result.error and "process ended" in result.error
