"""Large fan-out on Dask: the replicate flow's tasks run on a local Dask cluster's workers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


def test_replicate_flow_fans_out_on_a_dask_cluster(
    prefect_harness: None, dask_cluster: str, tmp_path: Path
) -> None:
    from distributed import Client

    from flows.replicate import run_replicate

    source = tmp_path / "src"
    (source / "d").mkdir(parents=True)
    for i in range(6):
        (source / "d" / f"{i}.bin").write_bytes(os.urandom(1000 + i))
    targets = [str(tmp_path / f"t{i}") for i in range(3)]

    with Client(dask_cluster) as client:
        state = run_replicate(str(source), targets, task_runner="dask", dask_address=dask_cluster)
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)

    assert state.is_completed(), state.message
    for target in targets:
        for i in range(6):
            want = (source / "d" / f"{i}.bin").read_bytes()
            got = (Path(target) / "d" / f"{i}.bin").read_bytes()
            assert hashlib.sha256(got).digest() == hashlib.sha256(want).digest()
    # the tasks ran on the cluster's worker processes, not in this process
    assert sum(executed.values()) >= len(targets)
