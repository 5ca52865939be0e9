"""MultiCloudDeployer: parallel fan-out, all-or-nothing rollback, best-effort, dry run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from providers.artifact import DEPLOYMENT_TAG
from providers.deployer import DeployTarget
from providers.local.provider import LocalProvider
from tests.deploy.conftest import FakeCloud


def test_three_slow_targets_run_in_parallel(
    tmp_path: Path, app_dir: Path, make_deployer: Any
) -> None:
    clouds = {n: FakeCloud(n, tmp_path, delay=1.0) for n in ("one", "two", "three")}
    deployer = make_deployer(clouds)
    targets = deployer.parse_targets("one:r1,two:r2,three:r3")
    started = time.perf_counter()
    report = deployer.deploy(app_dir, targets, deployment_id="par-1", port=8080)
    elapsed = time.perf_counter() - started
    assert [r.state for r in report.results] == ["running"] * 3
    assert elapsed < 2.0, f"three 1 s targets took {elapsed:.2f} s"
    assert all(r.duration_s >= 1.0 for r in report.results)
    for name, cloud in clouds.items():
        (inst,) = cloud.compute.live()
        assert inst.tags[DEPLOYMENT_TAG] == "par-1"
        assert cloud.artifacts() == ["deployments/par-1/artifact.tar.gz"]
        assert next(r for r in report.results if r.provider == name).address == "203.0.113.10:8080"


def test_rerun_with_the_same_id_creates_nothing(
    tmp_path: Path, app_dir: Path, make_deployer: Any
) -> None:
    clouds = {n: FakeCloud(n, tmp_path) for n in ("one", "two")}
    deployer = make_deployer(clouds)
    targets = deployer.parse_targets("one:r1,two:r2")
    first = deployer.deploy(app_dir, targets, deployment_id="same-1")
    second = deployer.deploy(app_dir, targets, deployment_id="same-1")
    assert [r.instance_id for r in first.results] == [r.instance_id for r in second.results]
    assert [c.compute.created for c in clouds.values()] == [1, 1]
    assert all(r.artifact_url is None for r in second.results), "no second upload"


def test_all_or_nothing_leaves_nothing_behind(
    tmp_path: Path, app_dir: Path, make_deployer: Any, local_provider: LocalProvider
) -> None:
    good = FakeCloud("good", tmp_path)
    broken = FakeCloud("broken", tmp_path, fail_wait=True)  # creates, then fails its check
    deployer = make_deployer({"good": good, "broken": broken, "local": local_provider})
    targets = deployer.parse_targets("good:r1,broken:r2,local")
    report = deployer.deploy(
        app_dir, targets, deployment_id="aon-1", strategy="all-or-nothing", timeout=30
    )
    states = {r.provider: r.state for r in report.results}
    assert states == {"good": "rolled_back", "broken": "failed", "local": "rolled_back"}
    assert not report.ok
    broken_result = next(r for r in report.results if r.provider == "broken")
    assert broken_result.error and "health check" in broken_result.error
    # nothing left on any cloud: no live instance, no staged artifact, no local process
    assert good.compute.live() == [] and broken.compute.live() == []
    assert good.compute.created == 1 and broken.compute.created == 1
    assert good.artifacts() == [] and broken.artifacts() == []
    local_instances = local_provider.get_compute().list_instances(tags={DEPLOYMENT_TAG: "aon-1"})
    assert [i.state for i in local_instances] == ["terminated"]
    assert list(local_provider.get_storage().list_objects("deployments/")) == []
    assert deployer.store.load("aon-1") is None


def test_best_effort_keeps_successes_and_destroy_finds_all(
    tmp_path: Path, app_dir: Path, make_deployer: Any
) -> None:
    good = FakeCloud("good", tmp_path)
    broken = FakeCloud("broken", tmp_path, fail_wait=True)
    deployer = make_deployer({"good": good, "broken": broken})
    report = deployer.deploy(
        app_dir, deployer.parse_targets("good:r1,broken:r2"), deployment_id="be-1"
    )
    assert {r.provider: r.state for r in report.results} == {"good": "running", "broken": "failed"}
    assert len(good.compute.live()) == 1 and len(broken.compute.live()) == 1
    status = {s.provider: s.state for s in deployer.status("be-1")}
    assert status == {"good": "running", "broken": "pending"}
    deployer.destroy("be-1")
    assert good.compute.live() == [] and broken.compute.live() == []
    assert good.artifacts() == [] and broken.artifacts() == []


def test_destroy_without_a_record_sweeps_by_tag(
    tmp_path: Path, app_dir: Path, make_deployer: Any
) -> None:
    cloud = FakeCloud("one", tmp_path)
    deployer = make_deployer({"one": cloud})
    deployer.deploy(app_dir, [DeployTarget("one", "r1")], deployment_id="lost-1")
    deployer.store.delete("lost-1")  # e.g. deployed from another machine
    results = deployer.destroy("lost-1")
    assert [(r.provider, r.state) for r in results] == [("one", "destroyed")]
    assert cloud.compute.live() == [] and cloud.artifacts() == []


def test_dry_run_creates_nothing(tmp_path: Path, app_dir: Path, make_deployer: Any) -> None:
    cloud = FakeCloud("one", tmp_path)
    deployer = make_deployer({"one": cloud})
    report = deployer.deploy(app_dir, deployer.parse_targets("one:r1"), dry_run=True)
    assert report.dry_run and [r.state for r in report.results] == ["planned"]
    assert report.deployment_id.startswith("dep-")
    assert cloud.compute.created == 0 and cloud.artifacts() == []
    assert deployer.store.load(report.deployment_id) is None


class OwnDestroyCloud(FakeCloud):
    """A provider with its own destroy(deployment_id), as a single-region cloud has."""

    def __init__(self, name: str, root: Path) -> None:
        super().__init__(name, root)
        self.destroyed: list[str] = []

    def destroy(self, deployment_id: str) -> int:
        self.destroyed.append(deployment_id)
        return sum(self.compute.terminate_instance(i.instance_id) for i in self.compute.live())


def test_destroy_uses_the_providers_own_destroy(
    tmp_path: Path, app_dir: Path, make_deployer: Any
) -> None:
    cloud = OwnDestroyCloud("own", tmp_path)
    deployer = make_deployer({"own": cloud})
    deployer.deploy(app_dir, deployer.parse_targets("own:r1"), deployment_id="own-1")
    (result,) = deployer.destroy("own-1")
    assert (result.state, result.instance_id) == ("destroyed", "1 terminated")
    assert cloud.destroyed == ["own-1"] and cloud.compute.live() == []
