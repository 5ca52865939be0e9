"""Scale benchmark: many small objects, `specify cloud replicate` side by side with rclone.

Run on demand (not in CI), one command:

    python bench/scale_bench.py                      # 10k, 100k, 1M local->local; 100k local->S3
    python bench/scale_bench.py --sizes 10000 --s3 0 # a smoke run (what CI-less dev boxes do)

Each scenario makes N files of 64 B-4 KB (1,000 per directory, seeded, made once and kept
under --work), then runs, as separate processes so both pay their start-up:
copy (fresh target), no-op (the same again), and no-op with --checksum, for our CLI and
for rclone (/usr/bin/rclone, --transfers 8, local or moto S3 remote). Measured per run:
wall, CPU (user+sys of the child, from wait4) and peak RSS (VmHWM of the child); CPU per
object; ours/rclone ratios. Writes bench/results/scale-<stamp>.json and the "Scale"
section of docs/benchmarks.md.

Column hook: `EXTRA_COLUMNS` is a list of functions `(Scenario) -> dict | None`; each is
called for every copy scenario and its measurement (the keys of `run_measured`, plus a
"label") becomes one more column. The `shards` helper appends the one-process vs
two-worker Dask run there (see `dask_column`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.replicate_bench import run_measured  # noqa: E402

RCLONE = os.environ.get("RCLONE", "/usr/bin/rclone")
TRANSFERS = 8
PER_DIR = 1000
MARK_BEGIN = "<!-- scale-bench:begin -->"
MARK_END = "<!-- scale-bench:end -->"


@dataclass
class Scenario:
    """One source and one kind of target; what a column function needs to run its own."""

    name: str  # e.g. "local->local 100k"
    objects: int
    source: Path
    work: Path  # a directory the column may use for its targets and state
    env: dict[str, str]
    target_kind: str = "local"  # or "s3"
    s3_url: str | None = None  # s3://bucket/prefix for "s3"
    results: dict[str, Any] = field(default_factory=dict)
    rclone_env: dict[str, str] | None = None  # default: env


#: where each finished run is written as it finishes (--partial), for runs that may not end
PARTIAL: Path | None = None

#: more columns, each a function of a scenario returning one measurement (or None)
EXTRA_COLUMNS: list[Callable[[Scenario], dict[str, Any] | None]] = []


def dask_column(scenario: Scenario) -> dict[str, Any] | None:
    """The `shards` helper's columns: the scenario's copy through the `replicate` flow in
    one process, then on a two-worker local Dask cluster (bench/scale_dask.py). This one
    is the Dask run; `flow_column` below the one-process run."""
    from bench.scale_dask import dask_column as on_dask

    return on_dask(scenario)


def flow_column(scenario: Scenario) -> dict[str, Any] | None:
    from bench.scale_dask import flow_column as in_one_process

    return in_one_process(scenario)


EXTRA_COLUMNS.append(flow_column)
EXTRA_COLUMNS.append(dask_column)


# --------------------------------------------------------------------------- data
def make_source(root: Path, n: int) -> Path:
    """N files of 64 B-4 KB (seeded), PER_DIR per directory; made once, then reused."""
    src = root / f"src-{n}"
    marker = src / ".complete"
    if marker.is_file():
        return src
    shutil.rmtree(src, ignore_errors=True)
    rnd = random.Random(n)
    for i in range(n):
        d = src / f"d{i // PER_DIR:05d}"
        if i % PER_DIR == 0:
            d.mkdir(parents=True)
        (d / f"f{i:08d}.bin").write_bytes(rnd.randbytes(rnd.randint(64, 4096)))
    marker.write_text(str(n))  # a file rclone copies too; one object more on both sides
    return src


# --------------------------------------------------------------------------- runs
def ours(env: dict[str, str], src: str, dst: str, state: Path, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "commands", "cloud", "replicate", src, "--to", dst]
    cmd += ["--transfers", str(TRANSFERS), "--state-dir", str(state), "--json", *extra]
    out = run_measured(cmd, env)
    report = json.loads(out.pop("stdout"))["targets"][0]
    if not report["ok"]:
        raise RuntimeError(f"replicate failed: {report.get('error') or report['errors']}")
    out["copied"], out["skipped"] = report["copied"], report["skipped"]
    return out


def rclone(env: dict[str, str], conf: Path, src: str, dst: str, *extra: str) -> dict[str, Any]:
    cmd = [RCLONE, "--config", str(conf), "copy", src, dst, "--transfers", str(TRANSFERS)]
    out = run_measured([*cmd, *extra], env)
    out.pop("stdout")
    return out


#: what a scenario runs (--runs): copy, no-op, no-op --checksum, the EXTRA_COLUMNS
RUNS = ("copy", "noop", "checksum", "columns")


def scenario_runs(
    sc: Scenario, conf: Path, ours_dst: str, rclone_dst: str, runs: tuple[str, ...] = RUNS
) -> None:
    state = sc.work / "state"
    shutil.rmtree(state, ignore_errors=True)
    src = str(sc.source)
    r = sc.results
    renv = sc.rclone_env or sc.env

    def done(name: str) -> None:  # progress and partial results, for long runs
        m = r[name]
        print(f"  {name}: {m['seconds']:.1f} s wall, {m['cpu_s']:.1f} s CPU, "
              f"{m['peak_rss_mib']:.0f} MiB peak RSS", flush=True)  # fmt: skip
        if PARTIAL is not None:
            PARTIAL.write_text(json.dumps({"name": sc.name, "objects": sc.objects, "runs": r}))

    r["ours copy"] = ours(sc.env, src, ours_dst, state)
    done("ours copy")
    r["rclone copy"] = rclone(renv, conf, src, rclone_dst)
    done("rclone copy")
    if "noop" in runs:
        r["ours no-op"] = ours(sc.env, src, ours_dst, state)
        done("ours no-op")
        r["rclone no-op"] = rclone(renv, conf, src, rclone_dst)
        done("rclone no-op")
    if "checksum" in runs:
        r["ours no-op --checksum"] = ours(sc.env, src, ours_dst, state, "--checksum")
        done("ours no-op --checksum")
        r["rclone no-op --checksum"] = rclone(renv, conf, src, rclone_dst, "--checksum")
        done("rclone no-op --checksum")
    for column in EXTRA_COLUMNS if "columns" in runs else ():
        got = column(sc)
        if got:
            r[str(got.pop("label", column.__name__))] = got
    for m in r.values():
        m["cpu_us_per_object"] = round(m["cpu_s"] / sc.objects * 1e6, 1)


def local_scenario(
    root: Path, n: int, env: dict[str, str], conf: Path, runs: tuple[str, ...] = RUNS
) -> Scenario:
    src = make_source(root, n)
    work = root / f"run-local-{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sc = Scenario(f"local->local {n:,}", n, src, work, env)
    scenario_runs(sc, conf, str(work / "ours"), str(work / "rclone"), runs)
    return sc


def s3_scenario(
    root: Path, n: int, env: dict[str, str], conf: Path, runs: tuple[str, ...] = RUNS
) -> Scenario:
    from tests.emulators import Emulators

    src = make_source(root, n)
    work = root / f"run-s3-{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    emu = Emulators(work / "emulators")
    emu.start(("moto",))
    try:
        s3env = {**env, **emu.env}
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=emu.url("moto"),
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="scale")
        s3conf = work / "rclone.conf"
        s3conf.write_text(
            "[s3]\ntype = s3\nprovider = Other\naccess_key_id = testing\n"
            f"secret_access_key = testing\nendpoint = {emu.url('moto')}\n"
            "force_path_style = true\nregion = us-east-1\n"
        )
        sc = Scenario(f"local->S3 (moto) {n:,}", n, src, work, s3env, "s3", "s3://scale/ours")
        sc.rclone_env = {k: v for k, v in s3env.items() if k != "AWS_CA_BUNDLE"}
        scenario_runs(sc, s3conf, "s3://scale/ours", "s3:scale/rclone", runs)
    finally:
        emu.stop()
    return sc


# --------------------------------------------------------------------------- output
def rows(sc: Scenario) -> list[str]:
    r = sc.results
    out = []
    pairs = [
        ("copy", "ours copy", "rclone copy"),
        ("no-op", "ours no-op", "rclone no-op"),
        ("no-op vs rclone --checksum", "ours no-op", "rclone no-op --checksum"),
        ("no-op, both --checksum", "ours no-op --checksum", "rclone no-op --checksum"),
    ]
    shown: set[str] = set()
    for label, a, b in pairs:
        if a not in r or b not in r:
            continue
        shown |= {a, b}
        x, y = r[a], r[b]
        out.append(
            f"| {sc.name} | {label} | {x['seconds']:.1f} / {y['seconds']:.1f} | "
            f"{x['cpu_s']:.1f} / {y['cpu_s']:.1f} | "
            f"{x['cpu_us_per_object']:.0f} / {y['cpu_us_per_object']:.0f} | "
            f"{x['peak_rss_mib']:.0f} / {y['peak_rss_mib']:.0f} | "
            f"{x['cpu_s'] / max(y['cpu_s'], 1e-9):.2f}x |"
        )
    for name, m in r.items():
        if name not in shown:  # a column of its own, or a run whose pair did not finish
            out.append(
                f"| {sc.name} | {name} | {m['seconds']:.1f} | {m['cpu_s']:.1f} | "
                f"{m['cpu_us_per_object']:.0f} | {m['peak_rss_mib']:.0f} | |"
            )
    return out


def markdown(scenarios: list[Scenario], meta: dict[str, Any]) -> str:
    lines = [
        MARK_BEGIN,
        "## Scale (`bench/scale_bench.py`)",
        "",
        f"{meta['when']}, {meta['machine']}, rclone {meta['rclone']}; small files of 64 B-4 KB "
        f"(1,000 per directory), {TRANSFERS} transfers. Each cell is ours / rclone; CPU is "
        "user+sys of the process (wait4), RSS its peak (VmHWM). The ratio is CPU, ours over "
        "rclone. Our no-op trusts the journal's verified copy when size, etag and the "
        "source's version match (rclone: size and modtime); `--checksum` compares sha256 "
        "records on both sides (rclone: hashes both files).",
        "",
        *([meta["note"], ""] if meta.get("note") else []),
        "| scenario | run | wall s | CPU s | CPU us/object | peak RSS MiB | CPU ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for sc in scenarios:
        lines += rows(sc)
    lines += ["", f"Raw numbers: `{meta['results']}`.", MARK_END]
    return "\n".join(lines)


def render(paths: list[str], note: str, docs: bool) -> int:
    """The docs section from earlier results files (runs made apart, e.g. 1M alone)."""
    scenarios: list[Scenario] = []
    metas = []
    for p in paths:
        data = json.loads(Path(p).read_text())
        if "meta" not in data:  # a --partial file: one scenario, cut short
            stamp = time.gmtime(Path(p).stat().st_mtime)
            data = {
                "meta": {
                    "when": time.strftime("%Y-%m-%d %H:%M UTC", stamp),
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                    f"Python {platform.python_version()}",
                    "rclone": "?",
                },
                "scenarios": [{**data, "name": f"{data['name']} (partial)"}],
            }
        metas.append(data["meta"])
        for s in data["scenarios"]:
            sc = Scenario(s["name"], s["objects"], Path(), Path(), {})
            sc.results = s["runs"]
            for m in sc.results.values():
                m.setdefault("cpu_us_per_object", round(m["cpu_s"] / sc.objects * 1e6, 1))
            scenarios.append(sc)
    meta = dict(next((m for m in metas if m.get("rclone") != "?"), metas[0]))
    meta["when"] = ", ".join(sorted({m["when"] for m in metas}))
    meta["results"] = "`, `".join(
        str(Path(p).resolve().relative_to(REPO)) if Path(p).resolve().is_relative_to(REPO) else p
        for p in paths
    )
    meta["note"] = note or " ".join(m.get("note", "") for m in metas if m.get("note"))
    text = markdown(scenarios, meta)
    print(text)
    if docs:
        write_docs(text)
    return 0


def write_docs(text: str) -> None:
    path = REPO / "docs" / "benchmarks.md"
    doc = path.read_text() if path.is_file() else ""
    if MARK_BEGIN in doc and MARK_END in doc:
        head, rest = doc.split(MARK_BEGIN, 1)
        _, tail = rest.split(MARK_END, 1)
        doc = head + text + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="local->local sizes")
    ap.add_argument("--s3", type=int, default=100_000, help="local->S3 size (0: none)")
    ap.add_argument("--work", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "scale-bench"))
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument(
        "--runs", default=",".join(RUNS),
        help=f"which runs per scenario, of {','.join(RUNS)} (copy always; e.g. copy,noop at 1M)",
    )  # fmt: skip
    ap.add_argument("--out", help="results JSON (default bench/results/scale-<stamp>.json)")
    ap.add_argument("--partial", help="write each finished run here as it finishes")
    ap.add_argument("--note", default="", help="a sentence for the docs (e.g. machine load)")
    ap.add_argument(
        "--from-results", help="comma-separated results JSON files: render them (no runs)"
    )
    args = ap.parse_args(argv)
    if args.from_results:
        return render(args.from_results.split(","), args.note, not args.no_docs)
    runs = tuple(x.strip() for x in args.runs.split(",") if x.strip())
    unknown = set(runs) - set(RUNS)
    if unknown:
        ap.error(f"--runs: unknown {sorted(unknown)}; choose from {','.join(RUNS)}")
    global PARTIAL
    PARTIAL = Path(args.partial) if args.partial else None
    root = Path(args.work)
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SPECIFY_AUDIT_LOG": str(root / "audit.jsonl"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    conf = root / "rclone.conf"
    conf.write_text("")
    scenarios = []
    for n in (int(x) for x in args.sizes.split(",") if x.strip()):
        print(f"local->local {n:,} ...", flush=True)
        scenarios.append(local_scenario(root, n, env, conf, runs))
    if args.s3:
        print(f"local->S3 {args.s3:,} ...", flush=True)
        scenarios.append(s3_scenario(root, args.s3, env, conf, runs))
    version = subprocess.run([RCLONE, "version"], capture_output=True, text=True).stdout
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"scale-{stamp}.json"
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "rclone": version.split("\n", 1)[0].removeprefix("rclone ").strip(),
        "results": str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out),
        "note": args.note,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"meta": meta, "scenarios": [{"name": s.name, "objects": s.objects,
                                          "runs": s.results} for s in scenarios]},
            indent=2,
        )
    )  # fmt: skip
    text = markdown(scenarios, meta)
    print(text)
    if not args.no_docs:
        write_docs(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
