"""Azure Virtual Machines (azure-mgmt-compute + azure-mgmt-network) as CloudCompute.

A VM gets its own network pieces, named after it and tagged like it: a virtual network
with one subnet, a network security group (allowing the spec's port), a public IP and a
NIC. Creation and deletion are Resource Manager long-running operations; the SDK pollers
follow Azure-AsyncOperation / Location headers until they finish. The instance id is the
VM name (unique within the resource group).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from providers.azure.adapter import AzureAdapter, sdk_import_error
from providers.base import Instance, InstanceSpec
from providers.errors import ConfigurationError, DeploymentError, NotFoundError
from providers.operation import cloud_operation
from providers.waiting import wait_for_state

try:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise sdk_import_error("azure-mgmt-compute") from exc

DEFAULT_IMAGE = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
DEFAULT_SIZE = "Standard_B1s"
#: tag naming the VM a network piece was created for (what delete looks for)
VM_TAG = "specify-vm"
_ADDRESS_SPACE = "10.42.0.0/16"
_SUBNET = "10.42.0.0/24"

_POWER_STATES = {
    "running": "running",
    "starting": "pending",
    "stopping": "stopping",
    "deallocating": "stopping",
    "stopped": "stopped",
    "deallocated": "stopped",
}
#: provisioningState of the model view; a PowerState/* status of the instance view, when
#: there is one, says more (a Succeeded VM may be running, stopped or deallocated)
_PROVISIONING_STATES = {
    "succeeded": "running",
    "creating": "pending",
    "updating": "pending",
    "failed": "failed",
    "deleting": "terminated",
    "canceled": "failed",
}


def vm_name(name: str) -> str:
    """A valid Linux VM name (1-64 letters, digits, hyphens) from any text."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:64]
    if not cleaned:
        raise ConfigurationError(
            f"{name!r} cannot name a VM",
            provider="azure",
            operation="create_instance",
            hint="Use letters, digits and hyphens",
        )
    return cleaned


def image_reference(image: str) -> dict[str, str]:
    """publisher:offer:sku:version (a URN, as `az vm create` takes) or an image resource id."""
    if image.startswith("/subscriptions/"):
        return {"id": image}
    parts = image.split(":")
    if len(parts) != 4:
        raise ConfigurationError(
            f"image {image!r} is neither a URN nor an image id",
            provider="azure",
            operation="create_instance",
            hint="Use publisher:offer:sku:version, e.g. " + DEFAULT_IMAGE,
        )
    return dict(zip(("publisher", "offer", "sku", "version"), parts, strict=True))


