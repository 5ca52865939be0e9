"""Every provider pair that exists, against the emulators (moto, gcp-storage-emulator)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from providers.base import SupportsBuckets
from providers.locations import open_location
from providers.replication import ReplicationOptions, replicate_prefix, verify_prefix

pytestmark = pytest.mark.emulators

CONTENT = {
    "plain.txt": b"hello",
    "empty": b"",
    "with space/ünïcödé 名前.txt": "héllo wörld".encode(),
    "deep/a/b/c.bin": os.urandom(100_000),
}


def new_store(kind: str, tmp_path: Path) -> Any:
    name = f"rep-{uuid.uuid4().hex[:10]}"
    if kind == "local":
        return open_location(str(tmp_path / name))[0]
    scheme = {"s3": "s3", "gcs": "gs", "az": "az"}[kind]
    storage, _ = open_location(f"{scheme}://{name}")
    assert isinstance(storage, SupportsBuckets)
    storage.create_bucket()
    return storage


def seed(store: Any, tmp_path: Path, content: dict[str, bytes]) -> None:
    for key, data in content.items():
        f = tmp_path / hashlib.sha256(key.encode()).hexdigest()
        f.write_bytes(data)
        store.upload(f, key)


# every provider whose storage is in this tree; Azure joins once providers/azure is here
KINDS = ["local", "s3", "gcs"] + (["az"] if importlib.util.find_spec("providers.azure") else [])
PAIRS = [(a, b) for a in KINDS for b in KINDS if a != b]


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_pair_copies_verifies_then_skips(src_kind: str, dst_kind: str, tmp_path: Path) -> None:
    src = new_store(src_kind, tmp_path)
    dst = new_store(dst_kind, tmp_path)
    seed(src, tmp_path, CONTENT)
    options = ReplicationOptions(journal_dir=str(tmp_path / "state"), transfers=4)
    (report,) = replicate_prefix(src, "", [(dst, "copy")], options)
    assert report.ok, report.errors
    assert report.copied == len(CONTENT)
    for key, data in CONTENT.items():
        head = dst.head(f"copy/{key}")
        assert head.size == len(data) and head.sha256 == hashlib.sha256(data).hexdigest()
        with dst.open_read(f"copy/{key}") as fh:
            assert fh.read() == data
    (again,) = replicate_prefix(src, "", [(dst, "copy")], options)
    assert (again.copied, again.skipped) == (0, len(CONTENT))
    (check,) = verify_prefix(src, "", [(dst, "copy")])
    assert check.ok and check.match == len(CONTENT)


def test_fan_out_from_local_to_every_cloud_with_a_multipart_object(tmp_path: Path) -> None:
    src = new_store("local", tmp_path)
    big = os.urandom(12 * 1024 * 1024)  # above the 8 MiB multipart/block thresholds
    seed(src, tmp_path, {**CONTENT, "big.bin": big})
    clouds = [new_store(k, tmp_path) for k in KINDS if k != "local"]
    targets = [(c, "") for c in clouds]
    options = ReplicationOptions(journal_dir=str(tmp_path / "state"), transfers=4)
    reports = replicate_prefix(src, "", targets, options)
    assert all(r.ok and r.copied == len(CONTENT) + 1 for r in reports), reports
    for store in clouds:
        assert store.head("big.bin").sha256 == hashlib.sha256(big).hexdigest()
    assert all(r.ok for r in verify_prefix(src, "", targets))
