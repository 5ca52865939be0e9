"""Compute Engine through google-cloud-compute (REST transport).

Instances are addressed by name, as Compute Engine's API does. Tags of an InstanceSpec
become labels (so `list_instances` filters on them), a port becomes a network tag plus a
firewall rule that opens it to that tag, and the startup script travels in the
`startup-script` metadata item. Every insert/delete waits on its zone operation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from providers.base import Instance, InstanceSpec
from providers.errors import CloudError, DeploymentError
from providers.gcp.common import GCPService, require, utc
from providers.operation import cloud_operation
from providers.waiting import wait_for_state

STATES = {
    "PROVISIONING": "pending",
    "STAGING": "pending",
    "REPAIRING": "pending",
    "RUNNING": "running",
    "STOPPING": "stopping",
    "SUSPENDING": "stopping",
    "SUSPENDED": "stopped",
    "STOPPED": "stopped",
    # Compute Engine calls a stopped VM TERMINATED; it still exists and can be restarted
    "TERMINATED": "stopped",
}
NETWORK_TAG = "specify-cloud"
_LABEL_BAD = re.compile(r"[^a-z0-9_\-]")


def label(text: str) -> str:
    """A valid label key/value: lowercase letters, digits, '_' and '-', at most 63."""
    return _LABEL_BAD.sub("-", text.lower())[:63]


def label_filter(tags: Mapping[str, str] | None) -> str:
    """An instances.list filter matching every label: each expression in parentheses, as
    the API reference asks for more than one (`(labels.a = "1") AND (labels.b = "2")`)."""
    return " AND ".join(f'(labels.{label(k)} = "{label(v)}")' for k, v in (tags or {}).items())


def _last(url: str | None) -> str | None:
    return url.rsplit("/", 1)[-1] if url else None


class ComputeEngine(GCPService):
    """Instances of one zone."""

    service_name = "compute"

    def __init__(
        self,
        project: str,
        *,
        zone: str,
        credentials: Any = None,
        client_options: Any = None,
        machine_type: str = "e2-small",
        image_project: str = "debian-cloud",
        image_family: str = "debian-12",
        network: str = "global/networks/default",
        poll_interval: float = 2.0,
    ) -> None:
        super().__init__(project)
        compute = require("google.cloud.compute_v1", "google-cloud-compute")
        self._compute = compute
        self.zone = zone
        self.machine_type = machine_type
        self.image_project = image_project
        self.image_family = image_family
        self.network = network
        self.poll_interval = poll_interval
        kwargs = {"credentials": credentials, "client_options": client_options, "transport": "rest"}
        self.instances = compute.InstancesClient(**kwargs)
        self.zone_operations = compute.ZoneOperationsClient(**kwargs)
        self.firewalls = compute.FirewallsClient(**kwargs)
        self.global_operations = compute.GlobalOperationsClient(**kwargs)

    def where(self) -> dict[str, Any]:
        return {"project": self.project, "zone": self.zone}

    # ------------------------------------------------------------------ helpers
    def _instance(self, raw: Any) -> Instance:
        public = private = None
        for nic in raw.network_interfaces:
            private = private or nic.network_i_p or None
            for access in nic.access_configs:
                public = public or access.nat_i_p or None
        return Instance(
            instance_id=raw.name,
            name=raw.name,
            state=STATES.get(raw.status, "failed" if raw.status else "pending"),
            provider=self.provider_name,
            region=_last(raw.zone) or self.zone,
            instance_type=_last(raw.machine_type),
            public_address=public,
            private_address=private,
            tags=dict(raw.labels),
            launched_at=utc(_parse_time(raw.creation_timestamp)),
        )

    def _wait(self, operation: Any, timeout: float, *, zonal: bool = True) -> None:
        """Wait on a zone (or global) operation until DONE; raise its errors."""
        name = operation.name
        deadline = time.monotonic() + timeout
        op = operation
        while not _done(op):
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"operation {name} not done after {timeout:.0f} s",
                    provider=self.provider_name,
                    operation="wait",
                    resource=name,
                    hint="Check it with `gcloud compute operations describe`",
                    retryable=True,
                )
            # operations.wait long-polls server side (up to 2 minutes) until DONE
            if zonal:
                op = self.zone_operations.wait(project=self.project, zone=self.zone, operation=name)
            else:
                op = self.global_operations.wait(project=self.project, operation=name)
        errors = getattr(getattr(op, "error", None), "errors", None) or []
        if errors:
            text = "; ".join(f"{e.code}: {e.message}" for e in errors)
            raise DeploymentError(
                f"operation {name} failed: {text} (project {self.project}, zone {self.zone})",
                provider=self.provider_name,
                operation="wait",
                resource=name,
            )

    def _ensure_firewall(self, port: int) -> str:
        """A rule opening tcp:port to instances tagged for it; an existing rule is kept."""
        from google.api_core.exceptions import Conflict

        tag = f"{NETWORK_TAG}-{port}"
        rule = self._compute.Firewall(
            name=f"specify-allow-tcp-{port}",
            network=self.network,
            direction="INGRESS",
            allowed=[self._compute.Allowed(I_p_protocol="tcp", ports=[str(port)])],
            target_tags=[tag],
            source_ranges=["0.0.0.0/0"],
            description="Opened by specify-cloud for deployments listening on this port",
        )
        try:
            op = self.firewalls.insert(project=self.project, firewall_resource=rule)
        except Conflict:
            return tag
        self._wait(op, 300.0, zonal=False)
        return tag

    # ------------------------------------------------------------------ protocol
    @cloud_operation("create_instance", kind=DeploymentError, mutating=True, resource="spec")
    def create_instance(self, spec: InstanceSpec) -> Instance:
        """Insert the instance and wait on the zone operation (not on RUNNING)."""
        c = self._compute
        network_tags = [NETWORK_TAG]
        if spec.port:
            network_tags.append(self._ensure_firewall(spec.port))
        image = spec.image or (
            f"projects/{self.image_project}/global/images/family/{self.image_family}"
        )
        machine = spec.instance_type or self.machine_type
        items = [c.Items(key="startup-script", value=spec.user_data)] if spec.user_data else []
        resource = c.Instance(
            name=spec.name,
            machine_type=f"zones/{self.zone}/machineTypes/{machine}",
            labels={label(k): label(v) for k, v in spec.tags.items()},
            tags=c.Tags(items=network_tags),
            metadata=c.Metadata(items=items),
            disks=[
                c.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    initialize_params=c.AttachedDiskInitializeParams(source_image=image),
                )
            ],
            network_interfaces=[
                c.NetworkInterface(
                    network=self.network,
                    access_configs=[c.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")],
                )
            ],
        )
        op = self.instances.insert(project=self.project, zone=self.zone, instance_resource=resource)
        self._wait(op, 300.0)
        return self._instance(
            self.instances.get(project=self.project, zone=self.zone, instance=spec.name)
        )

    @cloud_operation("get_instance", kind=CloudError, resource="instance_id")
    def get_instance(self, instance_id: str) -> Instance:
        return self._instance(
            self.instances.get(project=self.project, zone=self.zone, instance=instance_id)
        )

    @cloud_operation("list_instances", kind=CloudError, resource=None)
    def list_instances(self, tags: Mapping[str, str] | None = None) -> list[Instance]:
        """Instances whose labels carry every given tag (the pager follows pages)."""
        pager = self.instances.list(
            request={"project": self.project, "zone": self.zone, "filter": label_filter(tags)}
        )
        return [self._instance(raw) for raw in pager]

    def wait_until_running(self, instance_id: str, timeout: float = 300.0) -> Instance:
        """Poll until RUNNING; DeploymentError when it stops instead or time runs out."""
        return wait_for_state(
            lambda: self.get_instance(instance_id),
            lambda i: i.state,
            ready="running",
            failed={"stopped", "stopping", "failed"},
            timeout=timeout,
            poll_interval=self.poll_interval,
            provider=self.provider_name,
            operation="wait_until_running",
            resource=instance_id,
            noun="instance",
            where=f" (project {self.project}, zone {self.zone})",
            failed_hint="Read its serial console with get_output",
        )

    @cloud_operation("get_output", kind=CloudError, resource="instance_id")
    def get_output(self, instance_id: str) -> str:
        out = self.instances.get_serial_port_output(
            project=self.project, zone=self.zone, instance=instance_id
        )
        return str(out.contents or "")

    @cloud_operation(
        "terminate_instance", kind=DeploymentError, mutating=True, resource="instance_id"
    )
    def terminate_instance(self, instance_id: str) -> bool:
        """Delete the instance and wait on the operation; False when it did not exist."""
        from google.api_core.exceptions import NotFound

        try:
            op = self.instances.delete(project=self.project, zone=self.zone, instance=instance_id)
        except NotFound:
            return False
        self._wait(op, 300.0)
        return True


def _done(operation: Any) -> bool:
    status = getattr(operation, "status", None)
    return getattr(status, "name", status) == "DONE"


def _parse_time(text: str | None) -> Any:
    if not text:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
