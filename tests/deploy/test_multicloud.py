"""One artifact to AWS, GCP, Azure and local at once, through the one shared deploy path.

AWS is moto, GCP is the GCS emulator plus the fake Compute API, Azure is Azurite plus the
fake Resource Manager, local is a real process answering HTTP. Every cloud's SDK sends
its real requests; nothing is patched.
"""

from __future__ import annotations

import hashlib
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from providers.artifact import DEPLOYMENT_TAG
from providers.aws import AWSProvider
from providers.azure.provider import AzureProvider
from providers.azure.storage import metadata_name
from providers.base import CloudStorage
from providers.deployer import MultiCloudDeployer
from providers.gcp import GCPProvider
from providers.local.deploy import free_port
from providers.local.provider import LocalProvider
from tests.emulators import Emulators
from tests.fakes.azure_arm import FakeResourceManager
from tests.fakes.azure_https import FakeAzureServer
from tests.fakes.gcp_compute import FakeCompute
from tests.fakes.gcp_fixtures import PROJECT
from tests.helpers import fetch

GCP_ZONE = "europe-west1-b"
TARGETS = "aws:us-east-1,gcp:europe-west1,azure:westeurope,local"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Clouds:
    """The four providers, and the fakes that stand in for the APIs without an emulator."""

    aws: AWSProvider
    gcp: GCPProvider
    azure: AzureProvider
    local: LocalProvider
    gce: FakeCompute
    arm: FakeResourceManager
    arm_server: FakeAzureServer

    def providers(self) -> dict[str, Any]:
        return {"aws": self.aws, "gcp": self.gcp, "azure": self.azure, "local": self.local}

    def storages(self) -> dict[str, CloudStorage]:
        return {name: p.get_storage() for name, p in self.providers().items()}

    def live(self, dep_id: str) -> dict[str, list[str]]:
        """Each cloud's instances of the deployment that are not gone."""
        found = {}
        for name, provider in self.providers().items():
            compute = provider.get_compute(GCP_ZONE) if name == "gcp" else provider.get_compute()
            found[name] = [
                i.instance_id
                for i in compute.list_instances({DEPLOYMENT_TAG: dep_id})
                if i.state not in {"terminated", "shutting-down"}
            ]
        return found

    def artifacts(self, dep_id: str) -> dict[str, list[str]]:
        return {
            name: [o.key for o in storage.list_objects(f"deployments/{dep_id}/")]
            for name, storage in self.storages().items()
        }


@pytest.fixture
def clouds(
    moto_env: str,
    emulators: Emulators,
    sa_info: dict[str, Any],
    fake_compute: FakeCompute,
    fake_provider: AzureProvider,
    arm: FakeResourceManager,
    fake_server: FakeAzureServer,
    local_provider: LocalProvider,
    container_name: str,
) -> Iterator[Clouds]:
    emulators.reset_gcs()
    aws = AWSProvider(bucket=f"spec-multi-{uuid.uuid4().hex[:8]}")
    aws.get_storage().create_bucket()
    gcp = GCPProvider(
        PROJECT,
        zone=GCP_ZONE,
        service_account_info=sa_info,
        endpoints={"compute": fake_compute.url},
        bucket=f"spec-multi-{uuid.uuid4().hex[:8]}",
    )
    gcp.get_storage().create_bucket()
    gcp.get_compute(GCP_ZONE).poll_interval = 0.01
    azure = AzureProvider(
        replace(fake_provider.settings, container=container_name),
        credential=fake_provider.credential,
    )
    yield Clouds(aws, gcp, azure, local_provider, fake_compute, arm, fake_server)
    azure.blob_storage().client.delete_container(container_name)
    fake_compute.assert_clean()


@pytest.fixture
def container_name() -> str:
    return f"multi-{uuid.uuid4().hex[:8]}"


