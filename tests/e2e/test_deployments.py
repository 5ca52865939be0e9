"""Deployments end to end: a real Prefect server, blocks saved for the emulators, the
deployments served by `python -m deployments.serve`, runs started with
`prefect deployment run ... --watch`, results checked through the Prefect API and in
every target cloud."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from typing import Any

import pytest

from blocks import BLOCK_TYPES
from deployments.serve import DEPLOYMENTS, runner_deployments
from tests.e2e.conftest import BUCKET, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
CLOUDS = ("aws", "gcp", "azure")


def make_buckets() -> None:
    """The bucket in each emulator (idempotent): replication writes into existing ones."""
    import boto3
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=BUCKET)
    gcs = storage.Client(
        project=os.environ["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    if gcs.lookup_bucket(BUCKET) is None:
        gcs.create_bucket(BUCKET)
    blob = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    with contextlib.suppress(ResourceExistsError):
        blob.create_container(BUCKET)


def objects_in(cloud: str, prefix: str) -> dict[str, bytes]:
    """Key (relative to prefix) -> content, read back with the cloud's own SDK."""
    out: dict[str, bytes] = {}
    if cloud == "aws":
        import boto3

        s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix) + 1 :]] = body
    elif cloud == "gcp":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        gcs = storage.Client(
            project=os.environ["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
        )
        for b in gcs.list_blobs(BUCKET, prefix=prefix + "/"):
            out[b.name[len(prefix) + 1 :]] = b.download_as_bytes()
    else:
        from azure.storage.blob import BlobServiceClient

        svc = BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        )
        ctr = svc.get_container_client(BUCKET)
        for b in ctr.list_blobs(name_starts_with=prefix + "/"):
            out[b.name[len(prefix) + 1 :]] = ctr.download_blob(b.name).readall()
    return out


def write_source(stack: Stack, prefix: str) -> dict[str, bytes]:
    """A few files under prefix in the specify-local block's bucket."""
    files = {
        "a.txt": b"alpha\n",
        "nested/b.bin": os.urandom(200_000),
        "with space/c.csv": b"x,y\n1,2\n",
    }
    root = stack.local_root / "storage" / BUCKET / prefix
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return files


def test_every_block_type_registers(stack: Stack) -> None:
    types = stack.server.api("POST", "/block_types/filter", {})
    slugs = {t["slug"] for t in types}
    assert {cls.get_block_type_slug() for cls in BLOCK_TYPES} <= slugs
    created = {row["name"] for row in stack.blocks if row["created"]}
    docs = stack.server.api("POST", "/block_documents/filter", {})
    assert created <= {d["name"] for d in docs}
    assert "specify-local" in created


def test_blocks_init_names_variables_not_secrets(stack: Stack) -> None:
    aws = next(r for r in stack.blocks if r["cloud"] == "aws")
    if aws["created"]:
        assert "AWS_SECRET_ACCESS_KEY" in aws["from"]
        docs = stack.server.api("POST", "/block_documents/filter", {})
        saved = next(d for d in docs if d["name"] == aws["name"])
        assert saved["data"]["aws_secret_access_key"] == "********"
    else:
        assert "not installed" in aws["reason"]


def test_served_deployments_match_the_specs(stack: Stack) -> None:
    served = stack.served.wait_for([s.full_name for s in DEPLOYMENTS if _installed(s.module)])
    by_name = {d["name"]: d for d in served}
    assert set(by_name) <= {"daily", "by-hand"}
    for dep in served:
        assert "specify-cloud" in dep["tags"]
    replicate = next(d for d in served if d["parameters"].get("source"))
    assert replicate["parameters"]["targets"] == ["block:specify-local/replica"]
    assert replicate["schedules"] == []


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_cost_compare_daily_is_scheduled_with_a_timezone(stack: Stack) -> None:
    _, skipped = runner_deployments()
    if "cost-compare/daily" in skipped:
        pytest.fail("flows/cost_compare.py is missing: cost-compare/daily cannot be served")
    served = stack.served.wait_for(["cost-compare/daily"])[0]
    (schedule,) = served["schedules"]
    assert schedule["schedule"]["cron"] == "0 6 * * *"
    assert schedule["schedule"]["timezone"] == "UTC"


def test_cost_compare_daily_runs_on_the_sample_data(stack: Stack) -> None:
    stack.served.wait_for(["cost-compare/daily"])
    result, run = stack.run_deployment("cost-compare/daily")
    assert result.returncode == 0, result.stdout + result.stderr
    assert run["state"]["type"] == "COMPLETED"
    keys = {a["key"] for a in stack.artifacts(run["id"])}
    assert keys and None not in keys, keys


def test_replicate_by_block_names_reaches_every_target(stack: Stack) -> None:
    make_buckets()
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    files = write_source(stack, prefix)
    targets = [stack.target(cloud, prefix) for cloud in CLOUDS]

    result, run = stack.run_deployment(
        "replicate/by-hand", {"source": f"block:specify-local/{prefix}", "targets": targets}
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert run["state"]["type"] == "COMPLETED"
    artifacts = {a["key"]: a for a in stack.artifacts(run["id"])}
    assert {"replicate-report", "replicate-summary"} <= set(artifacts)
    for cloud in CLOUDS:
        got = objects_in(cloud, prefix)
        assert {k: _sha(v) for k, v in got.items()} == {k: _sha(v) for k, v in files.items()}, cloud
    table = artifacts["replicate-report"]["data"]
    assert all(str(len(files)) in str(row) for row in _rows(table)), table


def test_replicate_with_a_target_down_fails_naming_the_provider(stack: Stack) -> None:
    # moto is the one taken down: botocore is set to one attempt, so the run fails in
    # seconds. (azure-storage-blob backs off 15 s, 18 s, 24 s... against a stopped
    # Azurite: about 80 s per listing, times Prefect's task retries.)
    make_buckets()
    prefix = f"down-{uuid.uuid4().hex[:8]}"
    write_source(stack, prefix)
    targets = [stack.target(cloud, prefix) for cloud in CLOUDS]
    stack.emulators.stop_one("moto")
    try:
        result, run = stack.run_deployment(
            "replicate/by-hand",
            {"source": f"block:specify-local/{prefix}", "targets": targets},
        )
    finally:
        stack.emulators.start_one("moto")  # a fresh moto: later tests recreate the bucket

    assert result.returncode == 1, result.stdout + result.stderr
    assert run["state"]["type"] == "FAILED"
    message = run["state"]["message"] or ""
    assert targets[0] in message and "aws" in message, message
    assert targets[1] not in message and targets[2] not in message, message
    # a stopped server may answer next time: the shard (which writes every target) was
    # retried, visible in Prefect; the target's own task fails, tagged with its cloud
    body = {"flow_runs": {"id": {"any_": [run["id"]]}}}
    tasks = {t["name"]: t for t in stack.server.api("POST", "/task_runs/filter", body)}
    shard = tasks["shard 1/1 [..)"]
    assert shard["state"]["type"] == "FAILED" and shard["run_count"] == 3, shard
    down = next(t for name, t in tasks.items() if name.startswith("replicate to s3://"))
    assert down["state"]["type"] == "FAILED" and "aws" in down["tags"], down
    # the targets that were up still got everything
    assert len(objects_in("gcp", prefix)) == 3
    assert len(objects_in("azure", prefix)) == 3


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rows(table: Any) -> list[Any]:
    import json

    data = json.loads(table) if isinstance(table, str) else table
    return list(data) if isinstance(data, list) else list(data.get("data", []))
