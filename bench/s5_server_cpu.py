"""Scenario 5 (2 x 256 MiB local -> S3) with the *server's* CPU beside the client's.

    python bench/s5_server_cpu.py [--base-repo /work/wt/base] [--rounds 2] [--size-mib 256]

Scenario 5's wall time is bound by moto: one Python process, so what our requests make it
do decides the time. This runs, per round and in alternating order, our CLI from this
checkout ("main"), optionally our CLI from another checkout ("base", e.g. the commit
before the integrity work), rclone, and the bare-SDK floor (boto3 `upload_file`), each
into a fresh bucket of ONE moto server, and records wall time, the client's CPU
(user+sys, wait4) and the moto process's CPU over the run (psutil). Results go to
bench/results/s5-server-cpu-<time>.json and are printed as a table; docs/benchmarks.md
quotes them by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import psutil

REPO = Path(__file__).resolve().parent.parent
TRANSFERS = 8


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _run(cmd: list[str], env: dict[str, str], cwd: Path, server: psutil.Process) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = sum(server.cpu_times()[:2])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    s1 = sum(server.cpu_times()[:2])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    client = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": round(wall, 3), "client_cpu": round(client, 3), "moto_cpu": round(s1 - s0, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-repo", default="", help="another checkout to run as 'base'")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="s5cpu-"))
    port = _port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"{endpoint}/moto-api/")
        server = psutil.Process(moto.pid)
        src = work / "src"
        src.mkdir()
        for i in range(2):
            with open(src / f"large-{i}.bin", "wb") as fh:
                for _ in range(args.size_mib):
                    fh.write(os.urandom(1 << 20))
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        env.pop("AWS_CA_BUNDLE", None)  # rclone (Go) needs it unset; loopback http only
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        conf = work / "rclone.conf"
        conf.write_text(
            "[s3]\ntype = s3\nprovider = Other\naccess_key_id = testing\n"
            f"secret_access_key = testing\nendpoint = {endpoint}\nforce_path_style = true\n"
            "region = us-east-1\n"
        )

        def bucket() -> str:
            name = f"s5-{uuid.uuid4().hex[:12]}"
            s3.create_bucket(Bucket=name)
            return name

        def ours(repo: Path) -> list[str]:
            return [sys.executable, "-m", "commands", "cloud", "replicate", str(src), "--to",
                    f"s3://{bucket()}", "--transfers", str(TRANSFERS), "--state-dir",
                    str(work / f"state-{uuid.uuid4().hex[:8]}")]

        tools: list[tuple[str, Path, Any]] = [("main", REPO, lambda: ours(REPO))]
        if args.base_repo:
            base = Path(args.base_repo)
            tools.append(("base", base, lambda: ours(base)))
        tools.append(("rclone", REPO, lambda: ["rclone", "--config", str(conf), "--transfers",
                                                str(TRANSFERS), "copy", str(src),
                                                f"s3:{bucket()}"]))
        tools.append(("sdk floor", REPO, lambda: [sys.executable, str(REPO / "bench" / "floors.py"),
                                                  "sdk", "upload", str(src), f"s3://{bucket()}"]))
        rows: list[dict[str, Any]] = []
        for rnd in range(args.rounds):
            order = tools if rnd % 2 == 0 else list(reversed(tools))
            for name, repo, make in order:
                run_env = {**env, "PYTHONPATH": str(repo),
                           "PREFECT_HOME": str(work / f"ph-{uuid.uuid4().hex[:8]}")}
                res = _run(make(), run_env, repo, server)
                rows.append({"round": rnd + 1, "tool": name, **res})
                print(f"round {rnd + 1} {name:10s} wall {res['wall']:6.2f} s  client CPU "
                      f"{res['client_cpu']:5.2f} s  moto CPU {res['moto_cpu']:5.2f} s", flush=True)
                urllib.request.urlopen(  # loopback; frees moto's memory
                    urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30
                )
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        out = REPO / "bench" / "results" / f"s5-server-cpu-{stamp}.json"
        out.parent.mkdir(exist_ok=True)
        meta = {"size_mib": args.size_mib, "files": 2, "transfers": TRANSFERS,
                "load_average": os.getloadavg(), "cpus": os.cpu_count()}
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        print(f"results: {out.relative_to(REPO)}")
        print("\n| tool | wall s (mean) | client CPU s | moto CPU s |")
        print("| --- | ---: | ---: | ---: |")
        for name, _, _ in tools:
            mine = [r for r in rows if r["tool"] == name]
            mean = {k: sum(r[k] for r in mine) / len(mine) for k in ("wall", "client_cpu",
                                                                      "moto_cpu")}
            print(f"| {name} | {mean['wall']:.2f} | {mean['client_cpu']:.2f} | "
                  f"{mean['moto_cpu']:.2f} |")
    finally:
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
