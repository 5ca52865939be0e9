"""VMProvider: deploy and destroy, written once for every cloud whose instances are VMs.

AWS, GCP and Azure deploy the same way: stage the packed artifact in the provider's
bucket, start an instance whose start-up script fetches it by signed URL, wait, and tag
everything with the deployment id (`providers.deployment.instances.deploy_instance`).
A subclass says only where that happens and what else a deployment leaves behind:

    deploy_placement(region)   -> (region reported, CloudCompute that creates instances)
    artifact_storage(create)   -> the bucket artifacts are staged in
    remove_leftovers(...)      -> e.g. an EC2 security group, an Azure VM's network pieces

Importing this module imports no SDK, and not the deployer: the orchestrator imports this
module, and both build on providers.deployment.instances (loaded on first use).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from pathlib import Path

from providers.base import CloudCompute, CloudProvider, CloudStorage, DeploymentResult
from providers.errors import CloudError, ConfigurationError, DeploymentError


class VMProvider(CloudProvider):
    """A CloudProvider whose deploy starts a VM; subclasses give the placement hooks."""

    @abstractmethod
    def deploy_placement(self, region: str | None) -> tuple[str, CloudCompute]:
        """The region (or zone) a deployment reports, and the compute creating its VMs."""

    @abstractmethod
    def artifact_storage(self, *, create: bool = False) -> CloudStorage:
        """The bucket artifacts are staged in, created when missing and create is set.

        ConfigurationError when no bucket is configured.
        """

    def remove_leftovers(self, compute: CloudCompute, deployment_id: str) -> None:
        """Delete what a deployment makes besides instances and artifacts (default: none)."""

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
        rollback: bool = True,
    ) -> DeploymentResult:
        """Upload the artifact, start a VM that fetches it by signed URL, wait until running.

        Idempotent per deployment id: a live VM tagged with it is reused. Bad input raises
        ConfigurationError before anything is created; any other failure comes back as a
        failed result, rolled back (state rolled_back) when this run created the VM and
        rollback is set.
        """
        from providers.artifact import check_deployment_id
        from providers.deployment.instances import (
            deploy_instance,
            find_instances,
            new_deployment_id,
        )

        started = time.perf_counter()
        dep_id = check_deployment_id(deployment_id or new_deployment_id())
        where, compute = self.deploy_placement(region)
        created = False
        try:
            storage = self.artifact_storage(create=True)
            created = not find_instances(compute, dep_id, where)
            result = deploy_instance(
                compute,
                storage,
                artifact,
                provider=self.name,
                region=where,
                deployment_id=dep_id,
                instance_type=instance_type,
                run_command=run_command,
                port=port,
                timeout=timeout,
            )
        except ConfigurationError:
            raise
        except CloudError as err:
            state, error = "failed", err
            if rollback and created:
                try:
                    self.destroy(dep_id, region)
                    state = "rolled_back"
                except CloudError as cleanup:
                    error = DeploymentError(
                        f"{err}; rollback also failed: {cleanup}",
                        provider=self.name,
                        operation="deploy",
                        resource=dep_id,
                        hint=f"Remove what is left with `specify cloud destroy {dep_id}`",
                    )
            result = DeploymentResult(
                provider=self.name,
                region=where,
                deployment_id=dep_id,
                state=state,
                duration_s=time.perf_counter() - started,
                error=str(error),
            )
        return result

    def destroy(self, deployment_id: str, region: str | None = None) -> int:
        """Delete the deployment's VMs, its staged artifacts and its leftovers; returns how
        many VMs were deleted."""
        from providers.artifact import check_deployment_id
        from providers.deployment.instances import destroy_instances

        check_deployment_id(deployment_id)
        _, compute = self.deploy_placement(region)
        storage: CloudStorage | None
        try:
            storage = self.artifact_storage()
        except ConfigurationError:  # no bucket configured: nothing can have been staged
            storage = None
        count = destroy_instances(compute, storage, deployment_id, None)
        self.remove_leftovers(compute, deployment_id)
        return count
