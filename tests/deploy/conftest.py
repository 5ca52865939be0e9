"""Fixtures for deploy tests: isolated state, a real HTTP app, and small CloudProvider doubles.

The doubles implement OUR interfaces (CloudProvider, CloudCompute) in memory, with real
LocalStorage for artifacts, so the engine's parallelism, rollback and idempotency are tested
without patching any SDK.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from providers.base import CloudProvider, DeploymentResult, Instance, InstanceSpec
from providers.deployer import DeploymentStore, MultiCloudDeployer, deploy_instance
from providers.errors import DeploymentError, NotFoundError
from providers.local.provider import LocalProvider
from providers.local.storage import LocalStorage
from tests.emulators import Emulators

APP = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello " + os.environ.get("SPECIFY_DEPLOYMENT_ID", "?")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records and the local provider's root live in the test's temp dir."""
    monkeypatch.setenv("SPECIFY_DEPLOY_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("SPECIFY_LOCAL_ROOT", str(tmp_path / "local"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "1")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory artifact whose app.py answers HTTP on $PORT."""
    path = tmp_path / "app"
    path.mkdir()
    (path / "app.py").write_text(APP)
    (path / "README.txt").write_text("not the entry point\n")
    return path


class MemoryCompute:
    """CloudCompute in memory; `delay` seconds per create, and an optional failure at wait."""

    def __init__(self, provider: str, *, delay: float = 0.0, fail_wait: bool = False) -> None:
        self.provider = provider
        self.delay = delay
        self.fail_wait = fail_wait
        self.instances: dict[str, Instance] = {}
        self.created = 0
        self._lock = threading.Lock()

    def create_instance(self, spec: InstanceSpec) -> Instance:
        assert spec.user_data.startswith("#!/bin/bash"), "deploy must pass the start-up script"
        time.sleep(self.delay)
        inst = Instance(
            instance_id=f"{self.provider}-{uuid.uuid4().hex[:8]}",
            name=spec.name,
            state="pending",
            provider=self.provider,
            region=spec.region,
            instance_type=spec.instance_type,
            public_address="203.0.113.10",
            tags=dict(spec.tags),
            launched_at=datetime.now(UTC),
        )
        with self._lock:
            self.instances[inst.instance_id] = inst
            self.created += 1
        return inst

    def get_instance(self, instance_id: str) -> Instance:
        try:
            return self.instances[instance_id]
        except KeyError:
            raise NotFoundError("no such instance", provider=self.provider) from None

    def list_instances(self, tags: Mapping[str, str] | None = None) -> list[Instance]:
        with self._lock:
            return [
                i
                for i in self.instances.values()
                if all(i.tags.get(k) == v for k, v in (tags or {}).items())
            ]

    def wait_until_running(self, instance_id: str, timeout: float = 300.0) -> Instance:
        if self.fail_wait:
            raise DeploymentError("instance failed its health check", provider=self.provider)
        with self._lock:
            inst = self.instances[instance_id]
            running = replace(inst, state="running")
            self.instances[instance_id] = running
        return running

    def get_output(self, instance_id: str) -> str:
        return ""

    def terminate_instance(self, instance_id: str) -> bool:
        with self._lock:
            inst = self.instances[instance_id]
            if inst.state == "terminated":
                return False
            self.instances[instance_id] = replace(inst, state="terminated")
            return True

    def live(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.state != "terminated"]


class FakeCloud(CloudProvider):
    """A CloudProvider double: MemoryCompute + a LocalStorage bucket, deploy via the engine."""

    def __init__(
        self, name: str, root: Path, *, delay: float = 0.0, fail_wait: bool = False
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.compute = MemoryCompute(name, delay=delay, fail_wait=fail_wait)
        self.storage = LocalStorage(root / name / "bucket")

    def get_storage(self, bucket: str | None = None) -> Any:
        return self.storage

    def get_compute(self) -> MemoryCompute:
        return self.compute

    def get_metrics(self) -> Any:
        raise NotImplementedError

    def get_logging(self) -> Any:
        raise NotImplementedError

    def get_secrets(self) -> Any:
        raise NotImplementedError

    def get_database(self) -> Any:
        raise NotImplementedError

    def get_cost(self) -> Any:
        raise NotImplementedError

    def deploy(
        self,
        artifact: Path | str,
        region: str,
        *,
        instance_type: str | None = None,
        deployment_id: str | None = None,
        run_command: str | None = None,
        port: int | None = None,
        timeout: float = 300.0,
    ) -> DeploymentResult:
        assert deployment_id
        return deploy_instance(
            self.compute,
            self.storage,
            artifact,
            provider=self.name,
            region=region,
            deployment_id=deployment_id,
            instance_type=instance_type,
            run_command=run_command,
            port=port,
            timeout=timeout,
        )

    def artifacts(self) -> list[str]:
        return [o.key for o in self.storage.list_objects("")]


@pytest.fixture
def local_provider(tmp_path: Path) -> Iterator[LocalProvider]:
    provider = LocalProvider(tmp_path / "local")
    yield provider
    # never leave a process behind, whatever the test did
    compute = provider.get_compute()
    for inst in compute.list_instances():
        if inst.state not in ("terminated",):
            compute.terminate_instance(inst.instance_id)


@pytest.fixture
def make_deployer(tmp_path: Path) -> Any:
    def make(providers: Mapping[str, CloudProvider]) -> MultiCloudDeployer:
        return MultiCloudDeployer(dict(providers), store=DeploymentStore(tmp_path / "records"))

    return make


@pytest.fixture(scope="session")
def moto_env(emulators: Emulators) -> str:
    """The session's moto server; its settings are in os.environ."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        os.environ.pop(var, None)
    return emulators.url("moto")
