"""Artifacts: start-command detection, reproducible packing, the start-up script run for real."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from providers.artifact import (
    check_deployment_id,
    deployment_tags,
    detect_run_command,
    prepare_artifact,
    stage_artifact,
    startup_script,
)
from providers.deployer import new_deployment_id
from providers.errors import ConfigurationError
from providers.local.storage import LocalStorage


def _exe(path: Path, text: str = "#!/bin/sh\necho hi\n") -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_detection_order(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "tool.pyz").write_bytes(b"PK")
    assert detect_run_command(d) == "python3 tool.pyz"
    (d / "main.py").write_text("")
    assert detect_run_command(d) == "python3 main.py"
    (d / "app.py").write_text("")
    assert detect_run_command(d) == "python3 app.py"
    _exe(d / "serve")
    assert detect_run_command(d) == "./serve"
    _exe(d / "other")  # two executables: ambiguous, so the scripts decide
    assert detect_run_command(d) == "python3 app.py"


def test_single_files(tmp_path: Path) -> None:
    assert detect_run_command(_exe(tmp_path / "server")) == "./server"
    (tmp_path / "x.py").write_text("")
    assert detect_run_command(tmp_path / "x.py") == "python3 x.py"
    (tmp_path / "data.bin").write_bytes(b"\0")
    assert detect_run_command(tmp_path / "data.bin") is None
    (tmp_path / "run me.sh").write_text("echo hi\n")
    assert detect_run_command(tmp_path / "run me.sh") == "sh 'run me.sh'"


def test_deployment_ids_are_gcp_label_values_and_fit_instance_names() -> None:
    for good in (new_deployment_id(), new_deployment_id(), "a", "7-up", "x" * 55):
        assert check_deployment_id(good) == good
        assert len(f"specify-{good}") <= 63  # the GCE instance name
    for bad in ("Web", "web_1", "web.1", "-web", "web-", "", "x" * 56, "wéb"):
        with pytest.raises(ConfigurationError) as err:
            check_deployment_id(bad)
        assert err.value.resource == "id" and "--id" in str(err.value)
        assert "lowercase letters, digits and '-'" in str(err.value)
    assert deployment_tags("web-1") == {
        "specify-deployment-id": "web-1",
        "specify-managed-by": "specify-cloud",
    }
    label = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")  # GCP label keys
    assert all(label.match(k) and label.match(v) for k, v in deployment_tags("web-1").items())


def test_startup_script_quotes_everything() -> None:
    text = startup_script("http://h/x?a=1&b='2'", "echo $(id)", port=80, deployment_id="dep-1")
    assert "'http://h/x?a=1&b='\"'\"'2'\"'\"''" in text
    assert "'echo $(id)'" in text and "export PORT=80" in text


def test_no_start_command_asks_for_run(tmp_path: Path) -> None:
    d = tmp_path / "static"
    d.mkdir()
    (d / "index.html").write_text("<p>hi</p>")
    with pytest.raises(ConfigurationError) as err:
        prepare_artifact(d)
    assert err.value.resource == "run"
    assert "--run" in str(err.value)
    with prepare_artifact(d, "python3 -m http.server $PORT") as prepared:
        assert prepared.run_command == "python3 -m http.server $PORT"


def test_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as err:
        prepare_artifact(tmp_path / "nope")
    assert err.value.resource == "artifact"


def test_packing_is_reproducible_and_skips_junk(tmp_path: Path, app_dir: Path) -> None:
    (app_dir / "__pycache__").mkdir()
    (app_dir / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    with prepare_artifact(app_dir) as a:
        first = a.sha256
        with tarfile.open(a.archive) as tar:
            names = sorted(tar.getnames())
        tmp = a.archive.parent
    assert not tmp.exists(), "the temporary archive is removed on exit"
    os.utime(app_dir / "app.py", (1, 1))
    with prepare_artifact(app_dir) as b:
        assert b.sha256 == first
    assert names == ["README.txt", "app.py"]


def test_prepacked_archive_is_used_as_is(tmp_path: Path, app_dir: Path) -> None:
    with prepare_artifact(app_dir) as a:
        copy = tmp_path / "bundle.tar.gz"
        copy.write_bytes(a.archive.read_bytes())
    with prepare_artifact(copy) as b:
        assert b.archive == copy.resolve()
        assert b.run_command == "python3 app.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_startup_script_fetches_unpacks_and_runs(tmp_path: Path, app_dir: Path) -> None:
    """The generated user data, run by bash: fetch by URL, unpack, export PORT, start the app."""
    storage = LocalStorage(tmp_path / "bucket")
    with prepare_artifact(app_dir) as prepared:
        staged = stage_artifact(
            storage, prepared, "dep-1", url_for=lambda k: (storage.root / k).as_uri()
        )
        again = stage_artifact(
            storage, prepared, "dep-1", url_for=lambda k: (storage.root / k).as_uri()
        )
    assert staged.uploaded and not again.uploaded, "same bytes are not uploaded twice"
    assert staged.key == "deployments/dep-1/artifact.tar.gz"
    port = _free_port()
    work = tmp_path / "instance"
    script = startup_script(
        staged.url,
        "python3 app.py",
        port=port,
        deployment_id="dep-1",
        workdir=str(work),
        detach=False,
    )
    assert "nohup" in startup_script(staged.url, "python3 app.py", deployment_id="dep-1")
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    assert resp.read() == b"hello dep-1"
                break
            except OSError:
                assert proc.poll() is None, "the app exited"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert (work / "app" / "app.py").is_file()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


class _NoURLs:
    """A store with everything CloudStorage needs and no signed URLs (SupportsSignedURLs)."""

    provider_name = "plain"

    def __init__(self, inner: LocalStorage) -> None:
        self.inner = inner
        self.upload = inner.upload
        self.download = inner.download
        self.list_objects = inner.list_objects
        self.delete = inner.delete
        self.head = inner.head
        self.exists = inner.exists
        self.open_read = inner.open_read
        self.upload_stream = inner.upload_stream
        self.uri = inner.uri


def test_staging_needs_a_store_that_signs_urls(tmp_path: Path, app_dir: Path) -> None:
    from providers.base import CloudStorage, SupportsSignedURLs

    store = _NoURLs(LocalStorage(tmp_path / "bucket"))
    assert isinstance(store, CloudStorage) and not isinstance(store, SupportsSignedURLs)
    with (
        prepare_artifact(app_dir) as prepared,
        pytest.raises(ConfigurationError, match="cannot sign URLs"),
    ):
        stage_artifact(store, prepared, "dep-1")  # type: ignore[arg-type]
    assert list(store.list_objects()) == [], "refused before anything was uploaded"
