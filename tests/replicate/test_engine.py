"""The replication engine between directory stores (LocalStorage), and test-double stores."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from providers.errors import ConfigurationError
from providers.local.storage import LocalStorage
from providers.replication import (
    Journal,
    ReplicationOptions,
    TokenBucket,
    journal_path,
    parse_size,
    plan_replication,
    replicate_prefix,
    verify_prefix,
)
from tests.replicate.stores import CountingStorage, MemoryStorage


def write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def tree(store: LocalStorage) -> dict[str, bytes]:
    return {o.key: (store.root / o.key).read_bytes() for o in store.list_objects()}


def opts(state_dir: Path, **kw: object) -> ReplicationOptions:
    return ReplicationOptions(journal_dir=str(state_dir), **kw)  # type: ignore[arg-type]


@pytest.fixture
def files(source: CountingStorage) -> dict[str, bytes]:
    content = {
        "a.txt": b"alpha",
        "dir/b.bin": os.urandom(70_000),
        "dir/sub/c.bin": os.urandom(3),
        "empty": b"",
        "with space/ünïcödé 名前.txt": "héllo".encode(),
    }
    for key, data in content.items():
        write(source.inner.root, key, data)  # type: ignore[attr-defined]
    return content


def test_copies_everything_then_nothing(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    (report,) = replicate_prefix(source, "", [(a, "")], opts(state_dir))
    assert report.ok and report.copied == len(files) and report.skipped == 0
    assert report.bytes_copied == sum(len(d) for d in files.values())
    assert tree(a) == files
    assert all(a.head(k).sha256 == hashlib.sha256(d).hexdigest() for k, d in files.items())

    (again,) = replicate_prefix(source, "", [(a, "")], opts(state_dir))
    assert again.ok and again.copied == 0 and again.skipped == len(files)
    # the source had no sha256 sidecars: the first run hashed each while copying and cached
    # it, so the no-op run read no source object at all
    assert sum(source.reads.values()) == len(files)


def test_changed_object_is_the_only_one_copied(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    replicate_prefix(source, "", [(a, "")], opts(state_dir))
    write(source.inner.root, "dir/sub/c.bin", b"xyz")  # same size, other bytes
    time.sleep(0.01)
    (report,) = replicate_prefix(source, "", [(a, "")], opts(state_dir))
    assert report.copied_keys == ("dir/sub/c.bin",)
    assert (a.root / "dir/sub/c.bin").read_bytes() == b"xyz"


def test_fan_out_reads_each_source_object_once(source, files, make_store, state_dir) -> None:
    targets = [(make_store(n), "") for n in ("a", "b", "c")]
    reports = replicate_prefix(source, "", targets, opts(state_dir, multipart_threshold=1024))
    assert [r.copied for r in reports] == [len(files)] * 3
    assert all(n == 1 for n in source.reads.values()) and set(source.reads) == set(files)
    for t, _ in targets:
        assert tree(t) == files


def test_large_objects_stream_or_spool(source, make_store, state_dir) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    write(source.inner.root, "big.bin", big)
    options = opts(state_dir, multipart_threshold=256 * 1024)
    # unknown sha256 + fan-out: spooled once to a temp file, fed to both targets
    a, b = make_store("a"), make_store("b")
    replicate_prefix(source, "", [(a, ""), (b, "")], options)
    assert source.reads["big.bin"] == 1
    assert (a.root / "big.bin").read_bytes() == big == (b.root / "big.bin").read_bytes()
    # known sha256 (a has a sidecar) + one target: streamed straight through
    c = CountingStorage(make_store("c"))
    src_a = CountingStorage(a)
    (report,) = replicate_prefix(src_a, "", [(c, "")], options)
    assert report.copied == 1 and src_a.reads["big.bin"] == 1
    assert (c.inner.root / "big.bin").read_bytes() == big  # type: ignore[attr-defined]


def test_prefixes_map_keys_and_match_whole_segments(source, make_store, state_dir) -> None:
    write(source.inner.root, "data/x.txt", b"x")
    write(source.inner.root, "data/deep/y.txt", b"y")
    write(source.inner.root, "database/z.txt", b"z")  # not under "data/"
    a = make_store("a")
    (report,) = replicate_prefix(source, "data", [(a, "backup/2024")], opts(state_dir))
    assert report.copied == 2
    assert tree(a) == {"backup/2024/x.txt": b"x", "backup/2024/deep/y.txt": b"y"}


def test_include_exclude(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    options = opts(state_dir, include=("dir/*", "a.txt"), exclude=("*.bin",))
    (report,) = replicate_prefix(source, "", [(a, "")], options)
    assert set(tree(a)) == {"a.txt"} and report.copied == 1


def test_dry_run_writes_nothing(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    write(a.root, "extra.txt", b"only on target")
    (report,) = replicate_prefix(
        source, "", [(a, "")], opts(state_dir, dry_run=True, delete_extraneous=True, max_delete=1)
    )
    assert report.dry_run and report.to_copy == len(files) and report.to_delete == 1
    assert report.copied == 0 and report.deleted == 0
    assert sorted(p.name for p in a.root.iterdir()) == ["extra.txt"]
    assert not state_dir.exists()  # no journal either


def test_empty_source(source, make_store, state_dir) -> None:
    a = make_store("a")
    (report,) = replicate_prefix(source, "", [(a, "")], opts(state_dir))
    assert report.ok and (report.copied, report.skipped, report.failed) == (0, 0, 0)


def test_delete_is_off_by_default_and_guarded(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    for i in range(3):
        write(a.root, f"old/{i}.txt", b"stale")
    (report,) = replicate_prefix(source, "", [(a, "")], opts(state_dir))
    assert report.deleted == 0 and len(list(a.list_objects("old/"))) == 3

    guarded = opts(state_dir, delete_extraneous=True, max_delete=2)
    with pytest.raises(ConfigurationError, match="--max-delete 2"):
        replicate_prefix(source, "", [(a, "")], guarded)
    assert len(list(a.list_objects("old/"))) == 3  # nothing deleted

    allowed = opts(state_dir, delete_extraneous=True, max_delete=3)
    (report,) = replicate_prefix(source, "", [(a, "")], allowed)
    assert report.ok and report.deleted == 3
    assert tree(a) == files


def test_bad_keys_are_rejected_and_nothing_escapes(tmp_path, make_store, state_dir) -> None:
    hostile = MemoryStorage(
        {
            "../escape.txt": b"evil",
            "/etc/abs.txt": b"evil",
            "a/../../up.txt": b"evil",
            "ok/fine.txt": b"good",
        }
    )
    dest_root = tmp_path / "dest" / "inner"
    a = LocalStorage(dest_root)
    before = {p for p in tmp_path.rglob("*")}
    (report,) = replicate_prefix(hostile, "", [(a, "")], opts(state_dir))
    assert report.copied == 1 and report.failed == 3 and not report.ok
    assert set(report.errors) == {"../escape.txt", "/etc/abs.txt", "a/../../up.txt"}
    assert all("is not allowed" in msg for msg in report.errors.values())
    created = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in created if dest_root not in p.parents and p != dest_root]
    outside = [p for p in outside if state_dir not in p.parents and p != state_dir]
    assert outside == [tmp_path / "dest"] or outside == []
    assert not any(p.name in {"escape.txt", "abs.txt", "up.txt"} for p in created)


def test_verification_failure_is_reported(source, files, state_dir) -> None:
    bad = MemoryStorage(corrupt=True)
    (report,) = replicate_prefix(source, "", [(bad, "")], opts(state_dir, attempts=2))
    nonempty = [k for k, d in files.items() if d]
    assert report.failed == len(nonempty) and report.copied == 1  # only the empty file
    assert all("verification failed" in report.errors[k] for k in nonempty)
    # nothing unverified went into the journal
    journal = Journal(Path(report.journal or ""))
    assert [k for keys in journal.keys_by_run().values() for k in keys] == ["empty"]


def test_head_only_when_the_write_did_not_verify_itself(source, files, state_dir) -> None:
    verified = CountingStorage(LocalStorage(state_dir.parent / "verified"))
    unverified = CountingStorage(MemoryStorage())  # returns verified=False: needs a head
    reports = replicate_prefix(source, "", [(verified, ""), (unverified, "")], opts(state_dir))
    assert [r.copied for r in reports] == [len(files)] * 2
    assert sum(verified.heads.values()) == 0
    assert unverified.heads == {k: 1 for k in files}


def test_journal_records_each_verified_copy(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    (report,) = replicate_prefix(source, "", [(a, "")], opts(state_dir))
    path = journal_path(source.uri(""), a.uri(""), state_dir)
    assert report.journal == str(path)
    journal = Journal(path)
    (run_keys,) = journal.keys_by_run().values()
    assert sorted(run_keys) == sorted(files)
    assert journal.runs()[0][1] == "ok"


def test_journal_lets_targets_without_checksums_skip(source, files, state_dir) -> None:
    class NoChecksumListing(MemoryStorage):
        def list_objects(self, prefix: str = ""):  # type: ignore[no-untyped-def]
            for obj in super().list_objects(prefix):
                yield type(obj)(obj.key, obj.size)  # like S3 listings: no metadata

        def head(self, remote_key: str):  # type: ignore[no-untyped-def]
            self.heads = getattr(self, "heads", 0) + 1
            return super().head(remote_key)

    target = NoChecksumListing()
    replicate_prefix(source, "", [(target, "")], opts(state_dir))
    target.heads = 0
    (report,) = replicate_prefix(source, "", [(target, "")], opts(state_dir))
    assert report.skipped == len(files) and report.copied == 0
    assert target.heads == 0  # the journal answered; no per-object head


def test_bandwidth_limit_slows_transfers(source, make_store, state_dir) -> None:
    for i in range(3):
        write(source.inner.root, f"{i}.bin", os.urandom(200 * 1024))
    a = make_store("a")
    started = time.perf_counter()
    replicate_prefix(source, "", [(a, "")], opts(state_dir, bandwidth_limit=300 * 1024))
    # 600 KiB at 300 KiB/s with a one-second burst: at least ~1 s
    assert time.perf_counter() - started >= 0.9


def test_token_bucket_rate() -> None:
    bucket = TokenBucket(1_000_000)
    bucket.take(1_000_000)  # the burst
    started = time.perf_counter()
    bucket.take(500_000)
    assert 0.4 <= time.perf_counter() - started < 1.0


def test_verify_counts_missing_differ_match(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    replicate_prefix(source, "", [(a, "")], opts(state_dir))
    (a.root / "a.txt").unlink()
    write(a.root, "dir/sub/c.bin", b"zzz")  # same size, stale sidecar: hashed by streaming
    write(a.root, "only-here", b"!")
    (report,) = verify_prefix(source, "", [(a, "")])
    assert report.missing == ("a.txt",)
    assert report.differ == ("dir/sub/c.bin",)
    assert report.match == len(files) - 2 and report.extra == ("only-here",)
    assert not report.ok


def test_plan_reasons(source, files, make_store, state_dir) -> None:
    a = make_store("a")
    write(a.root, "a.txt", b"alpha!")
    (plan,) = plan_replication(source, "", [(a, "")], opts(state_dir))
    reasons = {i.key: i.reason for i in plan.items}
    assert reasons["a.txt"].startswith("size differs")
    assert reasons["empty"] == "missing on target"
    assert plan.count("copy") == len(files)


@pytest.mark.parametrize(
    ("text", "value"), [("10M", 10 * 1024**2), ("512k", 512 * 1024), ("100", 100), ("", None)]
)
def test_parse_size(text: str, value: int | None) -> None:
    assert parse_size(text) == value


def test_overlapping_or_repeated_targets_are_refused(source, make_store, tmp_path) -> None:
    write(source.inner.root, "x.txt", b"x")
    inner = LocalStorage(source.inner.root / "backup")
    with pytest.raises(ConfigurationError, match="overlaps the source"):
        replicate_prefix(source, "", [(inner, "")])
    with pytest.raises(ConfigurationError, match="overlaps the source"):
        replicate_prefix(source, "", [(source.inner, "copy")])
    a = make_store("a")
    with pytest.raises(ConfigurationError, match="given twice"):
        replicate_prefix(source, "", [(a, "p"), (a, "p/")])
    assert not (source.inner.root / "backup").exists() and not a.root.exists()
