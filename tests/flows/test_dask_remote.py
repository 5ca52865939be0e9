"""Which Dask task runners make `journal_layout=auto` pick segments (providers.journal):
the flow asks `dask_runner_remote` of the real prefect-dask runner objects a user builds.

A remote scheduler cannot be started here (loopback only), so the runners below are the
objects as configured, not connected; the layout is decided before any task runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import LocalCluster, SpecCluster
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from flows.replicate import dask_runner_remote
from providers.journal import resolve_layout


@pytest.mark.parametrize(
    ("runner", "remote"),
    [
        (DaskTaskRunner(), False),  # prefect-dask starts a LocalCluster here
        (DaskTaskRunner(address="tcp://127.0.0.1:8786"), False),
        (DaskTaskRunner(address="localhost:8786"), False),
        (DaskTaskRunner(address="tcp://10.20.30.40:8786"), True),
        (DaskTaskRunner(address="tls://scheduler.internal:8786"), True),
        (DaskTaskRunner(address="inproc://192.0.2.2/1/1"), False),
        (DaskTaskRunner(cluster_class="distributed.LocalCluster"), False),
        (DaskTaskRunner(cluster_class=LocalCluster), False),
        (DaskTaskRunner(cluster_class="distributed.deploy.ssh.SSHCluster"), True),
        (DaskTaskRunner(cluster_class=SpecCluster), True),
        (ThreadPoolTaskRunner(max_workers=2), False),
        (None, False),
    ],
    ids=[
        "default-local-cluster",
        "loopback-address",
        "localhost-address",
        "remote-address",
        "remote-tls-name",
        "in-process",
        "local-cluster-by-name",
        "local-cluster-class",
        "ssh-cluster-by-name",
        "spec-cluster-class",
        "thread-pool",
        "no-runner",
    ],
)
def test_which_runners_count_as_other_hosts(runner: object, remote: bool, tmp_path: Path) -> None:
    assert dask_runner_remote(runner) is remote
    # and so the layout auto picks on a local disk
    assert resolve_layout("auto", tmp_path, remote_workers=remote) == (
        "segments" if remote else "single-host"
    )


def test_a_given_local_cluster_is_this_host() -> None:
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    )
    try:
        # an in-process cluster answers at inproc://<this host's own address>
        assert cluster.scheduler_address.startswith("inproc://")
        assert dask_runner_remote(DaskTaskRunner(cluster=cluster)) is False
    finally:
        cluster.close()