def throwaway_ssh_key() -> str:
    """An OpenSSH public key whose private half is dropped: the VM is reached by its app."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def rest(body: dict[str, Any]) -> Any:
    """A request body in the documented REST shape (the SDKs accept it as their model)."""
    return body


def _as_dict(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    return cast(dict[str, Any], model.as_dict())


class AzureVirtualMachines(AzureAdapter):
    """Virtual Machines in one resource group."""

    service_name: ClassVar[str] = "compute"
    not_found_hint: ClassVar[str] = "Check the VM name and the resource group"

    def __init__(
        self,
        credential: Any,
        subscription_id: str,
        resource_group: str,
        *,
        region: str = "eastus",
        base_url: str | None = None,
        connection_verify: bool | str = True,
        sdk_retries: int = 2,
        poll_interval: float = 5.0,
        admin_username: str = "specify",
        ssh_public_key: str | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.region = region
        self.poll_interval = poll_interval
        self.admin_username = admin_username
        self.ssh_public_key = ssh_public_key
        options: dict[str, Any] = {
            "base_url": base_url,
            "connection_verify": connection_verify,
            "retry_total": sdk_retries,
            # used when the service sends no Retry-After
            "polling_interval": poll_interval,
        }
        self.compute = ComputeManagementClient(credential, subscription_id, **options)
        self.network = NetworkManagementClient(credential, subscription_id, **options)

    @property
    def location(self) -> str:
        return f"{self.subscription_id}/{self.resource_group}"

    def describe(self, resource: str | None) -> str:
        return f"resource group {self.resource_group} ({self.region})"

    def _id(self, provider: str, kind: str, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{provider}/{kind}/{name}"
        )

    # ------------------------------------------------------------------ create
    @cloud_operation("create_instance", kind=DeploymentError, mutating=True, resource="spec")
    def create_instance(self, spec: InstanceSpec) -> Instance:
        name = vm_name(spec.name)
        region = spec.region or self.region
        tags = {**spec.tags, VM_TAG: name}
        rg, net = self.resource_group, self.network
        image = image_reference(spec.image or DEFAULT_IMAGE)  # checked before creating anything
        rules = []
        if spec.port:
            rules.append(
                {
                    "name": f"allow-{spec.port}",
                    "properties": {
                        "priority": 1000,
                        "direction": "Inbound",
                        "access": "Allow",
                        "protocol": "Tcp",
                        "sourceAddressPrefix": "*",
                        "sourcePortRange": "*",
                        "destinationAddressPrefix": "*",
                        "destinationPortRange": str(spec.port),
                    },
                }
            )
        # the three independent pieces are created concurrently (each poller polls in a thread)
        vnet_op = net.virtual_networks.begin_create_or_update(
            rg,
            f"{name}-vnet",
            rest(
                {
                    "location": region,
                    "tags": tags,
                    "properties": {
                        "addressSpace": {"addressPrefixes": [_ADDRESS_SPACE]},
                        "subnets": [{"name": "default", "properties": {"addressPrefix": _SUBNET}}],
                    },
                }
            ),
        )
        nsg_op = net.network_security_groups.begin_create_or_update(
            rg,
            f"{name}-nsg",
            rest({"location": region, "tags": tags, "properties": {"securityRules": rules}}),
        )
        ip_op = net.public_ip_addresses.begin_create_or_update(
            rg,
            f"{name}-ip",
            rest(
                {
                    "location": region,
                    "tags": tags,
                    "sku": {"name": "Standard"},
                    "properties": {"publicIPAllocationMethod": "Static"},
                }
            ),
        )
        vnet, nsg, ip = (_as_dict(op.result()) for op in (vnet_op, nsg_op, ip_op))
        subnet_id = vnet.get("properties", {}).get("subnets", [{}])[0].get("id") or (
            self._id("Microsoft.Network", "virtualNetworks", f"{name}-vnet") + "/subnets/default"
        )
        nic = _as_dict(
            net.network_interfaces.begin_create_or_update(
                rg,
                f"{name}-nic",
                rest(
                    {
                        "location": region,
                        "tags": tags,
                        "properties": {
                            "networkSecurityGroup": {"id": nsg["id"]},
                            "ipConfigurations": [
                                {
                                    "name": "ipconfig1",
                                    "properties": {
                                        "subnet": {"id": subnet_id},
                                        "publicIPAddress": {"id": ip["id"]},
                                        "privateIPAllocationMethod": "Dynamic",
                                    },
                                }
                            ],
                        },
                    }
                ),
            ).result()
        )
        key = self.ssh_public_key or throwaway_ssh_key()
        os_profile: dict[str, Any] = {
            "computerName": name,
            "adminUsername": self.admin_username,
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "ssh": {
                    "publicKeys": [
                        {
                            "path": f"/home/{self.admin_username}/.ssh/authorized_keys",
                            "keyData": key,
                        }
                    ]
                },
            },
        }
        if spec.user_data:
            os_profile["customData"] = base64.b64encode(spec.user_data.encode()).decode()
        vm = self.compute.virtual_machines.begin_create_or_update(
            rg,
            name,
            rest(
                {
                    "location": region,
                    "tags": tags,
                    "properties": {
                        "hardwareProfile": {"vmSize": spec.instance_type or DEFAULT_SIZE},
                        "storageProfile": {
                            "imageReference": image,
                            "osDisk": {
                                "createOption": "FromImage",
                                "deleteOption": "Delete",
                                "managedDisk": {"storageAccountType": "Standard_LRS"},
                            },
                        },
                        "osProfile": os_profile,
                        "networkProfile": {
                            "networkInterfaces": [
                                {"id": nic["id"], "properties": {"primary": True}},
                            ]
                        },
                        # managed boot diagnostics: get_output reads the serial console log
                        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
                    },
                }
            ),
        ).result()
        return self._instance(_as_dict(vm), address=_address(ip))

    # ------------------------------------------------------------------ read
    @cloud_operation("get_instance", kind=DeploymentError, resource="instance_id")
    def get_instance(self, instance_id: str) -> Instance:
        vm = _as_dict(
            self.compute.virtual_machines.get(
                self.resource_group, instance_id, expand="instanceView"
            )
        )
        return self._instance(vm, address=self._public_address(vm))

    @cloud_operation("list_instances", kind=DeploymentError, resource=None)
    def list_instances(self, tags: Mapping[str, str] | None = None) -> list[Instance]:
        """VMs of the resource group carrying all the given tags (ARM cannot filter VMs by tag).

        VirtualMachines_List takes `$expand=instanceView` only together with a `$filter`
        (a scale set), so the list is read plain and each matching VM's run-time state
        comes from its own instance view (VirtualMachines_InstanceView).
        """
        wanted = dict(tags or {})
        out = []
        for model in self.compute.virtual_machines.list(self.resource_group):
            vm = _as_dict(model)
            have = vm.get("tags") or {}
            if all(have.get(k) == v for k, v in wanted.items()):
                out.append(self._instance(self._with_instance_view(vm), address=None))
        return out

    def _with_instance_view(self, vm: dict[str, Any]) -> dict[str, Any]:
        """The VM with properties.instanceView filled in (left out if the VM is gone)."""
        name = str(vm.get("name") or str(vm.get("id", "")).rsplit("/", 1)[-1])
        try:
            view = _as_dict(self.compute.virtual_machines.instance_view(self.resource_group, name))
        except ResourceNotFoundError:
            return vm  # deleted since the list was read: provisioningState is all there is
        return {**vm, "properties": {**(vm.get("properties") or {}), "instanceView": view}}

    def wait_until_running(self, instance_id: str, timeout: float = 300.0) -> Instance:
        return wait_for_state(
            lambda: self.get_instance(instance_id),
            lambda i: i.state,
            ready="running",
            failed={"failed", "terminated"},
            timeout=timeout,
            poll_interval=self.poll_interval,
            provider=self.provider_name,
            operation="wait_until_running",
            resource=instance_id,
            noun="VM",
            where=f" in {self.describe(instance_id)}",
            failed_hint="See the VM's activity log and boot diagnostics in the portal",
            timeout_hint="Wait longer, or check the VM in the portal",
        )

    @cloud_operation("get_output", kind=DeploymentError, resource="instance_id")
    def get_output(self, instance_id: str) -> str:
        """The serial console log from boot diagnostics ('' when diagnostics are off)."""
        import urllib.request

        try:
            data = _as_dict(
                self.compute.virtual_machines.retrieve_boot_diagnostics_data(
                    self.resource_group, instance_id, sas_uri_expiration_time_in_minutes=5
                )
            )
        except ResourceNotFoundError:
            return ""
        except HttpResponseError as exc:
            if exc.status_code == 409:  # boot diagnostics are off for this VM
                return ""
            raise
        url = data.get("serialConsoleLogBlobUri")
        if not url:
            return ""
        with urllib.request.urlopen(url, timeout=30) as resp:  # a SAS URL on Azure Storage
            return str(resp.read().decode("utf-8", "replace"))

    # ------------------------------------------------------------------ delete
    @cloud_operation(
        "terminate_instance", kind=DeploymentError, mutating=True, resource="instance_id"
    )
    def terminate_instance(self, instance_id: str) -> bool:
        """Delete the VM, then the network pieces created for it; False if it was gone."""
        rg, net = self.resource_group, self.network
        try:
            self.compute.virtual_machines.get(rg, instance_id)
            existed = True
        except ResourceNotFoundError:
            existed = False  # ARM answers 204 to deleting a missing VM: ask first
        if existed:
            self.compute.virtual_machines.begin_delete(rg, instance_id).result()
        # the NIC holds the IP and NSG, and sits in the subnet: it goes first
        self._delete_created(net.network_interfaces, f"{instance_id}-nic", instance_id)
        pollers = [
            self._delete_created(ops, f"{instance_id}-{suffix}", instance_id, wait=False)
            for ops, suffix in (
                (net.public_ip_addresses, "ip"),
                (net.network_security_groups, "nsg"),
                (net.virtual_networks, "vnet"),
            )
        ]
        for poller in pollers:
            if poller is not None:
                poller.result()
        return existed

    def _delete_created(self, ops: Any, name: str, vm: str, wait: bool = True) -> Any:
        """Delete a network piece if it carries this VM's tag (never someone else's)."""
        try:
            piece = _as_dict(ops.get(self.resource_group, name))
        except ResourceNotFoundError:
            return None
        if (piece.get("tags") or {}).get(VM_TAG) != vm:
            return None
        poller = ops.begin_delete(self.resource_group, name)
        if wait:
            poller.result()
            return None
        return poller

    # ------------------------------------------------------------------ helpers
    def _public_address(self, vm: Mapping[str, Any]) -> str | None:
        nics = vm.get("properties", {}).get("networkProfile", {}).get("networkInterfaces", [])
        if not nics:
            return None
        nic_name = nics[0]["id"].rsplit("/", 1)[-1]
        try:
            nic = _as_dict(self.network.network_interfaces.get(self.resource_group, nic_name))
            for config in nic.get("properties", {}).get("ipConfigurations", []):
                ip_ref = config.get("properties", {}).get("publicIPAddress")
                if ip_ref:
                    ip_name = ip_ref["id"].rsplit("/", 1)[-1]
                    ip = self.network.public_ip_addresses.get(self.resource_group, ip_name)
                    return _address(_as_dict(ip))
        except ResourceNotFoundError:
            return None
        return None

    def _instance(self, vm: Mapping[str, Any], address: str | None) -> Instance:
        props = vm.get("properties", {})
        state = _PROVISIONING_STATES.get(str(props.get("provisioningState", "")).lower(), "pending")
        launched = props.get("timeCreated")
        for status in (props.get("instanceView") or {}).get("statuses", []):
            code = str(status.get("code", ""))
            if code.startswith("PowerState/") and state not in ("failed", "terminated"):
                state = _POWER_STATES.get(code.split("/", 1)[1].lower(), state)
            if code.startswith("ProvisioningState/") and status.get("time") and not launched:
                launched = status["time"]
        if isinstance(launched, str):
            from datetime import datetime

            launched = datetime.fromisoformat(launched.replace("Z", "+00:00"))
        name = str(vm.get("name") or str(vm.get("id", "")).rsplit("/", 1)[-1])
        return Instance(
            instance_id=name,
            name=name,
            state=state,
            provider=self.provider_name,
            region=vm.get("location"),
            instance_type=props.get("hardwareProfile", {}).get("vmSize"),
            public_address=address,
            tags=dict(vm.get("tags") or {}),
            launched_at=launched,
        )


def _address(ip: Mapping[str, Any]) -> str | None:
    value = ip.get("properties", {}).get("ipAddress")
    return str(value) if value else None


__all__ = ["AzureVirtualMachines", "NotFoundError"]
