"""The sharded `replicate` flow: one process (thread task runner) against a local Dask
cluster of two worker processes, local -> local, many small objects.

Run on demand (not in CI), one command:

    python bench/scale_dask.py [--objects 20000] [--per-shard 2000] [--targets 1]

Starts a Prefect server of its own (temporary home), writes the source (64 B - 4 KiB
objects), then per mode, in a process of its own, warms up (a 50-object run: a Dask
worker's first Prefect task costs tens of seconds of imports and client set-up, which a
long-lived cluster pays once) and runs the flow twice: a copy into empty targets, then a
no-op run (nothing changed). Measures each run's wall time (the flow call), the CPU
seconds of the flow's process and of the Dask workers (getrusage in each), and the
largest peak RSS among them. Writes bench/results/scale-dask-<stamp>.json and prints a
markdown table. `dask_vs_one_process(...)` is the function bench/scale_bench.py calls for
its "one process vs two-worker Dask" column.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RUN = r"""
import json, resource, sys, time
mode, source, warm, targets, state_dir, per_shard = sys.argv[1:7]
phases = sys.argv[7].split(",") if len(sys.argv) > 7 else ["copy", "no-op"]
targets = json.loads(targets)
from flows.replicate import run_replicate
extra = {}
client = None
started = time.perf_counter()
if mode == "dask-2":
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    extra = {"task_runner": "dask", "dask_address": cluster.scheduler_address}
cluster_s = time.perf_counter() - started


def usage():
    # CPU seconds of this process and of the Dask workers; the largest peak RSS (MiB)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu, peak, workers = me.ru_utime + me.ru_stime, me.ru_maxrss, 0.0
    if client is not None:
        for w in client.run(lambda: resource.getrusage(resource.RUSAGE_SELF)).values():
            workers += w.ru_utime + w.ru_stime
            peak = max(peak, w.ru_maxrss)
    return cpu, workers, peak / 1024


def run(src, dests):
    flow0, workers0, _ = usage()
    t = time.perf_counter()
    state = run_replicate(src, dests, "", {"journal_dir": state_dir},
                          objects_per_shard=int(per_shard), **extra)
    wall = time.perf_counter() - t
    flow1, workers1, peak = usage()
    result = state.result(raise_on_failure=False)
    ok = isinstance(result, list)
    return {
        "state": state.type.value, "wall_s": round(wall, 3),
        "cpu_s": round(flow1 - flow0 + workers1 - workers0, 3),
        "cpu_flow_process_s": round(flow1 - flow0, 3),
        "cpu_workers_s": round(workers1 - workers0, 3),
        "peak_rss_mib": round(peak, 1), "cluster_start_s": round(cluster_s, 3),
        "copied": [r["copied"] for r in result] if ok else str(result),
        "skipped": [r["skipped"] for r in result] if ok else None,
        "shards": [r["shards"] for r in result] if ok else None,
    }


# a long-lived cluster is the realistic case: its workers' first Prefect task (imports,
# API client) costs 20-40 s on a busy 2-core machine, so a small run warms them first
run(warm, [t + "-warm" for t in targets])
for phase in phases:
    row = run(source, targets)
    row["phase"] = phase
    print("RESULT " + json.dumps(row), flush=True)
"""


def make_source(root: Path, objects: int, seed: int = 17) -> int:
    rng = random.Random(seed)
    total = 0
    for i in range(objects):
        path = root / f"d{i % 100:02d}" / f"obj-{i:07d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.randint(64, 4096)
        path.write_bytes(rng.randbytes(size))
        total += size
    return total


def measured(cmd: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    """Run cmd; its RESULT lines (one per phase)."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    rows = [
        json.loads(ln[len("RESULT ") :])
        for ln in done.stdout.splitlines()
        if ln.startswith("RESULT ")
    ]
    if done.returncode != 0 or not rows:
        raise RuntimeError(f"{cmd[:3]} failed:\n{done.stderr[-4000:]}")
    return rows


