"""Virtual Machines and deploy through a fake Resource Manager with long-running operations."""

from __future__ import annotations

import base64
import hashlib
import shlex
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from providers.artifact import DEPLOYMENT_TAG
from providers.azure.compute import VM_TAG, AzureVirtualMachines
from providers.azure.provider import AzureProvider
from providers.azure.storage import AzureBlobStorage
from providers.base import CloudCompute, InstanceSpec
from providers.errors import ConfigurationError, DeploymentError, NotFoundError
from tests.azure.conftest import RESOURCE_GROUP, SUBSCRIPTION
from tests.fakes.azure_arm import FakeResourceManager
from tests.fakes.azure_https import FakeAzureServer

NETWORK_TYPES = (
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/networkInterfaces",
)


def types_of(arm: FakeResourceManager) -> list[str]:
    return sorted(r["type"] for r in arm.resources.values())


def test_create_get_list_terminate(
    vms: AzureVirtualMachines, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    assert isinstance(vms, CloudCompute)
    spec = InstanceSpec(
        name="web 1",
        instance_type="Standard_B2s",
        user_data="#!/bin/sh\necho hi\n",
        tags={"team": "a"},
        port=8080,
    )
    inst = vms.create_instance(spec)
    assert inst.instance_id == "web-1" and inst.instance_type == "Standard_B2s"
    assert inst.public_address and inst.public_address.startswith("203.0.113.")
    assert types_of(arm) == sorted([*NETWORK_TYPES, "Microsoft.Compute/virtualMachines"])
    for resource in arm.resources.values():
        assert resource["tags"] == {"team": "a", VM_TAG: "web-1"}
        assert resource["properties"]["provisioningState"] == "Succeeded"  # LRO was awaited
    vm_put = fake_server.of("PUT", "/virtualMachines/web-1")[0].json()
    assert (
        base64.b64decode(vm_put["properties"]["osProfile"]["customData"]) == spec.user_data.encode()
    )
    assert vm_put["location"] == "westeurope"
    nsg = arm.of_type("Microsoft.Network/networkSecurityGroups")[0]
    assert nsg["properties"]["securityRules"][0]["properties"]["destinationPortRange"] == "8080"
    # every PUT was polled through its Azure-AsyncOperation URL
    assert len(fake_server.of("GET", "/operations/")) >= 2 * 5

    running = vms.wait_until_running("web-1", timeout=5)
    assert running.state == "running"
    assert running.public_address == inst.public_address
    assert [i.instance_id for i in vms.list_instances({"team": "a"})] == ["web-1"]
    assert vms.list_instances({"team": "b"}) == []

    assert vms.terminate_instance("web-1") is True
    assert arm.resources == {}
    assert fake_server.of("GET", "/operationResults/")  # deletes polled through Location
    assert vms.terminate_instance("web-1") is False
    with pytest.raises(NotFoundError) as info:
        vms.get_instance("web-1")
    assert RESOURCE_GROUP in str(info.value)


def test_terminate_leaves_network_pieces_it_did_not_create(
    vms: AzureVirtualMachines, arm: FakeResourceManager
) -> None:
    vms.create_instance(InstanceSpec(name="a"))
    # someone else's VNet that happens to carry the conventional name of another VM
    foreign = arm.of_type("Microsoft.Network/virtualNetworks")[0]
    foreign_id = foreign["id"].replace("a-vnet", "b-vnet")
    foreign_copy = {**foreign, "id": foreign_id, "tags": {}, "properties": {}}
    arm.resources[foreign_copy["id"].lower()] = foreign_copy
    assert vms.terminate_instance("b") is False
    assert foreign_copy["id"].lower() in arm.resources
    vms.terminate_instance("a")
    assert list(arm.resources) == [foreign_copy["id"].lower()]


def test_bad_image_is_refused_before_anything_is_created(
    vms: AzureVirtualMachines, arm: FakeResourceManager
) -> None:
    with pytest.raises(ConfigurationError):
        vms.create_instance(InstanceSpec(name="x", image="ubuntu"))
    assert arm.resources == {}


def test_refused_put_maps_to_deployment_error(
    vms: AzureVirtualMachines, fake_server: FakeAzureServer
) -> None:
    @fake_server.route(
        "PUT",
        r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
        r"Microsoft\.Network/publicIPAddresses/[^/]+",
    )
    def quota(req):  # type: ignore[no-untyped-def]
        return 409, {}, {"error": {"code": "PublicIPCountLimitReached", "message": "quota"}}

    fake_server.routes.insert(0, fake_server.routes.pop())  # before the generic PUT route
    with pytest.raises(DeploymentError) as info:
        vms.create_instance(InstanceSpec(name="q"))
    assert "PublicIPCountLimitReached" in str(info.value)
    assert RESOURCE_GROUP in str(info.value)
    assert not info.value.retryable


@pytest.mark.emulators
def test_deploy_uploads_starts_vm_and_destroy_removes_everything(
    fake_provider: AzureProvider,
    arm: FakeResourceManager,
    fake_server: FakeAzureServer,
    tmp_path: Path,
    container_name: str,
) -> None:
    provider = AzureProvider(
        fake_provider.settings.__class__(
            **{**fake_provider.settings.__dict__, "container": container_name}
        ),
        credential=fake_provider.credential,
    )
    artifact = tmp_path / "app.sh"
    artifact.write_text("#!/bin/sh\necho serving\n")
    try:
        result = provider.deploy(
            artifact, "westeurope", run_command="sh app.sh", deployment_id="dep-1", port=8000
        )
        assert result.ok, result.error
        assert result.state == "running" and result.instance_id == "specify-dep-1"
        assert result.address and result.address.startswith("203.0.113.")
        assert result.address.endswith(":8000")
        assert types_of(arm) == sorted([*NETWORK_TYPES, "Microsoft.Compute/virtualMachines"])
        for resource in arm.resources.values():
            assert resource["tags"][DEPLOYMENT_TAG] == "dep-1"
        staged = provider.blob_storage().head("deployments/dep-1/artifact.tar.gz")
        assert result.artifact_url == f"az://{container_name}/deployments/dep-1/artifact.tar.gz"
        # the VM's custom data fetches the artifact through a SAS URL that really works
        vm = arm.of_type("Microsoft.Compute/virtualMachines")[0]
        script = base64.b64decode(vm["properties"]["osProfile"]["customData"]).decode()
        fetch = next(line for line in script.splitlines() if line.startswith("fetch "))
        sas_url = shlex.split(fetch)[1]
        assert "sp=r" in sas_url and "sig=" in sas_url
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(sas_url, timeout=10) as resp:
            fetched = resp.read()
        assert hashlib.sha256(fetched).hexdigest() == staged.sha256

        # a re-run with the same deployment id creates nothing new
        puts = len(fake_server.of("PUT"))
        again = provider.deploy(
            artifact, "westeurope", run_command="sh app.sh", deployment_id="dep-1"
        )
        assert again.instance_id == result.instance_id
        assert len(fake_server.of("PUT")) == puts

        assert provider.destroy("dep-1") == 1
        assert arm.resources == {}
        assert list(provider.blob_storage().list_objects("deployments/dep-1/")) == []
    finally:
        provider.blob_storage().client.delete_container(container_name)


def test_deploy_failure_is_reported_not_raised(
    fake_provider: AzureProvider, fake_server: FakeAzureServer, tmp_path: Path
) -> None:
    # no Azurite here: the upload fails, and deploy reports it per provider
    provider = AzureProvider(
        fake_provider.settings.__class__(
            **{
                **fake_provider.settings.__dict__,
                "container": "deploys",
                "connection_string": "DefaultEndpointsProtocol=http;AccountName=acct;"
                "AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/acct;",
                "sdk_retries": 0,
            }
        ),
        credential=fake_provider.credential,
    )
    storage = provider.blob_storage()
    from providers.retry import RetryPolicy

    storage.retry_policy = RetryPolicy(attempts=1)
    artifact = tmp_path / "app.sh"
    artifact.write_text("x")
    result = provider.deploy(artifact, "westeurope", run_command="sh app.sh", deployment_id="dep-2")
    assert result.state == "failed" and not result.ok
    assert result.error and "account acct, container deploys" in result.error
    assert SUBSCRIPTION not in (result.error or "")


@pytest.mark.emulators
def test_get_output_reads_the_serial_console_log(
    vms: AzureVirtualMachines,
    arm: FakeResourceManager,
    blob_storage: AzureBlobStorage,
    tmp_path: Path,
) -> None:
    vms.create_instance(InstanceSpec(name="out"))
    assert vms.get_output("out") == ""  # no log yet: the service answers 409
    log = tmp_path / "serial.log"
    log.write_text("cloud-init: fetched app.sh\nserving\n")
    blob_storage.upload(log, "bootdiagnostics/out/serial.log")
    # boot diagnostics hand out a SAS URL of a blob: here a real one in Azurite
    arm.boot_logs["out"] = blob_storage.get_url("bootdiagnostics/out/serial.log", 300)
    assert vms.get_output("out") == log.read_text()


@pytest.mark.emulators
def test_failed_deploy_rolls_back_what_it_created(
    fake_provider: AzureProvider,
    arm: FakeResourceManager,
    fake_server: FakeAzureServer,
    blob_storage: AzureBlobStorage,
    tmp_path: Path,
) -> None:
    @fake_server.route(
        "PUT",
        r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
        r"Microsoft\.Compute/virtualMachines/[^/]+",
    )
    def no_capacity(req):  # type: ignore[no-untyped-def]
        return 409, {}, {"error": {"code": "SkuNotAvailable", "message": "no capacity"}}

    fake_server.routes.insert(0, fake_server.routes.pop())  # before the generic PUT route
    provider = AzureProvider(
        replace(fake_provider.settings, container=blob_storage.container),
        credential=fake_provider.credential,
    )
    artifact = tmp_path / "app.sh"
    artifact.write_text("echo hi")
    result = provider.deploy(artifact, "westeurope", run_command="sh app.sh", deployment_id="dep-3")
    assert result.state == "rolled_back" and not result.ok
    assert result.error and "SkuNotAvailable" in result.error
    assert fake_server.of("PUT", "/networkInterfaces/specify-dep-3-nic")  # pieces were made
    assert arm.resources == {}  # and removed again

    kept = provider.deploy(
        artifact, "westeurope", run_command="sh app.sh", deployment_id="dep-4", rollback=False
    )
    assert kept.state == "failed"
    assert len(arm.resources) == 4  # the network pieces stay for inspection
    assert provider.destroy("dep-4") == 0  # no VM, but its network pieces go
    assert arm.resources == {}
