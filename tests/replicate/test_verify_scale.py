"""`verify` at scale: the listings merge-joined as they stream, a bounded number of
comparisons in flight, reports that list the first REPORT_KEYS keys of each kind and
count them all.

- verifying 250,000 local objects needs no more memory than verifying 12,000 (before:
  801 MiB peak at 250,000, every listing and a future per key held);
- a damaged object in the middle (same size, other bytes), a missing one and an extra
  one are still reported, by key; the counts are exact when the lists are capped;
- below the cap, the report is the whole truth, in key order.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from providers.local.storage import LocalStorage
from providers.replication import REPORT_KEYS, ReplicationOptions, verify_prefix
from tests.replicate.trees import hard_link_tree, run_json

VERIFY = textwrap.dedent(
    """
    import json, sys
    from providers.local.storage import LocalStorage
    from providers.replication import KeyRange, ReplicationOptions, verify_prefix
    hi = sys.argv[3] or None
    opts = ReplicationOptions(key_range=KeyRange(None, hi), transfers=4)
    (r,) = verify_prefix(LocalStorage(sys.argv[1]), "", [(LocalStorage(sys.argv[2]), "")], opts)
    print(json.dumps({
        "rss_mib": peak_rss_mib(),
        "counts": {w: r.count(w) for w in ("missing", "differ", "extra", "unchecked",
                                           "compared_by")},
        "match": r.match, "missing": r.missing[:3], "differ": list(r.differ), "extra": r.extra,
        "listed": {w: len(getattr(r, w)) for w in ("missing", "compared_by")},
        "truncated": r.truncated, "how": sorted(set(r.compared_by.values())),
    }))
    """
)


def test_verify_memory_is_flat_at_250k_objects_and_a_mismatch_mid_way_is_reported(
    tmp_path: Path,
) -> None:
    """250,000 source objects; the target holds the first 50,000 (compared byte by byte:
    local files without records) and lacks the other 200,000."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    hard_link_tree(src, 250_000)
    hard_link_tree(dst, 50_000)
    damaged = dst / "d0025" / "f0500"
    damaged.unlink()
    damaged.write_bytes(b"y")  # same size, other bytes, in the middle
    (dst / "d0007" / "f0003").unlink()
    (dst / "d0030" / "f0004.extra").write_bytes(b"!")

    def verify(hi: str) -> dict[str, Any]:
        return run_json(VERIFY, str(src), str(dst), hi, timeout=240)

    small = verify("d0012")  # the first 12,000 keys
    large = verify("")  # all 250,000
    assert small["counts"] == {
        "missing": 1, "differ": 0, "extra": 0, "unchecked": 0, "compared_by": 11_999
    }  # fmt: skip
    assert small["missing"] == ["d0007/f0003"] and small["truncated"] == ["compared_by"]
    assert large["counts"] == {
        "missing": 200_001, "differ": 1, "extra": 1, "unchecked": 0, "compared_by": 49_998
    }  # fmt: skip
    assert large["match"] == 49_998
    assert large["differ"] == ["d0025/f0500"] and large["extra"] == ["d0030/f0004.extra"]
    # the lists are capped, in key order, the counts are not
    assert large["missing"] == ["d0007/f0003", "d0050/f0000", "d0050/f0001"]
    assert large["listed"] == {"missing": REPORT_KEYS, "compared_by": REPORT_KEYS}
    assert large["truncated"] == ["missing", "compared_by"]
    assert large["how"] == ["download:sha256"]  # both sides' bytes read: local, no records
    # 20x the source objects, 4x the comparisons, (nearly) the same peak
    assert large["rss_mib"] < small["rss_mib"] + 16, (small, large)
    assert large["rss_mib"] < 150, large


def test_below_the_cap_the_report_lists_every_key_in_order(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    names = [f"k{i:03d}" for i in range(300)]
    for name in names:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(name.encode())
    dst.mkdir()
    for name in names[::2]:
        (dst / name).write_bytes(name.encode())
    (dst / "k001").write_bytes(b"k00x")  # present on the target, other bytes
    for name in ("k003", "k299"):
        (dst / name).write_bytes(b"other size")
    (dst / "zz").write_bytes(b"extra")
    (report,) = verify_prefix(
        LocalStorage(src), "", [(LocalStorage(dst), "")], ReplicationOptions(transfers=3)
    )
    assert report.differ == ("k001", "k003", "k299")
    assert report.missing == tuple(n for n in names[1::2] if n not in ("k001", "k003", "k299"))
    assert report.extra == ("zz",)
    assert report.match == 150 and list(report.compared_by) == names[::2]
    assert report.truncated == () and report.count("missing") == len(report.missing)
    assert not report.ok
