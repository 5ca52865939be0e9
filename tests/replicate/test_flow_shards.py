"""The sharded `replicate` flow under a temporary Prefect API: one task per shard writing
to every target, per-target totals and artifacts, deletes decided on the whole source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.otlp import otlp_collector
from tests.replicate.test_flow import artifacts_of, task_runs_of

pytestmark = pytest.mark.usefixtures("prefect_harness")
REPO = Path(__file__).resolve().parents[2]


def fill(root: Path, keys: list[str]) -> dict[str, bytes]:
    out = {}
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(50) + key.encode()
        path.write_bytes(data)
        out[key] = data
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".specify" not in p.relative_to(root).parts[0]
    }


def rows(artifact: Any) -> list[dict[str, Any]]:
    data = artifact.data
    return json.loads(data) if isinstance(data, str) else list(data)


KEYS = [f"k{i:02d}" for i in range(7)]


def test_shards_write_every_target_and_totals_gather_per_target(tmp_path: Path) -> None:
    from flows.replicate import SUMMARY_KEY, TABLE_KEY, run_replicate

    content = fill(tmp_path / "src", KEYS)
    targets = [str(tmp_path / "a"), str(tmp_path / "b")]
    options = {"journal_dir": str(tmp_path / "state"), "transfers": 2}
    state = run_replicate(str(tmp_path / "src"), targets, "", options, objects_per_shard=3)
    assert state.is_completed(), state.message
    reports = state.result()
    assert [(r["copied"], r["failed"], r["shards"], r["ok"]) for r in reports] == [
        (7, 0, 3, True)
    ] * 2
    assert [r["bytes_copied"] for r in reports] == [sum(map(len, content.values()))] * 2
    for t in targets:
        assert tree(Path(t)) == content
    # the shard results were kept in the shared state directory for the run, then dropped
    results = tmp_path / "state" / "results"
    assert results.is_dir() and not list(results.glob("specify-shard-*"))

    run_id = state.state_details.flow_run_id
    names = sorted(t.name for t in task_runs_of(run_id, expect=6))
    assert names == sorted(
        [
            "plan shards",
            "shard 1/3 [..k03)",
            "shard 2/3 [k03..k06)",
            "shard 3/3 [k06..)",
            *(f"replicate to {Path(t).as_uri()}" for t in targets),
        ]
    )
    arts = artifacts_of(run_id)
    progress = [a for a in arts.values() if a.type == "progress"]
    assert len(progress) == 2 and all(a.data == 100.0 for a in progress)
    table = rows(arts[TABLE_KEY])
    assert [(r["target"], r["copied"], r["shards"]) for r in table] == [(t, 7, 3) for t in targets]
    assert "read once, in 3 shards" in arts[SUMMARY_KEY].data

    # a second run: nothing to copy, every object skipped, in the same artifacts
    again = run_replicate(str(tmp_path / "src"), targets, "", options, objects_per_shard=2)
    assert [(r["copied"], r["skipped"], r["shards"]) for r in again.result()] == [(0, 7, 4)] * 2


def test_the_flow_reads_each_source_object_once_for_all_targets(tmp_path: Path) -> None:
    """Counted at the storage edge (spans of reads, exported over OTLP), in a
    process of its own: 7 objects, 3 targets, 3 shards: 7 reads."""
    from prefect.settings import PREFECT_API_URL

    fill(tmp_path / "src", KEYS)
    targets = [str(tmp_path / f"t{i}") for i in range(3)]
    code = (
        "import sys, json\n"
        "from flows.replicate import run_replicate\n"
        "state = run_replicate(sys.argv[1], json.loads(sys.argv[2]), '', "
        "{'journal_dir': sys.argv[3]}, objects_per_shard=3)\n"
        "print(json.dumps([r['copied'] for r in state.result()]))\n"
        "from opentelemetry import trace\n"
        "trace.get_tracer_provider().force_flush()\n"
    )
    with otlp_collector() as (collector, endpoint):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            PREFECT_API_URL=str(PREFECT_API_URL.value()),
            PYTHONPATH=str(REPO),
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "src"), json.dumps(targets),
             str(tmp_path / "state")],
            env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [7, 7, 7]
    # one object at a time (open_read, upload_stream) or a batch at a time (small objects)
    reads = collector.objects("local.storage.open_read", "local.storage.read_small")
    writes = collector.objects("local.storage.upload_stream", "local.storage.write_small")
    assert (reads, writes) == (7, 21)


def test_deletes_are_decided_on_the_whole_source_per_target(tmp_path: Path) -> None:
    """Target a: its extra keys all sort after the source's, so the last shard alone would
    delete more than half of its range; over the whole target it is 3 of 10: deleted.
    Target b: 5 extra keys, more than max_delete 4 over the whole source (no shard has more
    than 4): refused, nothing deleted there, named in the run's failure."""
    from flows.replicate import ReplicationFailed, run_replicate

    content = fill(tmp_path / "src", KEYS)
    fill(tmp_path / "a", [*KEYS, "z1", "z2", "z3"])
    extra_b = ["k00x", "k02x", "k04x", "k05x", "zz"]
    fill(tmp_path / "b", extra_b)
    options = {"journal_dir": str(tmp_path / "state"), "delete_extraneous": True, "max_delete": 4}
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    state = run_replicate(str(tmp_path / "src"), [a, b], "", options, objects_per_shard=3)
    assert state.is_failed()
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, ReplicationFailed) and exc.failed == [b]
    assert "more than --max-delete 4" in str(exc)
    by = {r["location"]: r for r in exc.reports}
    assert by[a]["ok"] and by[a]["deleted"] == 3 and by[a]["to_delete"] == 3
    assert tree(tmp_path / "a") == content
    assert by[b]["copied"] == 0 and set(tree(tmp_path / "b")) == set(extra_b)
    names = {t.name for t in task_runs_of(state.state_details.flow_run_id, expect=7)}
    assert f"delete 3/3 [k06..) on {Path(a).as_uri()}" in names


