"""The `deploy` and `destroy` flows under prefect_test_harness: one task per target, keyed
artifacts with per-target results, the same engine underneath."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.registry import default_registry
from tests.deploy.conftest import FakeCloud


@pytest.fixture
def clouds(tmp_path: Path) -> Iterator[dict[str, FakeCloud]]:
    made = {
        "fa": FakeCloud("fa", tmp_path, delay=0.2),
        "fb": FakeCloud("fb", tmp_path, fail_wait=True),
    }
    for name, cloud in made.items():
        default_registry().register(name, cloud)
    yield made
    for name in made:
        default_registry().unregister(name)


def _artifact(key: str) -> object:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert found, f"no artifact {key}"
    data = found[0].data
    return json.loads(data) if isinstance(data, str) and data.startswith("[") else data


def test_deploy_and_destroy_flows(
    prefect_harness: None, app_dir: Path, clouds: dict[str, FakeCloud]
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    from flows.deploy import DeployFailed, deploy, destroy

    state = deploy(
        artifact=str(app_dir),
        targets=["fa:r1", "fb:r2"],
        deployment_id="flow-1",
        port=9000,
        return_state=True,
    )
    # one target failed: the run is Failed (automations see it), naming that target;
    # best-effort keeps the one that runs, and the report rides on the failure
    assert state.is_failed()
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, DeployFailed)
    assert "fb:r2" in str(failure) and "still running: fa:r1" in str(failure)
    report = failure.report
    assert {r.provider: r.state for r in report.results} == {"fa": "running", "fb": "failed"}

    table = _artifact("deploy-flow-1")
    assert isinstance(table, list)
    assert {(row["provider"], row["state"]) for row in table} == {
        ("fa", "running"),
        ("fb", "failed"),
    }
    per_target = _artifact("deploy-flow-1-fa-r1")
    assert isinstance(per_target, str) and "running" in per_target
    assert "203.0.113.10:9000" in per_target

    # task runs reach the server as events, a moment after the flow returns
    names: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            wanted = TaskRunFilter(name=TaskRunFilterName(any_=["deploy fa:r1", "deploy fb:r2"]))
            names = [t.name for t in client.read_task_runs(task_run_filter=wanted)]
        if "deploy fa:r1" in names and "deploy fb:r2" in names:
            break
        time.sleep(0.5)
    assert "deploy fa:r1" in names and "deploy fb:r2" in names

    results = destroy("flow-1")
    assert {r.provider: r.state for r in results} == {"fa": "destroyed", "fb": "destroyed"}
    assert clouds["fa"].compute.live() == [] and clouds["fb"].compute.live() == []
    assert clouds["fa"].artifacts() == [] and clouds["fb"].artifacts() == []
    assert isinstance(_artifact("destroy-flow-1"), list)
