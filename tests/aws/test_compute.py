"""EC2 compute, RDS and deploy against moto."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from providers.artifact import DEPLOYMENT_TAG
from providers.aws import AWSProvider
from providers.aws.compute import EC2Compute
from providers.base import CloudCompute, CloudDatabase, DatabaseSpec, InstanceSpec
from providers.errors import ConfigurationError, DeploymentError, NotFoundError
from tests.aws.conftest import unique
from tests.helpers import archive_members, fetch, fetch_url


@pytest.fixture()
def compute(aws: AWSProvider) -> EC2Compute:
    return aws.get_compute()


def test_instance_life_cycle(compute: EC2Compute) -> None:
    assert isinstance(compute, CloudCompute)
    group = unique("grp")
    spec = InstanceSpec(
        name=unique("web"),
        instance_type="t3.small",
        user_data="#!/bin/sh\necho hi\n",
        tags={"specify:test": group},
        port=8080,
    )
    created = compute.create_instance(spec)
    assert created.tags["specify:test"] == group and created.name == spec.name
    running = compute.wait_until_running(created.instance_id, timeout=30)
    assert running.state == "running" and running.instance_type == "t3.small"
    assert running.private_address

    listed = compute.list_instances({"specify:test": group})
    assert [i.instance_id for i in listed] == [created.instance_id]
    assert compute.get_instance(created.instance_id).name == spec.name
    assert isinstance(compute.get_output(created.instance_id), str)

    raw = compute.client.describe_instances(InstanceIds=[created.instance_id])
    inst = raw["Reservations"][0]["Instances"][0]
    attr = compute.client.describe_instance_attribute(
        InstanceId=created.instance_id, Attribute="userData"
    )
    assert base64.b64decode(attr["UserData"]["Value"]).decode() == spec.user_data
    sg = compute.client.describe_security_groups(GroupIds=[inst["SecurityGroups"][0]["GroupId"]])
    perm = sg["SecurityGroups"][0]["IpPermissions"][0]
    assert (perm["FromPort"], perm["ToPort"]) == (8080, 8080)
    # the same group is reused, its rule not duplicated
    assert (
        compute.ensure_security_group(f"{spec.name}-sg", 8080)
        == inst["SecurityGroups"][0]["GroupId"]
    )

    assert compute.terminate_instance(created.instance_id) is True
    assert compute.list_instances({"specify:test": group}) == []
    assert compute.terminate_instance(created.instance_id) is False
    with pytest.raises(DeploymentError, match="terminated"):
        compute.wait_until_running(created.instance_id, timeout=5)
    assert compute.delete_security_groups({"specify:test": group}) == 1
    assert compute.delete_security_groups({"specify:test": group}) == 0


def test_image_aliases(compute: EC2Compute) -> None:
    ami = compute.resolve_image(
        "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    assert ami.startswith("ami-")
    assert compute.resolve_image("ami-12345678") == "ami-12345678"
    with pytest.raises(NotFoundError, match="SSM parameter"):
        compute.resolve_image("/aws/service/no/such/alias")
    with pytest.raises(DeploymentError, match="neither"):
        compute.resolve_image("ubuntu")


def test_missing_instance(compute: EC2Compute) -> None:
    with pytest.raises(NotFoundError) as info:
        compute.get_instance("i-0123456789abcdef0")
    assert "us-east-1" in str(info.value)
    assert compute.terminate_instance("i-0123456789abcdef0") is False


def test_database_life_cycle(aws: AWSProvider) -> None:
    db = aws.get_database()
    assert isinstance(db, CloudDatabase)
    name = unique("db")
    created = db.create_database(
        DatabaseSpec(
            name=name, engine="postgres", storage_gb=30, password="p4ssword-x", tags={"t": "1"}
        )
    )
    assert created.engine == "postgres" and created.storage_gb == 30
    ready = db.wait_until_available(name, timeout=30)
    assert ready.status == "available" and ready.endpoint and ready.port
    assert name in {d.database_id for d in db.list_databases()}
    assert db.get_database(name).tags == {"t": "1"}
    assert "p4ssword-x" not in repr(DatabaseSpec(name=name, password="p4ssword-x"))
    managed = db.create_database(DatabaseSpec(name=unique("db"), engine="mysql"))
    assert managed.engine == "mysql"
    assert db.delete_database(name) is True
    assert db.delete_database(managed.database_id) is True
    assert db.delete_database(unique("nodb")) is False
    with pytest.raises(NotFoundError, match="identifier"):
        db.get_database(unique("nodb"))


def test_deploy_file_then_destroy(aws: AWSProvider, tmp_path: Path) -> None:
    aws.bucket = unique("spec-art")
    aws.get_storage().create_bucket()
    script = tmp_path / "app.sh"
    script.write_text("#!/bin/sh\necho serving\n")
    dep_id = unique("dep")
    result = aws.deploy(script, "us-east-1", deployment_id=dep_id, port=8000, timeout=60)
    assert result.ok and result.state == "running", result.error
    assert result.provider == "aws" and result.deployment_id == dep_id
    assert result.instance_id and result.address and result.address.endswith(":8000")
    key = f"deployments/{dep_id}/artifact.tar.gz"
    assert result.artifact_url == f"s3://{aws.bucket}/{key}"  # the URI; the signed URL is secret

    compute = aws.get_compute()
    instance = compute.get_instance(result.instance_id)
    assert instance.state == "running" and instance.tags[DEPLOYMENT_TAG] == dep_id
    assert instance.tags["specify-managed-by"] == "specify-cloud"

    # user data fetches the artifact through the presigned URL it carries, then runs it
    attr = aws.client("ec2").describe_instance_attribute(
        InstanceId=result.instance_id, Attribute="userData"
    )
    script_text = base64.b64decode(attr["UserData"]["Value"]).decode()
    assert "export PORT=8000" in script_text and "'sh app.sh'" in script_text
    assert "tar -xzf artifact.tar.gz" in script_text
    assert archive_members(fetch(fetch_url(script_text))) == {"app.sh": script.read_bytes()}
    assert aws.get_storage().head(key).metadata[DEPLOYMENT_TAG] == dep_id
    # the port was opened through a security group carrying the deployment's tag
    groups = aws.client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [dep_id]}]
    )["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == [f"specify-{dep_id}-sg"]

    # a second deploy with the same id finds the running instance
    again = aws.deploy(script, "us-east-1", deployment_id=dep_id, timeout=60)
    assert again.instance_id == result.instance_id and again.address == result.address

    assert aws.destroy(dep_id) == 1
    after = compute.get_instance(result.instance_id)
    assert after.state in {"shutting-down", "terminated"}
    assert compute.list_instances({DEPLOYMENT_TAG: dep_id}) == []
    assert list(aws.get_storage().list_objects(f"deployments/{dep_id}/")) == []
    assert compute.delete_security_groups({DEPLOYMENT_TAG: dep_id}) == 0, "destroy removed it"

    # deploying the id again after destroy starts a new instance
    fresh = aws.deploy(script, "us-east-1", deployment_id=dep_id, timeout=60)
    assert fresh.instance_id != result.instance_id
    aws.destroy(dep_id)


def test_deploy_directory_to_default_bucket(aws: AWSProvider, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "start.sh").write_text("python3 -m http.server $PORT\n")
    (app / "start.sh").chmod(0o755)
    result = aws.deploy(app, "eu-west-1", port=9000, timeout=60)
    assert result.region == "eu-west-1" and result.state == "running", result.error
    assert result.deployment_id.startswith("dep-")
    # no bucket configured: one per account and region, made on first deploy
    assert (result.artifact_url or "").startswith("s3://specify-artifacts-")
    attr = aws.client("ec2", "eu-west-1").describe_instance_attribute(
        InstanceId=result.instance_id or "", Attribute="userData"
    )
    script_text = base64.b64decode(attr["UserData"]["Value"]).decode()
    assert "nohup bash -c ./start.sh" in script_text
    assert list(archive_members(fetch(fetch_url(script_text)))) == ["start.sh"]
    assert aws.destroy(result.deployment_id, "eu-west-1") == 1
    assert list(aws.artifact_storage().list_objects(f"deployments/{result.deployment_id}/")) == []


def test_failed_deploy_rolls_back_what_it_created(aws: AWSProvider, tmp_path: Path) -> None:
    aws.bucket = unique("spec-art")
    aws.get_storage().create_bucket()
    aws.image = "/specify/no-such-image"  # an SSM alias that does not resolve
    script = tmp_path / "app.sh"
    script.write_text("echo hi\n")
    dep_id = unique("dep")
    result = aws.deploy(script, "us-east-1", deployment_id=dep_id, timeout=60)
    assert result.state == "rolled_back" and not result.ok
    assert result.error and "no-such-image" in result.error
    assert list(aws.get_storage().list_objects(f"deployments/{dep_id}/")) == []


def test_deploy_refuses_bad_input(aws: AWSProvider, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="deployment id"):
        aws.deploy(tmp_path, "us-east-1", deployment_id="bad id!")
    with pytest.raises(ConfigurationError, match="does not exist"):
        aws.deploy(tmp_path / "nope", "us-east-1", deployment_id=unique("d"))
