"""Replication benchmark: `specify cloud replicate` side by side with Debian's rclone.

Run on demand (not in CI):  python bench/replicate_bench.py [--quick] [--no-prefect]

Starts the emulators (tests/emulators.py), runs each scenario with our CLI and with rclone
as separate processes (so both pay their start-up), and records wall time, client CPU
(user+sys of the child, from wait4) and peak RSS. Beside them, two floors of the same
bytes moved by bare client calls (bench/floors.py): the Python SDKs, and obstore (Rust
object_store). Writes bench/results/replicate-<stamp>.json and the "Replication" section
of docs/benchmarks.md. Every tool uses 8 transfers. `--no-floors` skips the floors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from providers.base import SupportsBuckets  # noqa: E402
from tests.emulators import AZURITE_ACCOUNT, Emulators  # noqa: E402

TRANSFERS = 8
MARK_BEGIN = "<!-- replicate-bench:begin -->"
MARK_END = "<!-- replicate-bench:end -->"


def run_measured(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Like run, with the child's own peak RSS (wait4 before anything else reaps it)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # drain pipes in threads so wait4 can reap the child itself
    import threading

    chunks: dict[str, str] = {}

    def drain(name: str, stream: Any) -> None:
        chunks[name] = stream.read()

    peak = {"kib": 0}

    def watch() -> None:
        # VmHWM of the child itself: ru_maxrss from wait4 keeps the RSS of the process
        # before exec (this Python parent), a floor that would hide small numbers
        status = Path(f"/proc/{proc.pid}/status")
        while proc.returncode is None:
            with contextlib.suppress(OSError, ValueError):
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak["kib"] = max(peak["kib"], int(line.split()[1]))
            time.sleep(0.02)

    threads = [
        threading.Thread(target=drain, args=("out", proc.stdout)),
        threading.Thread(target=drain, args=("err", proc.stderr)),
        threading.Thread(target=watch, daemon=True),
    ]
    for t in threads:
        t.start()
    # reap it ourselves only after the last VmHWM sample: wait for it to become a zombie
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    elapsed = time.perf_counter() - started
    status_path = Path(f"/proc/{proc.pid}/status")
    with contextlib.suppress(OSError, ValueError):
        for line in status_path.read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak["kib"] = max(peak["kib"], int(line.split()[1]))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads[:2]:
        t.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:5])} failed: {chunks.get('err', '')[-2000:]}")
    return {
        "seconds": round(elapsed, 3),
        "peak_rss_mib": round((peak["kib"] or usage.ru_maxrss) / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "stdout": chunks.get("out", ""),
    }


class Bench:
    def __init__(
        self, work: Path, quick: bool, floors: bool = True, sdk_path: bool = True
    ) -> None:
        self.work = work
        self.quick = quick
        self.floors = floors
        #: also run our CLI with SPECIFY_DATA_PLANE=sdk (the SDK byte path) per scenario
        self.sdk_path = sdk_path
        self.emu = Emulators(work / "emulators")
        self.env: dict[str, str] = {}
        self.results: list[dict[str, Any]] = []
        self.azure = False

    # ------------------------------------------------------------------ setup
    def start(self) -> None:
        import importlib.util

        self.azure = importlib.util.find_spec("providers.azure") is not None
        self.emu.start(("moto", "gcs", "azurite") if self.azure else ("moto", "gcs"))
        self.env = {
            **os.environ,
            **self.emu.env,
            "PYTHONPATH": str(REPO),
            "SPECIFY_STATE_DIR": str(self.work / "state"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        os.environ.update(self.env)
        conf = self.work / "rclone.conf"
        lines = [
            "[s3]",
            "type = s3",
            "provider = Other",
            "access_key_id = testing",
            "secret_access_key = testing",
            f"endpoint = {self.emu.url('moto')}",
            "force_path_style = true",
            "region = us-east-1",
            "",
            "[gcs]",
            "type = google cloud storage",
            "anonymous = true",
            f"endpoint = {self.emu.url('gcs')}/storage/v1/",
            "project_number = test-project",
            "bucket_policy_only = true",
            "",
        ]
        if self.azure:
            lines += [
                "[az]",
                "type = azureblob",
                "use_emulator = true",
                f"endpoint = {self.emu.url('azurite')}/{AZURITE_ACCOUNT}",
                "",
            ]
        conf.write_text("\n".join(lines))
        self.rclone_env = {k: v for k, v in self.env.items() if k != "AWS_CA_BUNDLE"}
        self.rclone_base = ["rclone", "--config", str(conf), "--transfers", str(TRANSFERS)]

    def stop(self) -> None:
        self.emu.stop()

    # ------------------------------------------------------------------ helpers
    def make_files(self, name: str, count: int, size: int) -> Path:
        root = self.work / name
        for i in range(count):
            p = root / f"d{i // 100:02d}" / f"obj-{i:05d}.bin"
            p.parent.mkdir(parents=True, exist_ok=True)
            with p.open("wb") as fh:
                left = size
                while left:
                    n = min(left, 4 * 1024 * 1024)
                    fh.write(os.urandom(n))
                    left -= n
        return root

    def bucket(self, kind: str) -> str:
        """A fresh bucket/container; our CLI expects it to exist (rclone creates its own)."""
        from providers.locations import open_location

        name = f"b-{uuid.uuid4().hex[:12]}"
        scheme = {"s3": "s3", "gcs": "gs", "az": "az"}[kind]
        storage, _ = open_location(f"{scheme}://{name}")
        assert isinstance(storage, SupportsBuckets), f"{scheme}:// stores create their bucket"
        storage.create_bucket()
        return f"{scheme}://{name}"

    def ours(
        self, src: str, targets: list[str], *extra: str, plane: str | None = None
    ) -> dict[str, Any]:
        """Our CLI; plane='sdk' runs it with SPECIFY_DATA_PLANE=sdk (providers/native)."""
        cmd = [
            sys.executable,
            "-m",
            "commands",
            "cloud",
            "replicate",
            src,
            "--to",
            ",".join(targets),
        ]
        env = {**self.env, "SPECIFY_DATA_PLANE": plane} if plane else self.env
        res = run_measured([*cmd, "--transfers", str(TRANSFERS), "--json", *extra], env)
        report = json.loads(res.pop("stdout"))
        res["copied"] = [t["copied"] for t in report["targets"]]
        res["skipped"] = [t["skipped"] for t in report["targets"]]
        if not all(t["ok"] for t in report["targets"]):
            raise RuntimeError(f"our replication failed: {report}")
        return res

    def rclone(self, src: str, dst: str) -> dict[str, Any]:
        res = run_measured([*self.rclone_base, "copy", src, dst], self.rclone_env)
        res.pop("stdout")
        return res

    def floor(self, lib: str, scenario: str, *args: str) -> dict[str, Any]:
        """One bench/floors.py run: the bare client calls of `lib` ('sdk' or 'obstore')."""
        cmd = [sys.executable, str(REPO / "bench" / "floors.py"), lib, scenario, *args,
               "--transfers", str(TRANSFERS)]  # fmt: skip
        res = run_measured(cmd, self.env)
        res["objects"] = int(res.pop("stdout"))
        return res

    def floors_for(self, scenario: str, src: str, *kinds: str) -> dict[str, Any]:
        """Both floors of one scenario, each into fresh buckets of the given kinds."""
        if not self.floors:
            return {}
        return {
            lib: self.floor(lib, scenario, src, *(self.bucket(k) for k in kinds))
            for lib in ("sdk", "obstore")
        }

    def record(
        self, name: str, goal: str, ours: dict[str, Any], theirs: dict[str, Any], **kw: Any
    ) -> None:
        ratio = ours["seconds"] / theirs["seconds"] if theirs["seconds"] else None
        cpu = ours.get("cpu_s", 0) / theirs["cpu_s"] if theirs.get("cpu_s") else None
        row = {"scenario": name, "goal": goal, "ours": ours, "rclone": theirs,
               "ratio": round(ratio, 3) if ratio else None,
               "cpu_ratio": round(cpu, 3) if cpu else None, **kw}  # fmt: skip
        self.results.append(row)
        floors = kw.get("floors") or {}
        extra = "".join(
            f", {lib} floor {f['seconds']:.2f}s / {f['cpu_s']:.2f}s CPU"
            for lib, f in floors.items()
        )
        if kw.get("ours_sdk"):
            extra += f", ours on the SDK path {kw['ours_sdk']['cpu_s']:.2f}s CPU"
        print(f"{name}: ours {ours['seconds']:.2f}s / rclone {theirs['seconds']:.2f}s = "
              f"{row['ratio']}; CPU ours {ours.get('cpu_s')}s / rclone {theirs.get('cpu_s')}s"
              f"{extra}  (rss ours {ours['peak_rss_mib']} MiB, rclone "
              f"{theirs['peak_rss_mib']} MiB)", flush=True)  # fmt: skip

    def skip(self, name: str, goal: str, why: str) -> None:
        self.results.append({"scenario": name, "goal": goal, "skipped": why})
        print(f"{name}: skipped ({why})", flush=True)

    # ------------------------------------------------------------------ scenarios
    def scenario_small_and_noop(self) -> None:
        n = 200 if self.quick else 1000
        src = self.make_files("small", n, 64 * 1024)
        ours_dst, rc_dst = self.bucket("s3"), f"s3:r-{uuid.uuid4().hex[:12]}"
        ours = self.ours(str(src), [ours_dst])
        theirs = self.rclone(str(src), rc_dst)
        floors = self.floors_for("upload", str(src), "s3")
        sdk_dst = self.bucket("s3") if self.sdk_path else ""
        sdk = {"ours_sdk": self.ours(str(src), [sdk_dst], plane="sdk")} if sdk_dst else {}
        self.record(
            f"1. {n} x 64 KiB, local -> S3", "<= 1.0 (goal 0.8)", ours, theirs, floors=floors, **sdk
        )
        ours = self.ours(str(src), [ours_dst])
        theirs = self.rclone(str(src), rc_dst)
        assert ours["copied"] == [0], ours
        noop = {}
        if self.floors:  # walk + list the bucket our run filled, compare sizes
            noop = {lib: self.floor(lib, "noop", str(src), ours_dst) for lib in ("sdk", "obstore")}
        sdk = {"ours_sdk": self.ours(str(src), [sdk_dst], plane="sdk")} if sdk_dst else {}
        self.record(
            "3. second run, nothing changed (no-op)", "<= 1.0", ours, theirs, floors=noop, **sdk
        )

    def scenario_fan_out(self) -> None:
        n = 100 if self.quick else 300
        src = self.make_files("fanout", n, 64 * 1024)
        kinds = ["s3", "gcs"] + (["az"] if self.azure else [])
        targets = [self.bucket(k) for k in kinds]
        ours = self.ours(str(src), targets)
        total = {"seconds": 0.0, "cpu_s": 0.0, "peak_rss_mib": 0.0}
        for k in kinds:
            r = self.rclone(str(src), f"{k}:r-{uuid.uuid4().hex[:12]}")
            total["seconds"] += r["seconds"]
            total["cpu_s"] += r["cpu_s"]
            total["peak_rss_mib"] = max(total["peak_rss_mib"], r["peak_rss_mib"])
        total["seconds"] = round(total["seconds"], 3)
        total["cpu_s"] = round(total["cpu_s"], 3)
        self.record(
            f"2. fan-out {n} x 64 KiB, local -> {' + '.join(k.upper() for k in kinds)}",
            "<= 0.8 x the rclone runs back to back",
            ours,
            total,
            floors=self.floors_for("fanout", str(src), *kinds),
            **(
                {"ours_sdk": self.ours(str(src), [self.bucket(k) for k in kinds], plane="sdk")}
                if self.sdk_path
                else {}
            ),
            note="the obstore floor writes gs:// with the SDK (the GCS emulator does not "
            "speak object_store's XML API)"
            + ("" if self.azure else "; Azure provider not on this branch: S3 + GCS only"),
        )

    def scenario_s3_to_azure(self) -> None:
        name, goal = "4. S3 -> Azure, 500 objects", "<= 1.0"
        if not self.azure:
            self.skip(name, goal, "providers.azure is not on this branch yet")
            return
        src = self.make_files("s3src", 500, 16 * 1024)
        s3 = self.bucket("s3")
        rc_s3 = f"s3:r-{uuid.uuid4().hex[:12]}"
        self.ours(str(src), [s3])  # fill the sources (not timed)
        self.rclone(str(src), rc_s3)

        # Azurite slows down as it holds more blobs, which would favour whichever tool runs
        # first; so each tool runs twice in the order A B C C B A and the means are compared
        def raw_run() -> dict[str, Any]:
            target = self.bucket("az").removeprefix("az://")
            cmd = [sys.executable, str(REPO / "bench" / "raw_s3_to_azure.py"),
                   s3.removeprefix("s3://"), target, str(TRANSFERS)]  # fmt: skip
            res = run_measured(cmd, self.env)
            assert int(res.pop("stdout")) == 500, "the bare SDK copy did not see 500 objects"
            return res

        runs: dict[str, list[dict[str, Any]]] = {"raw": [], "ours": [], "rclone": []}
        tools = {
            "raw": raw_run,
            "ours": lambda: self.ours(s3, [self.bucket("az")]),
            "rclone": lambda: self.rclone(rc_s3, f"az:r-{uuid.uuid4().hex[:12]}"),
            "obstore": lambda: self.floor("obstore", "copy", s3, self.bucket("az")),
            "ours_sdk": lambda: self.ours(s3, [self.bucket("az")], plane="sdk"),
        }
        order = ["raw", "ours", "rclone", "rclone", "ours", "raw"]
        if self.sdk_path:
            runs["ours_sdk"] = []
            order = ["ours_sdk", *order, "ours_sdk"]
        if self.floors:
            runs["obstore"] = []
            order = ["obstore", *order, "obstore"]
        for tool in order:
            runs[tool].append(tools[tool]())
        raw, ours, theirs = (_mean(runs[t]) for t in ("raw", "ours", "rclone"))
        floors = {"sdk": raw, **({"obstore": _mean(runs["obstore"])} if self.floors else {})}
        self.record(
            name,
            goal,
            ours,
            theirs,
            raw_sdk=raw,
            floors=floors,
            **({"ours_sdk": _mean(runs["ours_sdk"])} if self.sdk_path else {}),
            runs=runs,
            note=(
                f"mean of two runs each, ordered bare SDK, ours, rclone, rclone, ours, bare SDK. "
                f"Bare SDK calls (bench/raw_s3_to_azure.py: list, GetObject, Put Blob; no "
                f"checks) took {raw['seconds']:.2f} s = {raw['seconds'] / theirs['seconds']:.2f}"
                f" x rclone; ours = {ours['seconds'] / raw['seconds']:.2f} x the bare SDK. "
                f"Client CPU (user+sys): ours {ours['cpu_s']:.2f} s, bare SDK {raw['cpu_s']:.2f}"
                f" s, rclone {theirs['cpu_s']:.2f} s, on 2 cores shared with the emulators"
            ),
        )

    def scenario_large(self) -> None:
        size = (64 if self.quick else 256) * 1024 * 1024
        src = self.make_files("large", 2, size)
        ours = self.ours(str(src), [self.bucket("s3")])
        theirs = self.rclone(str(src), f"s3:r-{uuid.uuid4().hex[:12]}")
        self.record(
            f"5. 2 x {size // 2**20} MiB, local -> S3",
            "time <= 1.2 x rclone; our peak RSS <= 300 MiB",
            ours,
            theirs,
            floors=self.floors_for("upload", str(src), "s3"),
            **(
                {"ours_sdk": self.ours(str(src), [self.bucket("s3")], plane="sdk")}
                if self.sdk_path
                else {}
            ),
            rss_ok=ours["peak_rss_mib"] <= 300,
        )

    def scenario_prefect(self) -> None:
        """The same replication as a flow on a running Prefect server vs the engine."""
        src = self.make_files("prefect", 100, 16 * 1024)
        port = _free_port()
        server_env = {
            **self.env,
            "PREFECT_HOME": str(self.work / "prefect-home"),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
                f"sqlite+aiosqlite:///{self.work / 'prefect.db'}"
            ),
        }
        server = subprocess.Popen(
            ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            api = f"http://127.0.0.1:{port}/api"
            _wait_http(api + "/health", 120)
            flow_env = {**server_env, "PREFECT_API_URL": api}
            direct = run_measured(
                [sys.executable, "-m", "commands", "cloud", "replicate", str(src), "--to",
                 str(self.work / "prefect-direct"), "--json"], self.env)  # fmt: skip
            flowed = run_measured(
                [sys.executable, "-m", "commands", "cloud", "replicate", str(src), "--to",
                 str(self.work / "prefect-flow"), "--json", "--prefect"], flow_env)  # fmt: skip
            direct.pop("stdout")
            flowed.pop("stdout")
            self.results.append({
                "scenario": "Prefect overhead: 100 x 16 KiB local -> local",
                "engine_direct": direct, "flow_on_server": flowed,
                "overhead_s": round(flowed["seconds"] - direct["seconds"], 3),
            })  # fmt: skip
            print(f"prefect: direct {direct['seconds']}s, flow {flowed['seconds']}s", flush=True)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, 15)
            server.wait(timeout=30)


def _mean(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds, CPU and peak RSS of repeated runs: means, and the highest RSS."""
    return {
        "seconds": round(sum(r["seconds"] for r in runs) / len(runs), 3),
        "cpu_s": round(sum(r["cpu_s"] for r in runs) / len(runs), 3),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), opener.open(url, timeout=2):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def write_docs(results: list[dict[str, Any]], meta: dict[str, Any], json_name: str) -> None:
    lines = [
        MARK_BEGIN,
        "## Replication (`bench/replicate_bench.py`)",
        "",
        f"Run {meta['when']} on {meta['machine']} ({meta['cpus']} CPUs, shared), against "
        f"moto / gcp-storage-emulator{' / Azurite' if meta['azure'] else ''} on loopback; "
        f"rclone {meta['rclone']}. Both tools as separate processes with {TRANSFERS} "
        f"transfers; times are wall seconds including start-up. Raw: `bench/results/{json_name}`.",
        "",
        "| scenario | goal | ours (s) | rclone (s) | ratio | ours RSS (MiB) | rclone RSS (MiB) "
        "| CPU ours / rclone / obstore floor / SDK floor (s) | obstore / SDK floor (s) "
        "| CPU ours, SDK path (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    for r in results:
        if "skipped" in r:
            lines.append(
                f"| {r['scenario']} | {r['goal']} | - | - | skipped | - | - | - | - | - |"
            )
            notes.append(f"- {r['scenario']}: skipped: {r['skipped']}.")
        elif "ours" in r:
            fl = r.get("floors") or {}

            def cpu(d: dict[str, Any] | None) -> str:
                return f"{d['cpu_s']:.2f}" if d and "cpu_s" in d else "-"

            def wall(d: dict[str, Any] | None) -> str:
                return f"{d['seconds']:.2f}" if d else "-"

            lines.append(
                f"| {r['scenario']} | {r['goal']} | {r['ours']['seconds']:.2f} | "
                f"{r['rclone']['seconds']:.2f} | **{r['ratio']}** | "
                f"{r['ours']['peak_rss_mib']} | {r['rclone']['peak_rss_mib']} | "
                f"{cpu(r['ours'])} / {cpu(r['rclone'])} / {cpu(fl.get('obstore'))} / "
                f"{cpu(fl.get('sdk'))} | {wall(fl.get('obstore'))} / {wall(fl.get('sdk'))} | "
                f"{cpu(r.get('ours_sdk'))} |"
            )
            if r.get("note"):
                notes.append(f"- {r['scenario']}: {r['note']}.")
    for r in results:
        if "overhead_s" in r:
            notes.append(
                f"- {r['scenario']}: engine direct {r['engine_direct']['seconds']:.2f} s, "
                f"as the `replicate` flow on a running Prefect server "
                f"{r['flow_on_server']['seconds']:.2f} s (overhead {r['overhead_s']:.2f} s)."
            )
    lines += ["", *notes, MARK_END, ""]
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
    section = "\n".join(lines)
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        tail = rest.split(MARK_END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data sets")
    parser.add_argument("--no-prefect", action="store_true", help="skip the Prefect overhead")
    parser.add_argument(
        "--no-floors", action="store_true", help="skip the bare-SDK and obstore floors"
    )
    parser.add_argument(
        "--no-sdk-path",
        action="store_true",
        help="skip the extra run of our CLI with SPECIFY_DATA_PLANE=sdk",
    )
    parser.add_argument("--only", default="", help="comma-separated scenario numbers")
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        print("rclone is missing: apt-get install -y rclone", file=sys.stderr)
        return 2
    rclone_version = subprocess.run(
        ["rclone", "version"], capture_output=True, text=True
    ).stdout.split("\n")[0]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    with tempfile.TemporaryDirectory(prefix="replicate-bench-") as tmp:
        bench = Bench(
            Path(tmp), args.quick, floors=not args.no_floors, sdk_path=not args.no_sdk_path
        )
        bench.start()
        try:
            steps = [
                ("1", bench.scenario_small_and_noop),
                ("2", bench.scenario_fan_out),
                ("4", bench.scenario_s3_to_azure),
                ("5", bench.scenario_large),
            ]
            if not args.no_prefect:
                steps.append(("p", bench.scenario_prefect))
            for key, step in steps:
                if not only or key in only:
                    step()
        finally:
            bench.stop()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "azure": bench.azure,
        "rclone": rclone_version,
        "quick": args.quick,
        "transfers": TRANSFERS,
        "data_plane": os.environ.get("SPECIFY_DATA_PLANE", "auto"),
    }
    json_name = f"replicate-{stamp}.json"
    out = REPO / "bench" / "results" / json_name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": bench.results}, indent=2) + "\n")
    write_docs(bench.results, meta, json_name)
    print(f"wrote {out} and docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