def test_no_deletes_on_a_target_where_any_shard_failed_a_copy(tmp_path: Path) -> None:
    """rclone's rule over the whole source: one failed copy (a directory where the file
    should go) in one shard, and the target's extra keys stay, in every shard."""
    from flows.replicate import ReplicationFailed, run_replicate

    fill(tmp_path / "src", KEYS)
    fill(tmp_path / "t", ["k05/blocker", "k00x", "zz"])
    options = {
        "journal_dir": str(tmp_path / "state"),
        "delete_extraneous": True,
        "max_delete": 10,
    }
    state = run_replicate(
        str(tmp_path / "src"), [str(tmp_path / "t")], "", options, objects_per_shard=3
    )
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, ReplicationFailed)
    (report,) = exc.reports
    assert report["failed"] == 1 and "k05" in report["errors"]
    assert report["copied"] == 6 and report["deleted"] == 0
    assert "not deleting 3 objects: 1 copies failed" in report["error"]
    assert {"k05/blocker", "k00x", "zz"} <= set(tree(tmp_path / "t"))


def test_a_bad_target_fails_alone_not_every_shard(tmp_path: Path) -> None:
    """A target given twice, and one inside the source: each fails by itself, for good,
    before any shard runs; the good target still gets everything."""
    from flows.replicate import ReplicationFailed, run_replicate

    content = fill(tmp_path / "src", KEYS)
    good = str(tmp_path / "a")
    twice = str(tmp_path / "a") + "/"
    inside = str(tmp_path / "src" / "sub")
    state = run_replicate(
        str(tmp_path / "src"),
        [good, twice, inside],
        "",
        {"journal_dir": str(tmp_path / "state")},
        objects_per_shard=3,
    )
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, ReplicationFailed) and exc.failed == [twice, inside]
    by = {r["location"]: r for r in exc.reports}
    assert by[good]["ok"] and by[good]["copied"] == 7 and tree(Path(good)) == content
    assert "given twice" in by[twice]["error"]
    assert "overlaps the source" in by[inside]["error"]
