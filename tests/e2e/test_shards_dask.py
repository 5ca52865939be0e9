"""The sharded `replicate` flow on a local Dask cluster of two worker processes, recorded on
a real Prefect server; one worker is killed (SIGKILL) in the middle of a shard.

What must hold: the run completes; every target holds exactly the source's bytes; the
killed shard is redone on the other worker without copying again what it had finished (the
pair's journal, in the state directory both workers share, still names the killed attempt
as the run that copied those objects).

Both journal layouts: single-host (the pair's one WAL file) and segments (a rollback-mode
file per shard attempt, merged by the flow's process at the end: what workers on several
machines over a network mount need); in segments no WAL file ever appears in the state
directory, and no segment is left after the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.prefect_server import REPO_ROOT, TestServer

pytestmark = [pytest.mark.e2e]

FLOW = """
import json, sys
from flows.replicate import run_replicate
source, targets, state_dir, address = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
options = {"journal_dir": state_dir, "bandwidth_limit": 6000, "transfers": 2,
           "journal_layout": sys.argv[5]}
state = run_replicate(
    source, targets, "", options,
    task_runner="dask", dask_address=address, objects_per_shard=6,
)
result = state.result(raise_on_failure=False)
print(json.dumps({"type": state.type.value, "flow_run_id": str(state.state_details.flow_run_id),
                  "reports": result if isinstance(result, list) else str(result)}))
"""


@pytest.fixture
def cluster(prefect_test_server: TestServer) -> Iterator[str]:
    """Two single-threaded worker processes that talk to the real server."""
    from distributed import LocalCluster

    env = prefect_test_server.env()
    worker_env = {k: v for k, v in env.items() if k.startswith("PREFECT_")}
    worker_env["PYTHONPATH"] = env["PYTHONPATH"]
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env=worker_env,
    ) as c:
        yield c.scheduler_address


def _journal_files(state: Path, main: Path) -> list[Path]:
    """The pair's main journal and its segments (the segments layout)."""
    return [main, *sorted(main.with_suffix(".d").glob("*.sqlite"))]


def _running_attempt(state: Path) -> tuple[int, str, list[str]] | None:
    """(pid, run id, keys done) of a shard attempt that has finished some, not all, of its
    objects: the shard's lock file names the process and the run, the journal (or the
    attempt's segment) what it did."""
    for lock in state.glob("journal-*.shard-*.lock"):
        holder = lock.read_text(errors="replace")  # "pid 123, run 2026...-abcd"
        if not holder.startswith("pid "):
            continue
        pid = int(holder.split(",")[0][4:])
        run_id = holder.split("run ", 1)[1].strip()
        main = lock.with_name(lock.name.split(".shard-")[0] + ".sqlite")
        for journal in _journal_files(state, main):
            if not journal.is_file():
                continue
            try:
                with sqlite3.connect(journal, timeout=1) as db:
                    status = db.execute(
                        "SELECT status FROM runs WHERE run_id=?", (run_id,)
                    ).fetchone()
                    keys = [
                        r[0] for r in db.execute("SELECT key FROM done WHERE run_id=?", (run_id,))
                    ]
            except sqlite3.Error:
                continue
            if status and status[0] == "running" and 2 <= len(keys) < 6:
                return pid, run_id, keys
    return None


def _wal_files(state: Path) -> set[str]:
    return {str(p) for p in state.rglob("*") if p.name.endswith(("-wal", "-shm"))}


def _done_by(state: Path) -> dict[str, dict[str, str]]:
    """Per journal: target key -> the run that recorded it."""
    out = {}
    for journal in state.glob("journal-*.sqlite"):
        with sqlite3.connect(journal) as db:
            out[journal.name] = dict(db.execute("SELECT key, run_id FROM done").fetchall())
    return out


@pytest.mark.parametrize("layout", ["single-host", "segments"])
def test_shards_spread_over_two_dask_workers_and_survive_a_killed_one(
    prefect_test_server: TestServer, cluster: str, tmp_path: Path, layout: str
) -> None:
    source = tmp_path / "src"
    (source / "d").mkdir(parents=True)
    content = {}
    for i in range(24):
        data = os.urandom(1500 + i)
        (source / "d" / f"{i:03d}.bin").write_bytes(data)
        content[f"d/{i:03d}.bin"] = data
    targets = [str(tmp_path / "t1"), str(tmp_path / "t2")]
    state = tmp_path / "shared-state"  # what both workers reach (a shared mount in production)

    proc = subprocess.Popen(
        [sys.executable, "-c", FLOW, str(source), json.dumps(targets), str(state), cluster, layout],
        env=prefect_test_server.env(),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed: tuple[int, str, list[str]] | None = None
    wal: set[str] = set()
    segments: set[str] = set()
    deadline = time.monotonic() + 150
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05 if killed else 0.2)
        if state.is_dir():
            wal |= _wal_files(state)
            segments |= {p.name for p in state.glob("journal-*.d/*.sqlite")}
        if killed is None:
            killed = _running_attempt(state)
            if killed is not None:
                os.kill(killed[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    if layout == "segments":
        # no SQLite file in WAL mode, ever; the shards wrote segments, all merged at the end
        assert wal == set(), wal
        assert segments and not list(state.glob("journal-*.d/*.sqlite")), segments
        for journal in state.glob("journal-*.sqlite"):
            with sqlite3.connect(journal) as db:
                assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert killed is not None, "no shard was caught half done:\n" + err[-3000:]
    assert killed[0] != proc.pid  # the shard ran on a Dask worker, not in the flow's process
    outcome: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert outcome["type"] == "COMPLETED", (outcome, err[-3000:])
    reports = outcome["reports"]
    assert [(r["copied"] + r["skipped"], r["failed"], r["shards"]) for r in reports] == [
        (24, 0, 4)
    ] * 2

    # the bytes, read back: every target holds the source
    for target in targets:
        for key, data in content.items():
            got = (Path(target) / key).read_bytes()
            assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), key

    # what the killed attempt finished was not copied again: the journal still names it
    _, killed_run, finished = killed
    done = _done_by(state)
    attributed = [
        journal
        for journal, by_key in done.items()
        if all(by_key[k] == killed_run for k in finished)
    ]
    assert attributed, done
    assert all(len(by_key) == 24 for by_key in done.values())
    # the completed attempts copied at most the rest (objects the killed attempt wrote but
    # had not yet journaled are found equal by hash, and skipped)
    for r in reports:
        by_key = done[Path(r["journal"]).name]
        by_killed = sum(1 for run in by_key.values() if run == killed_run)
        assert r["copied"] <= 24 - by_killed, (r, by_killed)

    # on the server: every shard Completed (one finished on the lost worker is read back
    # from the shared state directory, Cached); a progress artifact per target at 100 %
    runs = prefect_test_server.api(
        "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [outcome["flow_run_id"]]}}}
    )
    shards = [r for r in runs if r["name"].startswith("shard ")]
    assert len(shards) == 4 and all(r["state"]["type"] == "COMPLETED" for r in shards), shards
    arts = prefect_test_server.api(
        "POST",
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [outcome["flow_run_id"]]}}},
    )
    progress = [a for a in arts if a["type"] == "progress"]
    assert len(progress) == 2 and all(a["data"] == 100.0 for a in progress)
