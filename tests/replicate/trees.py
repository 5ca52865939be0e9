"""Large local source trees for the flat-memory tests, made fast."""

from __future__ import annotations

import os
from pathlib import Path


def hard_link_tree(root: Path, n: int) -> None:
    """n one-byte objects: hard links to one file per directory of 1,000."""
    for d in range(n // 1000):
        directory = root / f"d{d:04d}"
        directory.mkdir(parents=True)
        seed = directory / "f0000"
        seed.write_bytes(b"x")
        for i in range(1, 1000):
            os.link(seed, directory / f"f{i:04d}")
