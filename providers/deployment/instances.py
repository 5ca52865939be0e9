"""Instance primitives over one CloudCompute and CloudStorage: find-or-create, find, destroy.

Every resource is tagged with the deployment id (`artifact.DEPLOYMENT_TAG`); these
functions find a deployment's instances by that tag, so they need no record of it.
The VM providers (providers.vm), the local provider and the orchestrator
(providers.deployer) all build on them.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from providers.artifact import (
    DEPLOYMENT_TAG,
    check_deployment_id,
    deployment_tags,
    prepare_artifact,
    remove_staged,
    stage_artifact,
    startup_script,
)
from providers.base import (
    CloudCompute,
    CloudStorage,
    DeploymentResult,
    Instance,
    InstanceSpec,
)
from providers.deployment.targets import hourly_price
from providers.errors import DeploymentError
from providers.telemetry import record_operation

#: tag recording the port the app listens on, so a reused instance reports its address
PORT_TAG = "specify-port"  # label-safe, like artifact.DEPLOYMENT_TAG
LIVE_STATES = frozenset({"pending", "running"})
GONE_STATES = frozenset({"terminated", "shutting-down", "deleted"})


def new_deployment_id() -> str:
    return f"dep-{uuid.uuid4().hex[:10]}"


def _records_deploy_metrics(fn: Callable[..., DeploymentResult]) -> Callable[..., DeploymentResult]:
    """Record the seed's cloud.deploy.count / .duration for every provider's deploy."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> DeploymentResult:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record_operation("deploy", kwargs["provider"], time.perf_counter() - started, None)

    return wrapper


@_records_deploy_metrics
def deploy_instance(
    compute: CloudCompute,
    storage: CloudStorage,
    artifact: Path | str,
    *,
    provider: str,
    region: str,
    deployment_id: str,
    instance_type: str | None = None,
    image: str = "",
    run_command: str | None = None,
    port: int | None = None,
    timeout: float = 300.0,
    url_for: Callable[[str], str] | None = None,
    workdir: str | None = None,
    detach: bool = True,
    env: Mapping[str, str] | None = None,
) -> DeploymentResult:
    """Find-or-create: the generic body of a provider's deploy over its compute and storage.

    A live instance tagged with the deployment id is reused (nothing is uploaded or created);
    otherwise the artifact is staged, an instance started with the start-up script, and
    waited for. Errors propagate as CloudErrors; the deployer turns them into results.
    """
    started = time.perf_counter()
    check_deployment_id(deployment_id)
    existing = find_instances(compute, deployment_id, region)
    live = [i for i in existing if i.state in LIVE_STATES]
    artifact_uri: str | None = None
    if live:
        instance = compute.wait_until_running(live[0].instance_id, timeout=timeout)
    else:
        with prepare_artifact(artifact, run_command) as prepared:
            staged = stage_artifact(storage, prepared, deployment_id, url_for=url_for)
            artifact_uri = staged.uri
            spec = InstanceSpec(
                name=f"specify-{deployment_id}",
                image=image,
                instance_type=instance_type or "",
                user_data=startup_script(
                    staged.url,
                    prepared.run_command,
                    port=port,
                    deployment_id=deployment_id,
                    workdir=workdir,
                    detach=detach,
                ),
                tags={**deployment_tags(deployment_id), **({PORT_TAG: str(port)} if port else {})},
                port=port,
                region=region,
                env=dict(env or {}),
            )
        created = compute.create_instance(spec)
        instance = compute.wait_until_running(created.instance_id, timeout=timeout)
    if instance.state != "running":
        raise DeploymentError(
            f"instance {instance.instance_id} is {instance.state}, not running",
            provider=provider,
            operation="deploy",
            resource=region,
            hint=f"Inspect it with `specify cloud status {deployment_id}`",
        )
    address = address_of(instance, port)
    return DeploymentResult(
        provider=provider,
        region=region,
        deployment_id=deployment_id,
        state="running",
        instance_id=instance.instance_id,
        address=address,
        artifact_url=artifact_uri,
        duration_s=time.perf_counter() - started,
        hourly_price=hourly_price(provider, instance.instance_type or instance_type),
    )


def address_of(instance: Instance, port: int | None = None) -> str | None:
    """host:port of an instance; the port tag wins, since a reused instance keeps its port."""
    port_text = instance.tags.get(PORT_TAG) or (str(port) if port is not None else None)
    address = instance.public_address or instance.private_address
    if address and port_text and ":" not in address:
        address = f"{address}:{port_text}"
    return address


def find_instances(compute: CloudCompute, deployment_id: str, region: str | None) -> list[Instance]:
    """Instances tagged with the deployment id (in region, when the provider reports one)."""
    found = compute.list_instances(tags={DEPLOYMENT_TAG: deployment_id})
    # a GCP instance reports its zone (us-central1-a) for the region us-central1
    return [
        i
        for i in found
        if i.state not in GONE_STATES
        and (region is None or i.region is None or i.region.startswith(region))
    ]


def destroy_instances(
    compute: CloudCompute, storage: CloudStorage | None, deployment_id: str, region: str | None
) -> int:
    """Terminate the deployment's instances and delete its staged artifacts; returns the count
    of instances terminated."""
    count = 0
    for instance in find_instances(compute, deployment_id, region):
        if compute.terminate_instance(instance.instance_id):
            count += 1
    if storage is not None:
        remove_staged(storage, deployment_id)
    return count
