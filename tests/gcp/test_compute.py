"""ComputeEngine and GCPProvider.deploy through the fake Compute REST API.

Service-account tokens come from the fake OAuth endpoint; the fake Compute API answers
401 to any request without one. deploy() also uploads to the GCS emulator and signs a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers.artifact import DEPLOYMENT_TAG
from providers.base import CloudCompute, InstanceSpec
from providers.errors import ConfigurationError, CredentialsError, DeploymentError, NotFoundError
from providers.gcp import GCPProvider
from providers.gcp.compute import ComputeEngine
from providers.gcp.provider import zone_of
from tests.emulators import Emulators
from tests.fakes.gcp_compute import FakeCompute
from tests.fakes.gcp_fixtures import PROJECT
from tests.gcp.conftest import FAST_RETRY
from tests.helpers import archive_members, fetch, fetch_url

ZONE = "europe-west1-b"


@pytest.fixture
def fake(fake_compute: FakeCompute) -> FakeCompute:
    return fake_compute


def provider_for(fake: FakeCompute, sa_info: dict[str, Any], **kw: Any) -> GCPProvider:
    return GCPProvider(
        PROJECT,
        zone=ZONE,
        service_account_info=sa_info,
        endpoints={"compute": fake.url},
        **kw,
    )


@pytest.fixture
def compute(fake: FakeCompute, sa_info: dict[str, Any]) -> ComputeEngine:
    engine = provider_for(fake, sa_info).get_compute()
    engine.poll_interval = 0.01
    engine.retry_policy = FAST_RETRY
    return engine


def test_create_get_list_delete(compute: ComputeEngine, fake: FakeCompute) -> None:
    assert isinstance(compute, CloudCompute)
    spec = InstanceSpec(
        name="web-1",
        instance_type="e2-micro",
        user_data="#!/bin/bash\necho hi\n",
        tags={"Deployment-ID": "Dep_42", "team": "web"},
        port=8080,
    )
    created = compute.create_instance(spec)
    assert created.instance_id == "web-1" and created.region == ZONE
    assert created.instance_type == "e2-micro"
    assert created.tags == {"deployment-id": "dep_42", "team": "web"}
    assert created.public_address and created.private_address

    body = fake.calls("POST", r".*/zones/europe-west1-b/instances")[0].json
    assert body["metadata"]["items"] == [{"key": "startup-script", "value": spec.user_data}]
    assert body["tags"]["items"] == ["specify-cloud", "specify-cloud-8080"]
    assert body["disks"][0]["initializeParams"]["sourceImage"] == (
        "projects/debian-cloud/global/images/family/debian-12"
    )
    rule = fake.firewalls["specify-allow-tcp-8080"]
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["8080"]}]
    assert rule["targetTags"] == ["specify-cloud-8080"]
    # both operations were waited on, not just fired
    assert fake.calls("POST", r".*/zones/europe-west1-b/operations/.*/wait")
    assert fake.calls("POST", r".*/global/operations/.*/wait")

    running = compute.wait_until_running("web-1", timeout=5)
    assert running.state == "running"
    assert compute.get_output("web-1").startswith("startup-script")

    compute.create_instance(InstanceSpec(name="web-2", tags={"team": "web"}))
    compute.create_instance(InstanceSpec(name="db-1", tags={"team": "db"}))
    # the fake pages by two: three instances need two pages
    assert sorted(i.name for i in compute.list_instances()) == ["db-1", "web-1", "web-2"]
    assert sorted(i.name for i in compute.list_instances({"team": "web"})) == ["web-1", "web-2"]
    assert [i.name for i in compute.list_instances({"team": "web", "deployment-id": "dep_42"})] == [
        "web-1"
    ]

    assert compute.terminate_instance("web-1") is True
    assert compute.terminate_instance("web-1") is False
    with pytest.raises(NotFoundError) as info:
        compute.get_instance("web-1")
    assert "zone europe-west1-b" in str(info.value)
    fake.assert_clean()


def test_second_firewall_insert_keeps_the_existing_rule(compute: ComputeEngine) -> None:
    compute.create_instance(InstanceSpec(name="a-1", port=9000))
    compute.create_instance(InstanceSpec(name="a-2", port=9000))
    assert compute.get_instance("a-2").name == "a-2"


def test_failed_operation_is_a_deployment_error(compute: ComputeEngine, fake: FakeCompute) -> None:
    fake.fail_next_insert = "Quota 'CPUS' exceeded"
    with pytest.raises(DeploymentError, match="QUOTA_EXCEEDED: Quota 'CPUS' exceeded"):
        compute.create_instance(InstanceSpec(name="big-1"))


def test_missing_token_is_a_credentials_error(fake: FakeCompute, sa_info: dict[str, Any]) -> None:
    from google.auth.credentials import AnonymousCredentials

    engine = GCPProvider(
        PROJECT, zone=ZONE, credentials=AnonymousCredentials(), endpoints={"compute": fake.url}
    ).get_compute()
    with pytest.raises(CredentialsError, match=r"docs/iam/gcp-roles\.yaml"):
        engine.list_instances()


def test_zone_of() -> None:
    assert zone_of("us-east1", "europe-west1-b") == "us-east1-b"
    assert zone_of("us-east1-c", "europe-west1-b") == "us-east1-c"
    assert zone_of(None, "europe-west1-b") == "europe-west1-b"


@pytest.fixture
def deploying(emulators: Emulators, fake: FakeCompute, sa_info: dict[str, Any]) -> GCPProvider:
    """A provider with an artifact bucket in the wiped GCS emulator and the fake Compute API."""
    emulators.reset_gcs()
    provider = provider_for(fake, sa_info, bucket="deploy-artifacts")
    provider.get_storage().create_bucket()
    provider.get_compute(ZONE).poll_interval = 0.01
    return provider


def test_deploy_uploads_signs_creates_waits_and_destroy_removes(
    deploying: GCPProvider, fake: FakeCompute, tmp_path: Path
) -> None:
    provider = deploying
    artifact = tmp_path / "app.sh"
    artifact.write_text("#!/bin/sh\necho serving\n")

    result = provider.deploy(artifact, "europe-west1", deployment_id="rel-7", port=8080)
    assert result.ok and result.state == "running", result.error
    assert result.region == ZONE and result.instance_id == "specify-rel-7"
    assert result.address and result.address.startswith("34.") and result.address.endswith(":8080")
    key = "deployments/rel-7/artifact.tar.gz"
    assert result.artifact_url == f"gs://deploy-artifacts/{key}"

    inst = fake.instances["specify-rel-7"]
    # the shared tags are valid labels as they are: nothing was rewritten on the way
    assert inst["labels"] == {
        DEPLOYMENT_TAG: "rel-7",
        "specify-managed-by": "specify-cloud",
        "specify-port": "8080",
    }
    script = inst["metadata"]["items"][0]["value"]
    assert "tar -xzf artifact.tar.gz -C app" in script and "'sh app.sh'" in script
    # the startup script's signed URL really serves the packed artifact
    assert archive_members(fetch(fetch_url(script))) == {"app.sh": artifact.read_bytes()}
    assert fake.calls("POST", r".*/zones/europe-west1-b/operations/.*/wait")

    # a re-run with the same id finds the instance instead of creating another
    again = provider.deploy(artifact, "europe-west1", deployment_id="rel-7", port=8080)
    assert again.instance_id == "specify-rel-7"
    assert len(fake.calls("POST", r".*/zones/europe-west1-b/instances")) == 1

    assert provider.destroy("rel-7", "europe-west1") == 1
    assert fake.instances == {}
    assert list(provider.get_storage().list_objects("deployments/rel-7/")) == []
    assert provider.destroy("rel-7", "europe-west1") == 0
    fake.assert_clean()


def test_failed_deploy_rolls_back_the_artifact(
    deploying: GCPProvider, fake: FakeCompute, tmp_path: Path
) -> None:
    provider = deploying
    fake.fail_next_insert = "Quota 'CPUS' exceeded"
    artifact = tmp_path / "app.sh"
    artifact.write_text("echo hi\n")
    result = provider.deploy(artifact, ZONE, deployment_id="rel-8")
    assert result.state == "rolled_back" and not result.ok
    assert result.error and "QUOTA_EXCEEDED" in result.error
    assert list(provider.get_storage().list_objects("deployments/rel-8/")) == []


def test_deploy_without_a_bucket_is_a_configuration_error(
    fake: FakeCompute, sa_info: dict[str, Any], tmp_path: Path
) -> None:
    provider = provider_for(fake, sa_info)  # no bucket configured
    artifact = tmp_path / "a.sh"
    artifact.write_text("x")
    with pytest.raises(ConfigurationError, match="no bucket"):
        provider.deploy(artifact, ZONE, deployment_id="x-1")
    assert fake.instances == {}
    with pytest.raises(ConfigurationError, match=r"Rel_7.*--id.*specify-<id>"):
        provider.deploy(artifact, ZONE, deployment_id="Rel_7")