def test_one_artifact_on_four_clouds(clouds: Clouds, app_dir: Path, make_deployer: Any) -> None:
    deployer: MultiCloudDeployer = make_deployer(clouds.providers())
    targets = deployer.parse_targets(TARGETS, size="small")
    dep_id = f"multi-{uuid.uuid4().hex[:8]}"
    port = free_port()

    report = deployer.deploy(app_dir, targets, deployment_id=dep_id, port=port, timeout=60)
    by = {r.provider: r for r in report.results}
    assert {p: (r.state, r.error) for p, r in by.items()} == {
        p: ("running", None) for p in ("aws", "gcp", "azure", "local")
    }
    assert by["gcp"].region == GCP_ZONE and by["azure"].region == "westeurope"
    for result in by.values():
        assert result.address and result.address.endswith(f":{port}")
    with NO_PROXY.open(f"http://{by['local'].address}/", timeout=5) as resp:
        assert resp.read() == f"hello {dep_id}".encode()  # the local one really serves
    # the same bytes went to every cloud under the same key, tagged with the same id
    key = f"deployments/{dep_id}/artifact.tar.gz"
    assert clouds.artifacts(dep_id) == {p: [key] for p in by}
    digests = {p: s.head(key).sha256 for p, s in clouds.storages().items()}
    assert len(set(digests.values())) == 1
    for name, storage in clouds.storages().items():
        # blob metadata names must be identifiers: Azure keeps the tag as specify_deployment_id
        tag = metadata_name(DEPLOYMENT_TAG) if name == "azure" else DEPLOYMENT_TAG
        assert storage.head(key).metadata[tag] == dep_id, name
    assert clouds.gce.instances[f"specify-{dep_id}"]["labels"][DEPLOYMENT_TAG] == dep_id
    assert {r["tags"][DEPLOYMENT_TAG] for r in clouds.arm.resources.values()} == {dep_id}
    # each cloud's signed URL (the kind its start-up script carries) serves those bytes
    for name, storage in clouds.storages().items():
        if name != "local":
            fetched = fetch(storage.get_url(key, expires_in=300))
            assert hashlib.sha256(fetched).hexdigest() == digests[name], name

    status = deployer.status(dep_id)
    assert {s.provider: s.state for s in status} == {p: "running" for p in by}
    assert {s.provider: s.instance_id for s in status} == {p: r.instance_id for p, r in by.items()}

    # re-running the same id creates nothing anywhere
    puts = len(clouds.arm_server.of("PUT"))
    again = deployer.deploy(app_dir, targets, deployment_id=dep_id, port=port, timeout=60)
    assert {r.provider: r.instance_id for r in again.results} == {
        p: r.instance_id for p, r in by.items()
    }
    assert len(clouds.arm_server.of("PUT")) == puts
    assert len(clouds.gce.calls("POST", r".*/instances$")) == 1
    assert {p: len(ids) for p, ids in clouds.live(dep_id).items()} == {p: 1 for p in by}

    destroyed = deployer.destroy(dep_id)
    assert {(d.provider, d.state, d.error) for d in destroyed} == {
        (p, "destroyed", None) for p in by
    }
    assert clouds.live(dep_id) == {p: [] for p in by}
    assert clouds.artifacts(dep_id) == {p: [] for p in by}
    assert clouds.arm.resources == {} and clouds.gce.instances == {}
    assert {s.state for s in deployer.status(dep_id, providers=list(by))} == {"absent"}


def test_all_or_nothing_leaves_nothing_when_azure_refuses_the_vm(
    clouds: Clouds, app_dir: Path, make_deployer: Any
) -> None:
    @clouds.arm_server.route(
        "PUT",
        r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
        r"Microsoft\.Compute/virtualMachines/[^/]+",
    )
    def no_capacity(req):  # type: ignore[no-untyped-def]
        return 409, {}, {"error": {"code": "SkuNotAvailable", "message": "no capacity"}}

    routes = clouds.arm_server.routes
    routes.insert(0, routes.pop())  # before the generic PUT route
    deployer: MultiCloudDeployer = make_deployer(clouds.providers())
    dep_id = f"aon-{uuid.uuid4().hex[:8]}"
    report = deployer.deploy(
        app_dir,
        deployer.parse_targets(TARGETS),
        deployment_id=dep_id,
        strategy="all-or-nothing",
        port=free_port(),
        timeout=60,
    )
    by = {r.provider: r for r in report.results}
    assert {p: r.state for p, r in by.items()} == {
        "aws": "rolled_back",
        "gcp": "rolled_back",
        "azure": "rolled_back",  # Azure's own deploy rolled back its half-made VM
        "local": "rolled_back",
    }
    assert by["azure"].error and "SkuNotAvailable" in by["azure"].error
    assert clouds.arm_server.of("PUT", f"/networkInterfaces/specify-{dep_id}-nic")  # made...
    assert clouds.arm.resources == {}  # ...and removed again
    assert clouds.live(dep_id) == {p: [] for p in by}
    assert clouds.artifacts(dep_id) == {p: [] for p in by}
    assert clouds.gce.instances == {}
    assert deployer.store.load(dep_id) is None, "nothing left to remember"
