"""Deploying an artifact to EC2: upload it, boot an instance that fetches it, wait.

Everything created carries the tag `specify:deployment-id`, so a second deploy with the
same id finds the running instance instead of starting another, and destroy finds it all.
"""

from __future__ import annotations

import re
import shlex
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from providers.aws.adapter import AWSAdapter
from providers.aws.compute import EC2Compute
from providers.aws.storage import S3Storage
from providers.base import DeploymentResult, Instance, InstanceSpec
from providers.errors import ConfigurationError, DeploymentError
from providers.operation import cloud_operation

DEPLOYMENT_TAG = "specify:deployment-id"
MANAGED_TAG = "specify:managed-by"
ARTIFACT_PREFIX = "deployments"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")


def new_deployment_id() -> str:
    return f"dep-{uuid.uuid4().hex[:12]}"


def check_deployment_id(deployment_id: str) -> str:
    if not _ID.match(deployment_id):
        raise ConfigurationError(
            f"deployment id {deployment_id!r} is not allowed",
            provider="aws",
            operation="deploy",
            hint="Use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return deployment_id


def pack(artifact: Path, workdir: Path) -> Path:
    """The file to upload: the artifact itself, or a directory packed as .tar.gz."""
    if artifact.is_file():
        return artifact
    if not artifact.is_dir():
        raise ConfigurationError(
            f"artifact {artifact} does not exist",
            provider="aws",
            operation="deploy",
            hint="Pass a file or a directory",
        )
    out = workdir / f"{artifact.name or 'artifact'}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(artifact, arcname=".")
    return out


def default_command(filename: str) -> str:
    if filename.endswith((".tar.gz", ".tgz")):
        return "sh ./start.sh"
    if filename.endswith(".py"):
        return f"python3 {shlex.quote(filename)}"
    if filename.endswith(".sh"):
        return f"sh {shlex.quote(filename)}"
    return f"chmod +x {shlex.quote(filename)} && ./{shlex.quote(filename)}"


def user_data(
    url: str, filename: str, deployment_id: str, run_command: str, port: int | None
) -> str:
    """A cloud-init shell script: fetch the artifact by presigned URL, unpack, run it."""
    workdir = f"/opt/specify/{deployment_id}"
    unpack = f"tar -xzf {shlex.quote(filename)}\n" if filename.endswith((".tar.gz", ".tgz")) else ""
    port_line = f"export PORT={int(port)}\n" if port else ""
    return (
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        f"mkdir -p {workdir} && cd {workdir}\n"
        f"curl -fsSL --retry 5 --retry-delay 2 -o {shlex.quote(filename)} {shlex.quote(url)}\n"
        f"{unpack}"
        f"export SPECIFY_DEPLOYMENT_ID={shlex.quote(deployment_id)}\n"
        f"{port_line}"
        f"nohup sh -c {shlex.quote(run_command)} > /var/log/specify-{deployment_id}.log 2>&1 &\n"
    )


class EC2Deployer(AWSAdapter):
    """Runs one deployment in one region."""

    service_name = "deploy"

    def __init__(
        self,
        compute: EC2Compute,
        artifact_storage: Callable[[], S3Storage],
        *,
        url_ttl: int = 3600,
    ) -> None:
        self.compute = compute
        self.region = compute.region
        self._storage = artifact_storage
        self.url_ttl = url_ttl

    @property
    def location(self) -> str:
        return f"ec2/{self.region}"

    def _result(
        self, deployment_id: str, instance: Instance, url: str | None, started: float
    ) -> DeploymentResult:
        return DeploymentResult(
            provider="aws",
            region=self.region,
            deployment_id=deployment_id,
            state="running" if instance.state == "running" else instance.state,
            instance_id=instance.instance_id,
            address=instance.public_address or instance.private_address,
            artifact_url=url,
            duration_s=round(time.perf_counter() - started, 3),
        )

    @cloud_operation(
        "deploy",
        kind=DeploymentError,
        mutating=True,
        resource="deployment_id",
        metric="deploy",
        retry=False,  # the steps retry on their own; a whole deploy is not repeated blindly
    )
    def deploy(
        self,
        artifact: Path | str,
        *,
        deployment_id: str | None = None,
        instance_type: str | None = None,
        run_command: str | None = None,
        port: int | None = None,
        timeout: float = 300.0,
    ) -> DeploymentResult:
        started = time.perf_counter()
        dep_id = check_deployment_id(deployment_id or new_deployment_id())
        tags = {DEPLOYMENT_TAG: dep_id, MANAGED_TAG: "specify-cloud"}
        deadline = time.monotonic() + timeout

        seen = self.compute.list_instances({DEPLOYMENT_TAG: dep_id}, include_terminated=True)
        live = [i for i in seen if i.state in {"pending", "running"}]
        if live:
            # idempotent re-run: the deployment is already there
            instance = self.compute.wait_until_running(live[0].instance_id, timeout)
            return self._result(dep_id, instance, None, started)
        # EC2 answers a reused ClientToken with the old (terminated) instance: vary it
        token = f"{dep_id}-{len(seen)}" if seen else dep_id

        storage = self._storage()
        with tempfile.TemporaryDirectory(prefix="specify-deploy-") as tmp:
            upload = pack(Path(artifact), Path(tmp))
            key = f"{ARTIFACT_PREFIX}/{dep_id}/{upload.name}"
            storage.upload(upload, key, tags=tags)
        url = storage.get_url(key, expires_in=self.url_ttl)
        command = run_command or default_command(upload.name)
        spec = InstanceSpec(
            name=f"specify-{dep_id}",
            instance_type=instance_type or "",
            user_data=user_data(url, upload.name, dep_id, command, port),
            tags=tags,
            port=port,
            region=self.region,
        )
        instance = self.compute.create_instance(spec, client_token=token)
        remaining = max(1.0, deadline - time.monotonic())
        instance = self.compute.wait_until_running(instance.instance_id, remaining)
        return self._result(dep_id, instance, url, started)

    @cloud_operation("destroy", kind=DeploymentError, mutating=True, resource="deployment_id")
    def destroy(self, deployment_id: str) -> int:
        """Terminate the deployment's instances and delete its artifacts; returns count."""
        tags = {DEPLOYMENT_TAG: deployment_id}
        instances = self.compute.list_instances(tags)
        for instance in instances:
            self.compute.terminate_instance(instance.instance_id)
        storage = self._storage()
        for obj in list(storage.list_objects(f"{ARTIFACT_PREFIX}/{deployment_id}/")):
            storage.delete(obj.key)
        return len(instances)
