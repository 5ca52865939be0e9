"""The `replicate` flow under a temporary Prefect API: tasks per target, artifacts, failure."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commands.main import app

pytestmark = pytest.mark.usefixtures("prefect_harness")


def artifacts_of(flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


def task_runs_of(flow_run_id: Any, expect: int) -> list[Any]:
    """The flow run's task runs once `expect` of them are final (they arrive as events)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs: list[Any] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        if len(runs) >= expect and all(r.state and r.state.is_final() for r in runs):
            break
        time.sleep(0.5)
    return runs


def make_source(root: Path, n: int = 5) -> None:
    for i in range(n):
        (root / "d").mkdir(parents=True, exist_ok=True)
        (root / "d" / f"{i}.txt").write_bytes(os.urandom(100 + i))


def test_flow_replicates_per_target_with_artifacts(tmp_path: Path) -> None:
    from flows.replicate import SUMMARY_KEY, TABLE_KEY, run_replicate

    make_source(tmp_path / "src")
    targets = [str(tmp_path / "a"), str(tmp_path / "b")]
    options = {"journal_dir": str(tmp_path / "state"), "transfers": 2}
    state = run_replicate(str(tmp_path / "src"), targets, "", options)
    assert state.is_completed()
    reports = state.result()
    assert [(r["location"], r["copied"], r["failed"]) for r in reports] == [
        (targets[0], 5, 0),
        (targets[1], 5, 0),
    ]
    run_id = state.state_details.flow_run_id
    names = sorted(t.name for t in task_runs_of(run_id, expect=len(targets) + 2))
    # one shard (5 objects) for both targets; a task per target, named after its cloud URL
    assert names == sorted(
        ["plan shards", "shard 1/1 [..)"] + [f"replicate to {Path(t).as_uri()}" for t in targets]
    )
    arts = artifacts_of(run_id)
    assert {TABLE_KEY, SUMMARY_KEY} <= set(arts)
    progress = [a for a in arts.values() if a.type == "progress"]
    assert len(progress) == len(targets) and all(a.data == 100.0 for a in progress)
    table = arts[TABLE_KEY].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert [(r["target"], r["status"], r["copied"]) for r in rows] == [
        (targets[0], "ok", 5),
        (targets[1], "ok", 5),
    ]
    assert "2 of 2 targets succeeded" in arts[SUMMARY_KEY].data


def test_flow_fails_only_for_the_failed_target_and_names_it(tmp_path: Path) -> None:
    from flows.replicate import TABLE_KEY, ReplicationFailed, run_replicate

    make_source(tmp_path / "src", 2)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    targets = [str(tmp_path / "good"), str(blocker)]
    state = run_replicate(str(tmp_path / "src"), targets, "", {"journal_dir": str(tmp_path / "s")})
    assert state.is_failed()
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, ReplicationFailed) and exc.failed == [str(blocker)]
    assert str(blocker) in str(exc) and str(tmp_path / "good") + "," not in str(exc)
    assert len(list((tmp_path / "good" / "d").iterdir())) == 2
    runs = {t.name: t for t in task_runs_of(state.state_details.flow_run_id, expect=4)}
    # the task is named after the target's URL (or the text given, when the target
    # cannot even be opened); which errors are retried: tests/flows, tests/e2e
    bad = runs.get(f"replicate to {blocker.as_uri()}") or runs[f"replicate to {blocker}"]
    # every object failed for good (a file where the directory should be): not retried
    assert bad.state.is_failed() and bad.run_count == 1
    assert runs[f"replicate to {(tmp_path / 'good').as_uri()}"].state.is_completed()
    rows = artifacts_of(state.state_details.flow_run_id)[TABLE_KEY].data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert [r["status"] for r in rows] == ["ok", "failed"]


def test_cli_prefect_option_runs_the_flow(tmp_path: Path) -> None:
    make_source(tmp_path / "src", 3)
    result = CliRunner().invoke(
        app,
        [
            "cloud", "replicate", str(tmp_path / "src"), "--to", str(tmp_path / "a"),
            "--prefect", "--json", "--state-dir", str(tmp_path / "state"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    report = json.loads(out[out.index("{") :])
    assert report["targets"][0]["copied"] == 3


def test_unknown_task_runner_and_options_are_refused(tmp_path: Path) -> None:
    from flows.replicate import options_from, run_replicate

    with pytest.raises(ValueError, match="'thread' or 'dask'"):
        run_replicate(str(tmp_path), [str(tmp_path / "a")], task_runner="ray")
    with pytest.raises(ValueError, match="unknown replication options: colour"):
        options_from({"colour": "blue"})
    assert options_from({"include": ["*.txt"], "transfers": 3}).include == ("*.txt",)
