"""Small objects between directories go a batch at a time (`BatchesSmall`), with every
guarantee of the one-object path:

- a 5,000-object copy journals every object as verified, with the sha256 of its bytes,
  and the next run copies nothing;
- every copied key's record (`head`) is readable and names the bytes' sha256, also for
  keys that look like the record tree's own names;
- a source object whose bytes no longer hash to their record, in the middle of a batch,
  fails alone: the target keeps its old replica, nothing is journaled for it, and the
  objects before and after it in the batch are copied and journaled;
- a target path that cannot be written (a directory in the way) fails alone, the same;
- the audit log names every key written (one record per batch);
- a versioned target keeps the earlier version; a store whose one-object write is
  wrapped still sees every write.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from providers.local.storage import LocalStorage
from providers.replication import (
    BATCH,
    ReplicationOptions,
    _uri,
    journal_path,
    replicate_prefix,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_files(root: Path, files: dict[str, bytes]) -> LocalStorage:
    """Files written by another tool: no records."""
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return LocalStorage(root)


def temp_files(root: Path) -> list[str]:
    """Files left in the store's temp directories (each writing thread has its own)."""
    return [str(p) for p in (root / ".specify" / "tmp").rglob("*") if not p.is_dir()]


def opts(tmp: Path, **kw: Any) -> ReplicationOptions:
    return ReplicationOptions(journal_dir=str(tmp / "state"), transfers=2, **kw)


def journal_rows(tmp: Path, src: LocalStorage, dst: LocalStorage) -> dict[str, tuple[str, str]]:
    """target key -> (sha256, evidence), read from the SQLite file itself."""
    path = journal_path(_uri(src, ""), _uri(dst, ""), tmp / "state")
    with sqlite3.connect(path) as db:
        return {k: (h, e) for k, h, e in db.execute("SELECT key, sha256, evidence FROM done")}


