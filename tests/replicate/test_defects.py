"""One test per numbered defect of issue 13 ("Verified means the service checked the bytes").

Each reproduces the defect's scenario against the real local servers (through the fault
proxy where bytes must be cut or flipped) and asserts what a user would notice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from providers.aws.adapter import client_config
from providers.aws.storage import S3Storage
from providers.errors import CloudError, ConfigurationError
from providers.local.storage import LocalStorage
from providers.replication import ReplicationOptions, replicate_prefix, verify_prefix
from tests.emulators import REPO_ROOT
from tests.fakes.faulty_proxy import FaultyProxy
from tests.fakes.s3_faults import faulty_s3
from tests.replicate.test_fault_matrix import emulator_url, raw_put, read, store

MiB = 1024 * 1024


def fresh(cloud: str, endpoint: str | None = None) -> tuple[Any, str]:
    bucket = f"defect-{uuid.uuid4().hex[:12]}"
    direct = store(cloud, bucket, emulator_url(cloud))
    (getattr(direct, "create_bucket", None) or direct.ensure_container)()
    return direct, bucket


def local_with(tmp: Path, name: str, files: dict[str, bytes]) -> LocalStorage:
    root = tmp / name
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return LocalStorage(root)


def opts(tmp: Path, **kw: Any) -> ReplicationOptions:
    return ReplicationOptions(journal_dir=str(tmp / "state"), transfers=2, **kw)


def cli(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e.update(PYTHONPATH=str(REPO_ROOT), SPECIFY_STATE_DIR=str(tmp / "state"), COLUMNS="200")
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "commands", "cloud", *args],
        env=e,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


# 1 ----------------------------------------------------------------------------------
@pytest.mark.emulators
@pytest.mark.parametrize(("cloud", "size"), [("s3", 100_000), ("az", 9 * MiB)])
def test_1_a_burst_of_cuts_never_replaces_the_good_replica(
    cloud: str, size: int, tmp_path: Path
) -> None:
    direct, bucket = fresh(cloud)
    old, new = os.urandom(size), os.urandom(size)
    raw_put(direct, "k.bin", old)
    src = local_with(tmp_path, "src", {"k.bin": new})
    # every request with a body is cut: every attempt fails
    with FaultyProxy(emulator_url(cloud), p503=0, pdrop=0, pcut_request=1.0) as proxy:
        started = time.perf_counter()
        (report,) = replicate_prefix(
            src, "", [(store(cloud, bucket, proxy.url), "")], opts(tmp_path)
        )
        elapsed = time.perf_counter() - started
    assert not report.ok and "k.bin" in report.errors
    assert read(direct, "k.bin") == old  # the old replica is whole, not an empty object
    assert elapsed < 60  # failed, did not spin
    assert proxy.counts["cut_request"] >= 2  # retried from a fresh stream, then gave up


# 2 ----------------------------------------------------------------------------------
@pytest.mark.emulators
@pytest.mark.parametrize("cloud", ["s3", "az"])
def test_2_a_flipped_part_is_caught_by_the_service_hash_and_resent(
    cloud: str, tmp_path: Path
) -> None:
    direct, bucket = fresh(cloud)
    data = os.urandom(9 * MiB)
    src = local_with(tmp_path, "src", {"big.bin": data})
    with FaultyProxy(emulator_url(cloud), p503=0, pdrop=0, schedule=["flip_request"]) as proxy:
        (report,) = replicate_prefix(
            src, "", [(store(cloud, bucket, proxy.url), "")], opts(tmp_path)
        )
    assert proxy.counts["flip_request"] == 1
    assert report.ok, report.errors
    assert read(direct, "big.bin") == data
    assert report.evidence["big.bin"].startswith(("s3:crc32", "azure:block-md5"))
    (check,) = verify_prefix(src, "", [(direct, "")], download=True)
    assert check.ok and check.match == 1


# 3 ----------------------------------------------------------------------------------
@pytest.mark.emulators
@pytest.mark.parametrize("cloud", ["gcs", "az"])
def test_3_a_flipped_source_read_is_never_written(cloud: str, tmp_path: Path) -> None:
    direct, bucket = fresh(cloud)
    data = os.urandom(200_000)
    raw_put(direct, "plain.bin", data)  # another tool's object: no sha256 record
    assert direct.head("plain.bin").sha256 is None
    dst = LocalStorage(tmp_path / "dst")
    with FaultyProxy(emulator_url(cloud), p503=0, pdrop=0, pflip_response=1.0) as proxy:
        (report,) = replicate_prefix(
            store(cloud, bucket, proxy.url), "", [(dst, "")], opts(tmp_path)
        )
    assert not report.ok and "plain.bin" in report.errors
    assert re.search("mismatch|expected", report.errors["plain.bin"], re.IGNORECASE)
    assert not (tmp_path / "dst" / "plain.bin").exists()
    # without the faults the same run copies it, checked by the service's own hash
    (again,) = replicate_prefix(direct, "", [(dst, "")], opts(tmp_path))
    assert again.ok and (tmp_path / "dst" / "plain.bin").read_bytes() == data
    assert "read: md5" in again.evidence["plain.bin"]


# 4 ----------------------------------------------------------------------------------
@pytest.mark.emulators
def test_4_a_flipped_large_s3_download_never_lands(tmp_path: Path) -> None:
    direct, bucket = fresh("s3")
    data = os.urandom(9 * MiB)
    raw_put(direct, "large.bin", data)  # multipart, no sha256 record
    dest = tmp_path / "dest.bin"
    with (
        FaultyProxy(emulator_url("s3"), p503=0, pdrop=0, pflip_response=1.0) as proxy,
        pytest.raises(CloudError, match=r"large\.bin"),
    ):
        store("s3", bucket, proxy.url).download("large.bin", dest)
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    assert direct.download("large.bin", dest).read_bytes() == data


# 5 ----------------------------------------------------------------------------------
@pytest.mark.emulators
@pytest.mark.parametrize(
    ("cloud", "direction"), [("gcs", "upload"), ("s3", "read"), ("gcs", "read")]
)
def test_5_one_cut_is_retried_not_failed(cloud: str, direction: str, tmp_path: Path) -> None:
    direct, bucket = fresh(cloud)
    data = os.urandom(300_000)
    fault = "cut_request" if direction == "upload" else "cut_response"
    with FaultyProxy(emulator_url(cloud), p503=0, pdrop=0, schedule=[fault]) as proxy:
        faulty = store(cloud, bucket, proxy.url)
        if direction == "upload":
            src: Any = local_with(tmp_path, "src", {"k": data})
            dst: Any = faulty
        else:
            raw_put(direct, "k", data)
            src, dst = faulty, LocalStorage(tmp_path / "dst")
        (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert proxy.counts[fault] == 1
    assert report.ok, report.errors
    target = direct if direction == "upload" else dst
    assert read(target, "k") == data


# 6 ----------------------------------------------------------------------------------
def test_6_delete_from_a_mistyped_or_empty_source_is_refused(tmp_path: Path) -> None:
    target = local_with(tmp_path, "target", {f"data/{i}.txt": b"keep" for i in range(4)})
    (tmp_path / "src" / "data").mkdir(parents=True)
    (tmp_path / "src" / "data" / "0.txt").write_bytes(b"keep")
    # a mistyped local source is no directory: refused before anything is listed
    typo = cli(tmp_path, "replicate", f"{tmp_path}/src/dta", "--to", str(target.root), "--delete")
    empty = tmp_path / "empty"
    empty.mkdir()
    from_empty = cli(
        tmp_path, "replicate", str(empty), "--to", str(tmp_path / "target"), "--delete"
    )
    assert typo.returncode == 2 and "not a directory" in typo.stderr
    assert from_empty.returncode == 2 and "--allow-empty-source" in from_empty.stderr
    half = cli(
        tmp_path, "replicate", str(tmp_path / "src"), "--to", str(tmp_path / "target"), "--delete"
    )
    assert half.returncode == 2 and "--max-delete 3" in half.stderr
    assert len(list(target.list_objects())) == 4  # nothing deleted by any of them
    allowed = cli(
        tmp_path,
        "replicate",
        str(tmp_path / "src"),
        "--to",
        str(tmp_path / "target"),
        "--delete",
        "--max-delete",
        "3",
        "--json",
    )
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["targets"][0]["deleted"] == 3


@pytest.mark.emulators
def test_6_delete_from_a_mistyped_cloud_prefix_is_refused(tmp_path: Path) -> None:
    src, _ = fresh("s3")
    src.client.put_object(Bucket=src.bucket, Key="data/a.txt", Body=b"a")
    target = local_with(tmp_path, "target", {"a.txt": b"a", "b.txt": b"b"})
    with pytest.raises(ConfigurationError, match="--allow-empty-source"):
        replicate_prefix(src, "dta", [(target, "")], opts(tmp_path, delete_extraneous=True))
    assert len(list(target.list_objects())) == 2
    run = cli(tmp_path, "replicate", f"s3://{src.bucket}/dta", "--to", str(target.root), "--delete")
    assert run.returncode == 2 and "--allow-empty-source" in run.stderr
    assert len(list(target.list_objects())) == 2


# 7 ----------------------------------------------------------------------------------
def test_7_a_listing_retry_resumes_from_the_continuation_token() -> None:
    with faulty_s3() as server:
        server.keys = [f"k{i}" for i in range(6)]
        server.failures = [(503, "SlowDown")]
        server.fail_on_token = True  # page 2 fails once
        client = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=client_config("s3", custom_endpoint=True),
        )
        s3 = S3Storage(client, "bucket")
        listed = []
        for obj in s3.list_objects():
            listed.append(obj.key)
            if obj.key == "k1":
                # the bucket changes while it is listed: an earlier key goes away
                server.keys.remove("k0")
        tokens = [(q.get("continuation-token") or [None])[0] for _, _, q in server.requests]
    assert listed == [f"k{i}" for i in range(6)]  # nothing skipped, nothing twice
    assert tokens == [None, "k1", "k1", "k3"]  # the failed page asked again with its token


# 8 ----------------------------------------------------------------------------------
@pytest.mark.emulators
def test_8_keys_ending_in_slash_with_content_are_copied_or_reported(tmp_path: Path) -> None:
    src, _ = fresh("s3")
    src.client.put_object(Bucket=src.bucket, Key="folder/", Body=b"content under a slash")
    src.client.put_object(Bucket=src.bucket, Key="marker/", Body=b"")  # a folder marker
    src.client.put_object(Bucket=src.bucket, Key="folder/x", Body=b"x")
    cloud_dst, _ = fresh("s3")
    (report,) = replicate_prefix(src, "", [(cloud_dst, "")], opts(tmp_path))
    assert report.ok and set(report.copied_keys) == {"folder/", "folder/x"}
    assert read(cloud_dst, "folder/") == b"content under a slash"
    local_dst = LocalStorage(tmp_path / "local")
    (report,) = replicate_prefix(src, "", [(local_dst, "")], opts(tmp_path))
    assert "folder/" in report.errors  # a directory cannot hold it: reported, not dropped
    (check,) = verify_prefix(src, "", [(local_dst, "")])
    assert not check.ok and "folder/" in check.missing


def test_8_local_target_keys_cannot_clash_with_its_metadata(tmp_path: Path) -> None:
    src = local_with(tmp_path, "src", {"k": b"plain", "k.json/b": b"nested"})
    dst = LocalStorage(tmp_path / "dst")
    (report,) = replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    assert report.ok, report.errors
    assert {o.key: o.sha256 for o in dst.list_objects()} == {
        "k": hashlib.sha256(b"plain").hexdigest(),
        "k.json/b": hashlib.sha256(b"nested").hexdigest(),
    }
    assert not list((tmp_path / "dst" / ".specify").rglob("*.tmp"))


# 9 ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--bwlimit", "9" * 400], {}, "--bwlimit"),
        (["--bwlimit", "0.5"], {}, "--bwlimit"),
        (["--state-dir", "/proc/nope/state"], {}, "--state-dir"),
    ],
    ids=["bwlimit-400-digits", "bwlimit-half-byte", "state-dir"],
)
def test_9_bad_input_exits_2_naming_the_flag(
    args: list[str], env: dict[str, str], needle: str, tmp_path: Path
) -> None:
    src = local_with(tmp_path, "src", {"a": b"a"})
    run = cli(tmp_path, "replicate", str(src.root), "--to", str(tmp_path / "dst"), *args, env=env)
    assert run.returncode == 2, (run.returncode, run.stderr[-500:])
    assert needle in run.stderr and "Traceback" not in run.stderr


def test_9_a_second_run_on_the_same_target_says_who_holds_it(tmp_path: Path) -> None:
    src = local_with(tmp_path, "src", {f"{i}": os.urandom(10) for i in range(3)})
    dst = LocalStorage(tmp_path / "dst")
    gate, release = threading.Event(), threading.Event()

    class Slow(LocalStorage):
        def upload_stream(self, *a: Any, **kw: Any) -> Any:
            gate.set()
            release.wait(30)
            return super().upload_stream(*a, **kw)

    first = threading.Thread(
        target=replicate_prefix,
        args=(src, "", [(Slow(tmp_path / "dst"), "")], opts(tmp_path)),
    )
    first.start()
    try:
        assert gate.wait(30)
        with pytest.raises(CloudError, match=r"another replication .* is running \(pid \d+"):
            replicate_prefix(src, "", [(dst, "")], opts(tmp_path))
    finally:
        release.set()
        first.join(30)


def test_9_spool_files_cannot_outlive_the_run(tmp_path: Path) -> None:
    data = os.urandom(9 * MiB)
    src = local_with(tmp_path, "src", {"big": data})
    spool = tmp_path / "spool"
    spool.mkdir()
    seen: list[list[str]] = []

    class Peek(LocalStorage):
        def upload_stream(self, *a: Any, **kw: Any) -> Any:
            seen.append(os.listdir(spool))  # mid-copy: the spool file has no name to leave
            return super().upload_stream(*a, **kw)

    targets = [(Peek(tmp_path / "a"), ""), (Peek(tmp_path / "b"), "")]
    reports = replicate_prefix(src, "", targets, opts(tmp_path, spool_dir=str(spool)))
    assert all(r.ok for r in reports) and seen == [[], []]
    assert (tmp_path / "a" / "big").read_bytes() == data


@pytest.mark.parametrize(
    ("src", "env", "needle"),
    [
        ("s3://some-bucket", {"AWS_PROFILE": "nosuchprofile"}, "AWS_PROFILE"),
        (
            "az://container",
            {"AZURE_STORAGE_CONNECTION_STRING": "AccountKey=s3cr3t;;garbage"},
            "AZURE_STORAGE_CONNECTION_STRING",
        ),
    ],
    ids=["aws-profile", "azure-connection-string"],
)
def test_9_bad_settings_exit_2_naming_the_setting(
    src: str, env: dict[str, str], needle: str, tmp_path: Path
) -> None:
    run = cli(tmp_path, "replicate", src, "--to", str(tmp_path / "dst"), env=env)
    assert run.returncode == 2, (run.returncode, run.stderr[-800:])
    assert needle in run.stderr and "Traceback" not in run.stderr
    assert "s3cr3t" not in run.stderr + run.stdout


def test_9_credentials_inside_an_endpoint_url_are_masked(tmp_path: Path) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_ENDPOINT_URL": "http://someone:hunter2@127.0.0.1:9",
    }
    run = cli(tmp_path, "replicate", "s3://some-bucket", "--to", str(tmp_path / "d"), env=env)
    assert run.returncode != 0
    assert "hunter2" not in run.stderr + run.stdout and "someone" not in run.stderr
    assert "http://***@127.0.0.1:9" in run.stderr
