"""`specify cloud replicate | download | verify` in subprocesses, as a person runs them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from providers.local.storage import LocalStorage
from providers.replication import journal_path
from tests.emulators import REPO_ROOT


def env(state: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update(
        PYTHONPATH=str(REPO_ROOT),
        SPECIFY_STATE_DIR=str(state),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        COLUMNS="200",
    )
    return e


def cli(state: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commands", "cloud", *args],
        env=env(state),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def fill(root: Path, n: int, size: int) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        key = f"part {i:03d}/obj-{i:03d}.bin"
        data = os.urandom(size)
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
        out[key] = data
    return out


def test_replicate_json_then_noop_and_verify(tmp_path: Path) -> None:
    src, a, b = tmp_path / "src", tmp_path / "a", tmp_path / "b"
    files = fill(src, 12, 1000)
    (src / "empty").write_bytes(b"")
    run = cli(tmp_path / "state", "replicate", str(src), "--to", f"{a},{b.as_uri()}", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [(t["copied"], t["skipped"], t["failed"]) for t in report["targets"]] == [(13, 0, 0)] * 2
    assert all(t["bytes_copied"] == 12_000 for t in report["targets"])
    again = json.loads(
        cli(tmp_path / "state", "replicate", str(src), "--to", str(a), "--json").stdout
    )
    assert again["targets"][0]["copied"] == 0 and again["targets"][0]["skipped"] == 13

    ok = cli(tmp_path / "state", "verify", str(src), "--to", f"{a},{b}")
    assert ok.returncode == 0 and "missing" in ok.stdout, ok.stderr
    victim = next(iter(files))
    (b / victim).write_bytes(b"tampered")
    bad = cli(tmp_path / "state", "verify", str(src), "--to", f"{a},{b}", "--json")
    assert bad.returncode == 1
    rows = {r["target"]: r for r in json.loads(bad.stdout)["targets"]}
    assert rows[b.as_uri()]["differ_keys"] == [victim] and rows[a.as_uri()]["ok"]


def test_table_output_dry_run_and_prefix(tmp_path: Path) -> None:
    src, a = tmp_path / "src", tmp_path / "a"
    fill(src, 3, 10)
    run = cli(tmp_path / "s", "replicate", str(src), "--to", str(a), "--dry-run")
    assert run.returncode == 0 and "would copy 3" in run.stdout, run.stdout + run.stderr
    assert not a.exists()
    run = cli(tmp_path / "s", "replicate", str(src), "--to", str(a), "--prefix", "part 001")
    assert run.returncode == 0
    assert [p.name for p in a.rglob("*.bin")] == ["obj-001.bin"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--to", ","], "--to"),
        (["--to", "s3://Bad_Bucket"], "not a valid bucket"),
        (["--to", "DEST", "--bwlimit", "10X"], "--bwlimit"),
        (["--to", "DEST", "--transfers", "0"], "--transfers"),
        (["--to", "ftp://host/x"], "unknown scheme"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "src").mkdir()
    args = [str(tmp_path / "dst") if a == "DEST" else a for a in args]
    run = cli(tmp_path / "s", "replicate", str(tmp_path / "src"), *args)
    assert run.returncode == 2, run.stderr
    assert needle in run.stderr


@pytest.mark.parametrize("command", ["replicate", "verify"])
def test_missing_source_directory_exits_2_and_writes_nothing(tmp_path: Path, command: str) -> None:
    run = cli(tmp_path / "s", command, str(tmp_path / "typo"), "--to", str(tmp_path / "dst"))
    assert run.returncode == 2 and "SRC" in run.stderr and "not a directory" in run.stderr
    assert not (tmp_path / "dst").exists()


def test_failed_target_exits_1(tmp_path: Path) -> None:
    src = tmp_path / "src"
    fill(src, 2, 10)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    run = cli(
        tmp_path / "s", "replicate", str(src), "--to", f"{tmp_path / 'ok'},{blocker}", "--json"
    )
    assert run.returncode == 1
    rows = json.loads(run.stdout)["targets"]
    assert rows[0]["ok"] and not rows[1]["ok"] and rows[1]["failed"] == 2


def test_download_fails_over_and_names_each_failure(tmp_path: Path) -> None:
    backup = LocalStorage(tmp_path / "backup")
    (tmp_path / "f.txt").write_text("payload")
    backup.upload(tmp_path / "f.txt", "docs/f.txt")
    primary = tmp_path / "primary-gone"
    out = tmp_path / "out"
    out.mkdir()
    run = cli(
        tmp_path / "s", "download", "docs/f.txt", str(out), "--from", f"{primary},{backup.root}"
    )
    assert run.returncode == 0, run.stderr
    assert (out / "f.txt").read_text() == "payload" and str(backup.root) in run.stdout

    run = cli(
        tmp_path / "s",
        "download",
        "docs/f.txt",
        str(out / "g"),
        "--from",
        f"{primary},{tmp_path / 'x'}",
    )
    assert run.returncode == 1
    assert str(primary) in run.stderr and str(tmp_path / "x") in run.stderr
    assert run.stderr.count("no object") == 2

    run = cli(
        tmp_path / "s", "download", "../etc/passwd", str(out / "h"), "--from", str(backup.root)
    )
    assert run.returncode == 2 and "not allowed" in run.stderr
    assert not (out / "h").exists()


def test_cli_does_not_import_prefect(tmp_path: Path) -> None:
    src = tmp_path / "src"
    fill(src, 2, 10)
    code = (
        "import sys\n"
        "from commands.main import app\n"
        f"try:\n    app(['cloud', 'replicate', {str(src)!r}, '--to', {str(tmp_path / 'a')!r}])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "assert 'prefect' not in sys.modules, 'prefect was imported'\n"
        "print('clean')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=env(tmp_path / "s"), capture_output=True, text=True
    )
    assert run.returncode == 0 and "clean" in run.stdout, run.stderr


def test_sigkill_half_way_then_resume_copies_nothing_twice(tmp_path: Path) -> None:
    src, dst, state = tmp_path / "src", tmp_path / "dst", tmp_path / "state"
    files = fill(src, 40, 64 * 1024)
    # 2.5 MiB at 256 KiB/s: about 9 s in all, so there is time to kill it half-way
    proc = subprocess.Popen(
        [sys.executable, "-m", "commands", "cloud", "replicate", str(src), "--to", str(dst),
         "--bwlimit", "256K", "--transfers", "2", "--json"],
        env=env(state), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    jpath = journal_path(LocalStorage(src).uri(), LocalStorage(dst).uri(), state / "replicate")
    deadline = time.monotonic() + 60
    finished: list[str] = []
    while time.monotonic() < deadline and len(finished) < 10:
        time.sleep(0.1)
        if jpath.exists():
            # the journal may have no tables yet
            with sqlite3.connect(jpath) as db, contextlib.suppress(sqlite3.OperationalError):
                finished = [r[0] for r in db.execute("SELECT key FROM done")]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(jpath) as db:
        first = dict(db.execute("SELECT key, run_id FROM done").fetchall())
        (run1,) = [r[0] for r in db.execute("SELECT run_id FROM runs")]
    assert 10 <= len(first) < len(files), "the kill did not land half-way"
    dst_store = LocalStorage(dst)
    versions = {o.key: o.version_id for o in dst_store.list_objects()}
    assert set(first) <= set(versions)

    run = cli(state, "replicate", str(src), "--to", str(dst), "--json")
    assert run.returncode == 0, run.stderr
    (report,) = json.loads(run.stdout)["targets"]
    # objects present after the kill (journaled or not) are not copied again
    assert report["copied"] == len(files) - len(versions)
    assert report["skipped"] == len(versions)
    with sqlite3.connect(jpath) as db:
        after = dict(db.execute("SELECT key, run_id FROM done").fetchall())
        runs = [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY started")]
    assert len(runs) == 2 and runs[0] == run1
    assert all(after[k] == run1 for k in first)  # still credited to the first run
    assert {k for k, r in after.items() if r == runs[1]}.isdisjoint(first)
    assert set(after) == set(files)
    final = {o.key: o.version_id for o in dst_store.list_objects()}
    assert all(final[k] == versions[k] for k in versions)  # not rewritten
    assert {k: (dst / k).read_bytes() for k in files} == files
