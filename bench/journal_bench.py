"""Journal layouts, on demand: merge time of segments and the cost of reading main plus
segments page by page, against the single-host file.

    python bench/journal_bench.py --rows 100000 --segments 50

Prints JSON: CPU seconds (user+sys of this process) and wall seconds per step.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from providers.journal import Journal, SegmentJournal, merge_segments


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn):  # type: ignore[no-untyped-def]
    c, w = cpu(), time.perf_counter()
    out = fn()
    return out, round(cpu() - c, 3), round(time.perf_counter() - w, 3)


def scan(journal: Journal) -> int:
    n, at = 0, ""
    while True:
        page = journal.done_page(at, 1000)
        n += len(page)
        if len(page) < 1000:
            return n
        at = page[-1][0] + "\0"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--segments", type=int, default=50)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="journal-bench-"))
    main_path = tmp / "journal-x.sqlite"
    Journal(main_path, "s", "t", mode="delete").close()
    per = args.rows // args.segments
    keys = [f"d{i // 1000:04d}/f{i:08d}" for i in range(args.rows)]

    def write() -> None:
        for s in range(args.segments):
            part = keys[s * per : (s + 1) * per]
            j = SegmentJournal(main_path, "s", "t", (part[0], None))
            for k in part:
                j.record(k, 100, "0" * 64, "etag", "run", "ev", "tag")
            j.close()

    _, w_cpu, w_wall = timed(write)
    view = SegmentJournal(main_path, "s", "t", (None, None), read_only=True)
    n_view, v_cpu, v_wall = timed(lambda: scan(view))
    view.close()
    report, m_cpu, m_wall = timed(lambda: merge_segments(main_path))
    plain = Journal.open_existing(main_path)
    assert plain is not None
    n_main, p_cpu, p_wall = timed(lambda: scan(plain))
    plain.close()
    print(json.dumps({
        "rows": args.rows, "segments": args.segments,
        "write_segments": {"cpu_s": w_cpu, "wall_s": w_wall},
        "scan_main_plus_segments": {"rows": n_view, "cpu_s": v_cpu, "wall_s": v_wall},
        "merge": {"segments": report.segments, "rows": report.rows, "cpu_s": m_cpu,
                  "wall_s": m_wall},
        "scan_main_after_merge": {"rows": n_main, "cpu_s": p_cpu, "wall_s": p_wall},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
