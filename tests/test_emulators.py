"""The emulator harness itself: each SDK round-trips an object through a real local server."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from azure.storage.blob import BlobServiceClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from tests.emulators import REPO_ROOT, Emulators, _http_status

pytestmark = pytest.mark.emulators


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_s3_round_trip() -> None:
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    bucket = _name("spec")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"hello s3")
    assert s3.get_object(Bucket=bucket, Key="dir/hello.txt")["Body"].read() == b"hello s3"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/hello.txt"]


def test_gcs_round_trip() -> None:
    client = storage.Client(
        project=os.environ["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    bucket = client.create_bucket(_name("spec"))
    bucket.blob("dir/hello.txt").upload_from_string(b"hello gcs")
    assert bucket.blob("dir/hello.txt").download_as_bytes() == b"hello gcs"
    assert [b.name for b in client.list_blobs(bucket.name, prefix="dir/")] == ["dir/hello.txt"]


def test_azure_round_trip() -> None:
    service = BlobServiceClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    )
    container = service.create_container(_name("spec"))
    container.upload_blob("dir/hello.txt", b"hello azure")
    assert container.download_blob("dir/hello.txt").readall() == b"hello azure"
    assert [b.name for b in container.list_blobs(name_starts_with="dir/")] == ["dir/hello.txt"]


def test_env_points_at_the_servers(emulators: Emulators) -> None:
    env = emulators.env
    assert env["AWS_ENDPOINT_URL"] == env["SPECIFY_MOTO_URL"] == emulators.url("moto")
    assert env["STORAGE_EMULATOR_HOST"] == env["SPECIFY_GCS_URL"] == emulators.url("gcs")
    assert env["SPECIFY_AZURITE_URL"] == emulators.url("azurite")
    port = emulators.ports["azurite"]
    assert (
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        in (env["AZURE_STORAGE_CONNECTION_STRING"])
    )
    assert all(os.environ[k] == v for k, v in env.items())
    assert len(set(emulators.ports.values())) == 3


def test_reset_moto_forgets_buckets(emulators: Emulators) -> None:
    s3 = boto3.client("s3", endpoint_url=emulators.url("moto"))
    s3.create_bucket(Bucket=_name("gone"))
    emulators.reset_moto()
    assert s3.list_buckets()["Buckets"] == []


def test_stop_one_and_start_one_keep_the_port(emulators: Emulators) -> None:
    port, pid = emulators.ports["moto"], emulators.pids["moto"]
    emulators.stop_one("moto")
    try:
        assert emulators.alive() == {"gcs": True, "azurite": True}
        with pytest.raises(OSError):
            _http_status(emulators.url("moto") + "/moto-api/", timeout=1)
    finally:
        emulators.start_one("moto")
    assert emulators.ports["moto"] == port
    assert emulators.pids["moto"] != pid
    assert _http_status(emulators.url("moto") + "/moto-api/") == 200


def test_restart_gcs_wipes_it_on_the_same_port(emulators: Emulators) -> None:
    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    name = _name("before")
    client.create_bucket(name)
    port = emulators.ports["gcs"]
    emulators.restart("gcs")
    assert emulators.ports["gcs"] == port
    assert name not in [b.name for b in client.list_buckets()]


def _pid_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"  # an unreaped zombie is not running


def test_cli_up_env_status_down(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tests.emulators", *args, "--state-dir", str(tmp_path)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    up = cli("up")
    assert up.returncode == 0, up.stderr
    exports = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in up.stdout.splitlines()
    )
    state = json.loads((tmp_path / "state.json").read_text())
    try:
        assert exports == state["env"]
        assert cli("env").stdout == up.stdout
        assert cli("status").returncode == 0
        assert cli("up").stdout == up.stdout  # already up: same servers, same ports
        assert _http_status(exports["SPECIFY_MOTO_URL"] + "/moto-api/") == 200
        assert _http_status(exports["SPECIFY_GCS_URL"] + "/storage/v1/b?project=p") == 200
        assert _http_status(exports["SPECIFY_AZURITE_URL"] + "/devstoreaccount1?comp=list") > 0
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "state.json").exists()
    assert [p for p in state["pids"].values() if _pid_running(p)] == []
    assert cli("status").returncode == 1
