"""The sharded `replicate` flow: one process (thread task runner) against a local Dask
cluster of two worker processes, local -> local, many small objects.

Run on demand (not in CI), one command:

    python bench/scale_dask.py [--objects 20000] [--per-shard 2000] [--targets 1]

Starts a Prefect server of its own (temporary home), writes the source (64 B - 4 KiB
objects), then per mode runs the flow twice in a fresh process each: a copy into empty
targets, then a no-op run (nothing changed). Measures the flow's wall time (inside the
process, from the flow call to its end: cluster start-up excluded and reported apart), the
CPU of the process and everything it waited for (its Dask workers included: wait4), and the
peak RSS of the largest of them. Writes bench/results/scale-dask-<stamp>.json and prints a
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
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RUN = r"""
import json, sys, time
mode, source, targets, state_dir, per_shard = sys.argv[1:6]
targets = json.loads(targets)
from flows.replicate import run_replicate
extra = {}
cluster = None
started = time.perf_counter()
if mode == "dask-2":
    from distributed import LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    extra = {"task_runner": "dask", "dask_address": cluster.scheduler_address}
cluster_s = time.perf_counter() - started
started = time.perf_counter()
state = run_replicate(source, targets, "", {"journal_dir": state_dir},
                      objects_per_shard=int(per_shard), **extra)
wall = time.perf_counter() - started
result = state.result(raise_on_failure=False)
if cluster is not None:
    cluster.close()
print("RESULT " + json.dumps({
    "state": state.type.value, "wall_s": round(wall, 3), "cluster_start_s": round(cluster_s, 3),
    "copied": [r["copied"] for r in result] if isinstance(result, list) else str(result),
    "skipped": [r["skipped"] for r in result] if isinstance(result, list) else None,
    "shards": [r["shards"] for r in result] if isinstance(result, list) else None,
}))
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


def measured(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run cmd; its RESULT line, CPU (user+sys, its waited-for children included) and peak
    RSS (the largest process) from wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: dict[str, str] = {}

    def drain(name: str, stream: Any) -> None:
        out[name] = stream.read()

    threads = [
        threading.Thread(target=drain, args=("stdout", proc.stdout)),
        threading.Thread(target=drain, args=("stderr", proc.stderr)),
    ]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = next((ln for ln in out.get("stdout", "").splitlines() if ln.startswith("RESULT ")), "")
    if not line:
        raise RuntimeError(f"{cmd[:3]} failed:\n{out.get('stderr', '')[-4000:]}")
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    result.update(
        process_s=round(time.perf_counter() - started, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
    )
    return result


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
            for phase in ("copy", "no-op"):
                cmd = [sys.executable, "-c", RUN, mode, str(source), json.dumps(dests), state,
                       str(per_shard)]  # fmt: skip
                row = measured(cmd, env)
                row.update(mode=mode, phase=phase, objects=objects, bytes=nbytes, targets=targets)
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