def dask_vs_one_process(
    objects: int = 20000,
    per_shard: int = 2000,
    targets: int = 1,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Copy and no-op of `objects` small local objects through the replicate flow, in one
    process (threads) and on a two-worker local Dask cluster. Returns the rows."""
    from deployments.server import PrefectServer

    base = Path(workdir or tempfile.mkdtemp(prefix="specify-scale-dask-"))
    source = base / "src"
    nbytes = make_source(source, objects)
    warm = base / "warm"
    make_source(warm, 50, seed=3)
    rows: list[dict[str, Any]] = []
    with PrefectServer(base / "prefect", timeout=180) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(server.client_env())
        env.update(
            PREFECT_HOME=str(base / "prefect-client"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            PREFECT_LOGGING_LEVEL="WARNING",
            SPECIFY_AUDIT_LOG="off",
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        )
        for mode in ("one-process", "dask-2"):
            dests = [str(base / mode / f"t{i}") for i in range(targets)]
            state = str(base / mode / "state")
            cmd = [sys.executable, "-c", RUN, mode, str(source), str(warm), json.dumps(dests),
                   state, str(per_shard)]  # fmt: skip
            for row in measured(cmd, env):
                row.update(mode=mode, objects=objects, bytes=nbytes, targets=targets)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {
        "objects": objects,
        "bytes": nbytes,
        "per_shard": per_shard,
        "targets": targets,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['objects']:,} objects ({result['bytes']:,} bytes) local -> local, "
        f"{result['targets']} target(s), {result['per_shard']} objects per shard",
        "",
        "| mode | phase | flow wall s | CPU s (all processes) | peak RSS MiB | shards |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['mode']} | {r['phase']} | {r['wall_s']} | {r['cpu_s']} | "
            f"{r['peak_rss_mib']} | {(r.get('shards') or ['?'])[0]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=20000)
    parser.add_argument("--per-shard", type=int, default=2000)
    parser.add_argument("--targets", type=int, default=1)
    args = parser.parse_args()
    result = dask_vs_one_process(args.objects, args.per_shard, args.targets)
    out = REPO / "bench" / "results" / f"scale-dask-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------- scale_bench
_SERVER: Any = None


def _server_env(base: Path) -> dict[str, str]:
    """A Prefect server for the columns, started once per benchmark process."""
    global _SERVER
    if _SERVER is None:
        import atexit

        from deployments.server import PrefectServer

        _SERVER = PrefectServer(base / "prefect", timeout=180).start()
        atexit.register(_SERVER.stop)
    env: dict[str, str] = dict(_SERVER.client_env())
    env.update(
        PREFECT_HOME=str(base / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


def _flow_column(scenario: Any, mode: str, per_shard: int = 2000) -> dict[str, Any] | None:
    """The scenario's copy through the `replicate` flow (after a warm-up run), as a
    bench/scale_bench.py column: seconds, cpu_s, peak_rss_mib (all processes: the flow's
    and, on Dask, both workers')."""
    work = Path(scenario.work) / f"flow-{mode}"
    work.mkdir(parents=True, exist_ok=True)
    warm = work / "warm"
    if not warm.is_dir():
        make_source(warm, 50, seed=3)
    if scenario.target_kind == "s3" and scenario.s3_url:
        dest = f"{scenario.s3_url.rstrip('/')}-flow-{mode}"
    else:
        dest = str(work / "target")
    env = {k: v for k, v in scenario.env.items() if not k.startswith("PREFECT_")}
    env.update(_server_env(Path(scenario.work).parent / "flow-columns"))
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-c", RUN, mode, str(scenario.source), str(warm), json.dumps([dest]),
           str(work / "state"), str(per_shard), "copy"]  # fmt: skip
    copy = measured(cmd, env)[0]
    if copy["state"] != "COMPLETED":
        raise RuntimeError(f"the flow ({mode}) failed: {copy}")
    label = "flow, one process" if mode == "one-process" else "flow, Dask 2 workers"
    return {
        "label": f"{label} copy ({per_shard}/shard)",
        "seconds": copy["wall_s"],
        "cpu_s": copy["cpu_s"],
        "peak_rss_mib": copy["peak_rss_mib"],
        "copied": copy["copied"][0] if isinstance(copy["copied"], list) else None,
        "shards": (copy.get("shards") or [None])[0],
    }


def flow_column(scenario: Any) -> dict[str, Any] | None:
    """bench/scale_bench.py column: the flow in one process (thread task runner)."""
    return _flow_column(scenario, "one-process")


def dask_column(scenario: Any) -> dict[str, Any] | None:
    """bench/scale_bench.py column: the flow on a local two-worker Dask cluster."""
    return _flow_column(scenario, "dask-2")
