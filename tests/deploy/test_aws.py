"""The deployer over AWSProvider against moto: tagged instances, idempotent, rollback, destroy."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import boto3

from providers.artifact import DEPLOYMENT_TAG
from providers.aws import AWSProvider
from tests.deploy.conftest import FakeCloud


def _instances(dep_id: str) -> list[dict[str, Any]]:
    ec2 = boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    pages = ec2.describe_instances(Filters=[{"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [dep_id]}])[
        "Reservations"
    ]
    return [i for r in pages for i in r["Instances"]]


def _live(dep_id: str) -> list[dict[str, Any]]:
    return [i for i in _instances(dep_id) if i["State"]["Name"] in ("pending", "running")]


def test_aws_and_local_then_rerun_then_destroy(
    moto_env: str, app_dir: Path, make_deployer: Any, local_provider: Any
) -> None:
    aws = AWSProvider(bucket=f"spec-deploy-{uuid.uuid4().hex[:8]}")
    aws.get_storage().create_bucket(exist_ok=True)
    deployer = make_deployer({"aws": aws, "local": local_provider})
    targets = deployer.parse_targets("aws:us-east-1,local", size="medium")
    dep_id = f"aws-{uuid.uuid4().hex[:8]}"

    report = deployer.deploy(app_dir, targets, deployment_id=dep_id, port=8080, timeout=60)
    by = {r.provider: r for r in report.results}
    assert by["aws"].state == "running", by["aws"].error
    assert by["local"].state == "running", by["local"].error
    assert str(by["aws"].hourly_price) == "0.0416"  # t3.medium from the size table
    (inst,) = _live(dep_id)
    assert inst["InstanceType"] == "t3.medium"
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags[DEPLOYMENT_TAG] == dep_id
    staged = [o.key for o in aws.get_storage().list_objects(f"deployments/{dep_id}/")]
    assert staged == [f"deployments/{dep_id}/artifact.tar.gz"]

    again = deployer.deploy(app_dir, targets, deployment_id=dep_id, port=8080, timeout=60)
    assert {r.provider: r.instance_id for r in again.results} == {
        r.provider: r.instance_id for r in report.results
    }
    assert len(_instances(dep_id)) == 1, "re-running the id created nothing"

    assert {s.provider: s.state for s in deployer.status(dep_id)} == {
        "aws": "running",
        "local": "running",
    }
    destroyed = deployer.destroy(dep_id)
    assert {(d.provider, d.state, d.error) for d in destroyed} == {
        ("aws", "destroyed", None),
        ("local", "destroyed", None),
    }
    assert _live(dep_id) == []
    assert [i["State"]["Name"] for i in _instances(dep_id)] == ["terminated"]
    assert list(aws.get_storage().list_objects(f"deployments/{dep_id}/")) == []


def test_all_or_nothing_rolls_back_ec2(
    moto_env: str, tmp_path: Path, app_dir: Path, make_deployer: Any
) -> None:
    aws = AWSProvider(bucket=f"spec-deploy-{uuid.uuid4().hex[:8]}")
    aws.get_storage().create_bucket(exist_ok=True)
    broken = FakeCloud("broken", tmp_path, fail_wait=True)
    deployer = make_deployer({"aws": aws, "broken": broken})
    dep_id = f"aon-{uuid.uuid4().hex[:8]}"
    report = deployer.deploy(
        app_dir,
        deployer.parse_targets("aws:us-east-1,broken:r1"),
        deployment_id=dep_id,
        strategy="all-or-nothing",
        timeout=60,
    )
    assert {r.provider: r.state for r in report.results} == {
        "aws": "rolled_back",
        "broken": "failed",
    }
    assert len(_instances(dep_id)) == 1 and _live(dep_id) == []
    assert list(aws.get_storage().list_objects(f"deployments/{dep_id}/")) == []
    assert broken.compute.live() == [] and broken.artifacts() == []