def test_a_5k_copy_journals_every_object_verified_and_the_next_run_copies_nothing(
    tmp_path: Path,
) -> None:
    files = {f"d{i // 500:02d}/f{i:05d}": os.urandom(64 + i % 700) for i in range(5000)}
    src = raw_files(tmp_path / "src", files)
    dst = LocalStorage(tmp_path / "dst")
    (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert report.ok and report.copied == 5000 and report.failed == 0, report.errors
    rows = journal_rows(tmp_path, src, dst)
    assert set(rows) == set(files)
    for key, data in files.items():
        assert rows[key][0] == sha(data), key
        assert rows[key][1].startswith("local:sha256-on-write"), rows[key]
        assert (tmp_path / "dst" / key).read_bytes() == data
    # every temp file was renamed into place
    assert temp_files(tmp_path / "dst") == []
    (again,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert again.ok and again.copied == 0 and again.skipped == 5000


def test_every_copied_key_has_a_readable_record_of_its_bytes(tmp_path: Path) -> None:
    # keys shaped like the record tree's names: 'k' and 'k.json/b', 'a.d/x' and 'a/x'
    keys = ["k", "k.json/b", "a.d/x", "a/x", "a b/é", "名前/x.v", "x.json.d/y"]
    files = {k: os.urandom(100 + i) for i, k in enumerate(keys)}
    src = raw_files(tmp_path / "src", files)
    dst = LocalStorage(tmp_path / "dst")
    (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert report.ok and report.copied == len(keys), report.errors
    fresh = LocalStorage(tmp_path / "dst")  # another process's view: records on disk
    for key, data in files.items():
        head = fresh.head(key)
        assert head.size == len(data) and head.sha256 == sha(data), key
    assert sorted(o.key for o in fresh.list_objects()) == sorted(keys)


def test_a_rotten_source_object_mid_batch_fails_alone(tmp_path: Path) -> None:
    n = BATCH * 2
    files = {f"f{i:04d}": os.urandom(300) for i in range(n)}
    src = LocalStorage(tmp_path / "src")
    for key, data in files.items():
        # with records: the sha256 a read is checked against
        src.upload_stream(io.BytesIO(data), key, size=len(data), sha256=sha(data))
    bad = f"f{BATCH + 5:04d}"
    path = tmp_path / "src" / bad
    st = path.stat()
    rotten = bytearray(path.read_bytes())
    rotten[7] ^= 0x01
    with path.open("r+b") as fh:  # same size, same mtime: bit rot the record still claims
        fh.write(rotten)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    dst_root = tmp_path / "dst"
    old = os.urandom(300)
    raw_files(dst_root, {bad: old})
    dst = LocalStorage(dst_root)
    (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert not report.ok and report.failed == 1 and bad in report.errors
    assert report.copied == n - 1
    assert (dst_root / bad).read_bytes() == old  # the good old replica stays
    rows = journal_rows(tmp_path, src, dst)
    assert bad not in rows
    assert set(rows) == set(files) - {bad}
    for key in rows:
        assert rows[key][0] == sha(files[key])
        assert (dst_root / key).read_bytes() == files[key]


def test_a_target_path_that_cannot_be_written_fails_alone(tmp_path: Path) -> None:
    files = {f"f{i:04d}": os.urandom(200) for i in range(BATCH + 10)}
    src = raw_files(tmp_path / "src", files)
    blocked = "f0003"
    (tmp_path / "dst" / blocked / "inside").mkdir(parents=True)  # a directory in the way
    dst = LocalStorage(tmp_path / "dst")
    (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path, attempts=1))
    assert report.failed == 1 and blocked in report.errors and report.copied == len(files) - 1
    assert (tmp_path / "dst" / blocked / "inside").is_dir()
    rows = journal_rows(tmp_path, src, dst)
    assert set(rows) == set(files) - {blocked}
    assert temp_files(tmp_path / "dst") == []  # no temp file left


def test_the_audit_log_names_every_key_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("SPECIFY_AUDIT_LOG", str(log))
    files = {f"k{i:04d}": os.urandom(50) for i in range(3 * BATCH + 1)}
    src = raw_files(tmp_path / "src", files)
    (report,) = replicate_prefix(src, "", [(LocalStorage(tmp_path / "dst"), "")], opts(tmp_path))
    assert report.ok, report.errors
    records = [json.loads(line) for line in log.read_text().splitlines()]
    written = [k for r in records if r["what"].endswith("write_small") for k in r["keys"]]
    assert sorted(written) == sorted(files)
    assert all(r["result"] == "ok" and r["where"] == str(tmp_path / "dst") for r in records)


def test_a_versioned_target_keeps_the_earlier_version(tmp_path: Path) -> None:
    src = raw_files(tmp_path / "src", {"a": b"new bytes", "b": b"bee"})
    dst = LocalStorage(tmp_path / "dst")
    dst.set_versioning(True)
    raw_files(tmp_path / "dst", {"a": b"old bytes!"})
    (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert report.ok and report.copied == 2, report.errors
    versions = dst.list_versions("a")
    assert len(versions) == 2 and versions[0].is_latest
    assert (tmp_path / "dst" / "a").read_bytes() == b"new bytes"
    older = next(v for v in versions if not v.is_latest)
    assert dst.read_version("a", older.version_id) == b"old bytes!"


def test_a_wrapped_one_object_write_still_sees_every_write(tmp_path: Path) -> None:
    seen: list[str] = []

    class Watching(LocalStorage):
        def upload_stream(self, stream: Any, remote_key: str, **kw: Any) -> Any:
            seen.append(remote_key)
            return super().upload_stream(stream, remote_key, **kw)

    files = {f"w{i}": os.urandom(10) for i in range(20)}
    src = raw_files(tmp_path / "src", files)
    (report,) = replicate_prefix(src, "", [(Watching(tmp_path / "dst"), "")], opts(tmp_path))
    assert report.ok and sorted(seen) == sorted(files)


def test_a_copied_objects_record_fits_in_the_inode_and_old_records_still_read(
    tmp_path: Path,
) -> None:
    """A record without user metadata is 56 bytes (ext4 keeps up to about 60 in the inode;
    a longer one costs a 4 KiB block per file); records with metadata, and JSON records
    written before, read as they did."""
    data = os.urandom(2000)
    src = raw_files(tmp_path / "src", {"a": data})
    dst = LocalStorage(tmp_path / "dst")
    (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert report.ok, report.errors
    record = os.getxattr(tmp_path / "dst" / "a", "user.specify.meta")
    assert len(record) <= 60
    head = LocalStorage(tmp_path / "dst").head("a")
    assert head.sha256 == sha(data) and head.metadata == {} and head.version_id
    # with user metadata: the JSON record, metadata intact
    dst.upload_stream(
        io.BytesIO(data), "m", size=len(data), sha256=sha(data), metadata={"Owner": "ops"}
    )
    assert dst.head("m").metadata == {"owner": "ops"} and dst.head("m").sha256 == sha(data)
    # a JSON record as earlier versions wrote it on every file
    old = tmp_path / "dst" / "old"
    old.write_bytes(data)
    st = old.stat()
    legacy = {"sha256": sha(data), "size": len(data), "mtime_ns": st.st_mtime_ns,
              "version_id": "abc123", "metadata": {}}  # fmt: skip
    os.setxattr(old, "user.specify.meta", json.dumps(legacy).encode())
    got = LocalStorage(tmp_path / "dst").head("old")
    assert got.sha256 == sha(data) and got.version_id == "abc123"
    # and the engine's batch read checks against either kind of record
    (back,) = replicate_prefix(dst, "", [(LocalStorage(tmp_path / "back"), "")], opts(tmp_path))
    assert back.ok and back.copied == 3, back.errors


def test_changed_objects_replace_their_replicas_whole(tmp_path: Path) -> None:
    """A second run over changed sources overwrites the replicas a batch at a time: each
    replica then holds the new bytes and a record of them, and no temp file is left."""
    old = {f"o/{i:03d}": os.urandom(100 + i) for i in range(150)}
    src = raw_files(tmp_path / "src", old)
    dst = LocalStorage(tmp_path / "dst")
    (first,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert first.ok and first.copied == 150, first.errors
    new = {k: os.urandom(len(v)) for k, v in old.items()}  # same sizes: hashes decide
    for key, data in new.items():
        (tmp_path / "src" / key).write_bytes(data)
    (second,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path, checksum=True))
    assert second.ok and second.copied == 150, second.errors
    fresh = LocalStorage(tmp_path / "dst")
    for key, data in new.items():
        assert (tmp_path / "dst" / key).read_bytes() == data
        assert fresh.head(key).sha256 == sha(data)
    assert temp_files(tmp_path / "dst") == []


def test_a_reader_never_sees_a_replica_before_it_is_whole(tmp_path: Path) -> None:
    """Atomic visibility: a reader polling the target while a batched copy runs finds
    each replica either absent or complete, with its final bytes, never a partial file."""
    import threading

    files = {f"v/{i:04d}": os.urandom(200_000 + i) for i in range(300)}
    src = raw_files(tmp_path / "src", files)
    dst = LocalStorage(tmp_path / "dst")
    partial: list[str] = []
    seen: set[str] = set()
    done = threading.Event()

    def poll() -> None:
        root = tmp_path / "dst" / "v"
        while not done.is_set():
            if not root.is_dir():
                continue
            for name in os.listdir(root):
                try:
                    data = (root / name).read_bytes()
                except FileNotFoundError:
                    continue
                seen.add(name)
                if data != files[f"v/{name}"]:
                    partial.append(f"v/{name}: {len(data)} bytes")

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    finally:
        done.set()
        reader.join()
    assert report.ok and report.copied == 300, report.errors
    assert seen, "the reader saw no replica at all while the copy ran"
    assert partial == []
