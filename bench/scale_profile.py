"""Where a local -> local copy's CPU goes, per object (on demand, not CI).

    python bench/scale_profile.py --objects 20000            # cProfile, top functions
    python bench/scale_profile.py --objects 20000 --no-profile  # CPU per object only

Makes (once) N small files as bench/scale_bench.py does, then copies them in this process
with the engine the CLI calls (`replicate_prefix`, 8 transfers, a journal), into a fresh
target: CPU per object excludes the CLI's start-up. Prints user+sys CPU per object and,
with the profiler, the functions with the most own time (tottime) and cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scale_bench import make_source  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def user_sys() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=20_000)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "scale-profile"))
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--noop", action="store_true", help="also time a second (no-op) run")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--transfers", type=int, default=8)
    args = ap.parse_args(argv)

    from providers.local.storage import LocalStorage
    from providers.replication import ReplicationOptions, replicate_prefix

    root = Path(args.work)
    root.mkdir(parents=True, exist_ok=True)
    src = make_source(root, args.objects)
    dst = root / "target"
    state = root / "state"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)
    opts = ReplicationOptions(transfers=args.transfers, journal_dir=str(state))

    def copy() -> None:
        (report,) = replicate_prefix(LocalStorage(src), "", [(LocalStorage(dst), "")], opts)
        if not report.ok:
            raise SystemExit(f"copy failed: {report.errors}")

    # CPU time, not wall (a shared machine); exact only with --transfers 1 (one thread)
    prof = None if args.no_profile else cProfile.Profile(time.process_time)
    (u0, s0), w0 = user_sys(), time.perf_counter()
    c0 = u0 + s0
    if prof:
        prof.enable()
    copy()
    if prof:
        prof.disable()
    (u1, s1), w1 = user_sys(), time.perf_counter()
    c1 = u1 + s1
    n = args.objects + 1  # and the .complete marker
    print(f"copy: {n} objects, {c1 - c0:.2f} s CPU ({(c1 - c0) / n * 1e6:.0f} us/object: "
          f"user {(u1 - u0) / n * 1e6:.0f}, sys {(s1 - s0) / n * 1e6:.0f}), "
          f"{w1 - w0:.2f} s wall")  # fmt: skip
    if args.noop:
        c2 = cpu()
        copy()
        c3 = cpu()
        print(f"no-op: {(c3 - c2) / n * 1e6:.0f} us/object")
    if prof:
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(order).print_stats(args.top)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
