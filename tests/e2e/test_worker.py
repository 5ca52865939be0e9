"""deployments/prefect.yaml on a fresh worker: deployed twice with `prefect deploy --all`
(no warnings, no path of this machine stored), then run by a process worker that starts
in an empty directory, in its own virtual environment, with no PYTHONPATH: the pull steps
clone the repository (a git snapshot of this working tree, named by the Prefect variable)
and install requirements.txt; the flow runs from the clone.

The worker's pip may not reach the internet: PIP_NO_INDEX, and the build uses the
installed setuptools and wheel (PIP_NO_BUILD_ISOLATION=0). The virtual environment sees
the system's packages, so the install finds every dependency already there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from deployments.server import stop_group, tail
from tests.prefect_server import REPO_ROOT, TestServer, deployments_by_name, wait_for_final_state

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def snapshot_repository(dest: Path) -> Path:
    """A git repository (branch main) holding this working tree's files as they are."""
    files = _git("ls-files", "-co", "--exclude-standard", cwd=REPO_ROOT).splitlines()
    dest.mkdir(parents=True)
    archive = dest.parent / "tree.tar"
    with tarfile.open(archive, "w") as tar:
        for name in files:
            path = REPO_ROOT / name
            if path.is_file() and not name.startswith("node_modules"):
                tar.add(path, arcname=name)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    _git("init", "-q", "-b", "main", cwd=dest)
    _git("add", "-A", cwd=dest)
    _git("commit", "-q", "-m", "snapshot", cwd=dest)
    return dest


def test_prefect_yaml_deploys_cleanly_and_runs_on_a_fresh_worker(tmp_path: Path) -> None:
    origin = snapshot_repository(tmp_path / "origin")
    with TestServer(tmp_path / "server", timeout=180) as server:
        for name, value in (
            ("specify_cloud_repository", str(origin)),
            ("specify_cloud_branch", "main"),
        ):
            made = server.prefect("variable", "set", name, value)
            assert made.returncode == 0, made.stdout + made.stderr
        pool = server.prefect("work-pool", "create", "specify", "--type", "process")
        assert pool.returncode == 0, pool.stdout + pool.stderr

        # deploy, then redeploy: neither prints a warning nor stores a local path
        for attempt in ("deploy", "redeploy"):
            out = server.prefect(
                "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"
            )
            text = out.stdout + out.stderr
            assert out.returncode == 0, text
            assert "Warning" not in text and "warning" not in text, f"{attempt}:\n{text}"
            assert "will attempt to load your flow from" not in text, text
        found = deployments_by_name(server)
        names = ["replicate/by-hand", "deploy/by-hand", "destroy/by-hand", "cost-compare/daily"]
        for name in names:
            dep = found[name]
            stored = json.dumps(dep)
            assert str(REPO_ROOT) not in stored and str(Path.home()) + "/" not in stored, name
            assert dep["path"] in (None, "", "."), dep["path"]
            steps = [next(iter(s)) for s in dep["pull_steps"]]
            assert steps[0] == "prefect.deployments.steps.git_clone", steps
            assert dep["job_variables"]["env"]["PYTHONUNBUFFERED"] == "1"
        assert len(found["cost-compare/daily"]["schedules"]) == 1

        # a fresh worker: its own virtual environment, an empty directory, no PYTHONPATH
        venv = tmp_path / "worker-venv"
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
            check=True,
            timeout=300,
        )
        python = venv / "bin" / "python"
        home = tmp_path / "worker-home"
        home.mkdir()
        env = server.env(
            PREFECT_WORKER_QUERY_SECONDS="1",
            PIP_NO_INDEX="1",
            PIP_NO_BUILD_ISOLATION="0",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            HOME=str(home),
        )
        env.pop("PYTHONPATH", None)
        log = tmp_path / "worker.log"
        with open(log, "ab") as out_file:
            worker = subprocess.Popen(
                [str(python), "-m", "prefect", "worker", "start", "--pool", "specify"],
                env=env,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=out_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            source, target = tmp_path / "src", tmp_path / "dst"
            (source / "d").mkdir(parents=True)
            files = {"a.txt": b"alpha\n", "d/b.bin": os.urandom(50_000)}
            for key, data in files.items():
                (source / key).write_bytes(data)
            started = server.prefect(
                "deployment",
                "run",
                "replicate/by-hand",
                "--params",
                json.dumps(
                    {
                        "source": str(source),
                        "targets": [str(target)],
                        "options": {"journal_dir": str(tmp_path / "journal")},
                    }
                ),
            )
            assert started.returncode == 0, started.stdout + started.stderr
            run_id = next(
                line.split("UUID:")[1].strip()
                for line in started.stdout.splitlines()
                if "UUID:" in line
            )
            run = wait_for_final_state(server, run_id, timeout=600)
            assert run["state"]["type"] == "COMPLETED", (
                f"{run['state']}\nworker log:\n{tail(log, 80)}"
            )
            for key, data in files.items():
                assert (target / key).read_bytes() == data
            # the code ran from the clone the pull step made, not from this checkout
            logs = server.api("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})
            assert logs, "the run logged nothing"
            installed = subprocess.run(
                [str(python), "-m", "pip", "show", "-f", "specify-cloud"],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert str(venv) in installed.stdout, installed.stdout  # the pull step installed it
        finally:
            stop_group(worker)
            time.sleep(0.5)
    shutil.rmtree(venv, ignore_errors=True)
