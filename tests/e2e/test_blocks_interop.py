"""Blocks end to end on a real Prefect server and the three emulators:

- the trial as documented: `blocks init --emulators`, `mb` and `replicate` through the
  saved blocks alone (no cloud variable in the command's environment);
- the prefect-aws, prefect-gcp and prefect-azure bucket blocks as locations, from the
  command line and in the `replicate` flow, and a saved prefect-aws credentials block
  nested in a Specify block;
- the catalog: the concrete block types with logos and documentation, no abstract base.

Every copy is read back with the cloud's own SDK and compared with the source bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulators import Emulators
from tests.prefect_server import REPO_ROOT, TestServer

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]

FILES = {"a.txt": b"alpha\n", "dir/b.bin": bytes(range(256)) * 40}
CLOUD_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_")


def _bare_env(server: TestServer, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """The server's client environment without any cloud variable (except keep)."""
    env = server.env(SPECIFY_RETRY_ATTEMPTS="1", SPECIFY_RETRY_WAIT="0.1")
    for var in list(env):
        cloud = var.startswith(CLOUD_PREFIXES) or var == "STORAGE_EMULATOR_HOST"
        if cloud and var not in keep:
            del env[var]
    return env


def specify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commands.main", "cloud", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def read_back(cloud: str, bucket: str, prefix: str) -> dict[str, bytes]:
    """Key (relative to prefix) -> bytes, listed and read with the cloud's own SDK."""
    out: dict[str, bytes] = {}
    start = len(prefix) + 1
    if cloud == "aws":
        import boto3

        s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", []):
            out[obj["Key"][start:]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    elif cloud == "gcp":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        gcs = storage.Client(
            project=os.environ["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
        )
        for blob in gcs.list_blobs(bucket, prefix=prefix + "/"):
            out[blob.name[start:]] = blob.download_as_bytes()
    else:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        )
        container = service.get_container_client(bucket)
        for item in container.list_blobs(name_starts_with=prefix + "/"):
            out[item.name[start:]] = container.download_blob(item.name).readall()
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interop-src")
    for key, data in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def server(prefect_test_server: TestServer, emulators: Emulators) -> Iterator[TestServer]:
    registered = prefect_test_server.prefect("block", "register", "-m", "blocks")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    yield prefect_test_server


def _types(server: TestServer) -> dict[str, dict[str, Any]]:
    return {t["slug"]: t for t in server.api("POST", "/block_types/filter", {})}


def test_the_catalog_shows_the_concrete_blocks_with_logos_and_docs(server: TestServer) -> None:
    types = _types(server)
    for slug in ("specify-local", "specify-aws", "specify-gcp", "specify-azure"):
        assert types[slug]["logo_url"].startswith("https://"), slug
        assert types[slug]["documentation_url"].startswith("https://"), slug
        assert types[slug]["code_example"] and ".load(" in types[slug]["code_example"]
    # the abstract base is not a type anyone can create: exactly the four concrete blocks
    # carry the capability it declares
    body = {"block_schemas": {"block_capabilities": {"all_": ["build-provider"]}}}
    schemas = server.api("POST", "/block_schemas/filter", body)
    by_id = {t["id"]: slug for slug, t in types.items()}
    assert {by_id[s["block_type_id"]] for s in schemas} == {
        "specify-local",
        "specify-aws",
        "specify-gcp",
        "specify-azure",
    }
    # the prefect-* credentials nested in the Specify blocks were registered with them
    assert {"aws-credentials", "gcp-credentials", "azure-blob-storage-credentials"} <= set(types)


def test_the_emulator_trial_works_through_the_blocks_alone(
    server: TestServer, emulators: Emulators, source: Path, tmp_path: Path
) -> None:
    prefix = f"trial{uuid.uuid4().hex[:6]}"
    bucket = f"{prefix}-bucket"
    init = specify(
        server.env(),
        *("blocks", "init", "--emulators", str(emulators.state_dir), "--json"),
        *("--name-prefix", prefix, "--bucket", bucket, "--local-root", str(tmp_path)),
    )
    assert init.returncode == 0, init.stdout + init.stderr
    rows = {r["cloud"]: r for r in json.loads(init.stdout)}
    assert all(rows[c]["created"] for c in ("aws", "gcp", "azure", "local")), rows

    env = _bare_env(server)  # from here on only the saved blocks say where the clouds are
    for cloud in ("aws", "gcp", "azure"):
        made = specify(env, "mb", f"block:{prefix}-{cloud}", "--json")
        assert made.returncode == 0, made.stdout + made.stderr
        assert json.loads(made.stdout)["created"] is True
    made = specify(env, "mb", f"block:{prefix}-local")
    assert made.returncode == 0 and (tmp_path / "storage" / bucket).is_dir()
    again = specify(env, "mb", f"block:{prefix}-aws", "--json")
    assert json.loads(again.stdout)["created"] is False

    targets = ",".join(f"block:{prefix}-{c}/copy" for c in ("aws", "gcp", "azure", "local"))
    run = specify(env, "replicate", str(source), "--to", targets, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    for cloud in ("aws", "gcp", "azure"):
        assert read_back(cloud, bucket, "copy") == FILES, cloud
    local = tmp_path / "storage" / bucket / "copy"
    assert {k: (local / k).read_bytes() for k in FILES} == FILES


def test_a_bad_location_is_exit_2_and_writes_nothing(server: TestServer, source: Path) -> None:
    env = _bare_env(server)
    bad = specify(env, "mb", "s3://X")
    assert bad.returncode == 2 and "LOCATION" in bad.stderr
    out = specify(env, "replicate", str(source), "--to", f"{source}-out,gs://Bad_Name")
    assert out.returncode == 2 and "--to" in out.stderr
    assert not Path(f"{source}-out").exists()  # the good target was not started


def _save_prefect_blocks(
    server: TestServer, bucket: str, names: dict[str, str], key: dict[str, Any]
) -> None:
    """S3Bucket, GcsBucket and AzureBlobStorageContainer pointing at the emulators,
    saved by a client process (as a user's script would)."""
    script = f"""
import os, json
from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters
from prefect_gcp import GcpCredentials, GcsBucket
from prefect_azure import AzureBlobStorageContainer, AzureBlobStorageCredentials
key = json.loads(os.environ["SPECIFY_TEST_SA_KEY"])  # made up by the test fixture
names = json.loads({json.dumps(json.dumps(names))})
creds = AwsCredentials(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1",
    aws_client_parameters=AwsClientParameters(endpoint_url=os.environ["AWS_ENDPOINT_URL"]),
)
creds.save(names["aws-creds"], overwrite=True)
S3Bucket(bucket_name="{bucket}", credentials=creds, bucket_folder="s3base").save(
    names["s3"], overwrite=True)
GcsBucket(bucket="{bucket}", bucket_folder="gcsbase",
    gcp_credentials=GcpCredentials(service_account_info=key, project="test-project"),
).save(names["gcs"], overwrite=True)
AzureBlobStorageContainer(container_name="{bucket}", base_folder="azbase",
    credentials=AzureBlobStorageCredentials(
        connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"]),
).save(names["az"], overwrite=True)
"""
    env = server.env(SPECIFY_TEST_SA_KEY=json.dumps(key))
    saved = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert saved.returncode == 0, saved.stdout + saved.stderr


@pytest.fixture(scope="module")
def prefect_blocks(server: TestServer, sa_info: dict[str, Any]) -> tuple[str, dict[str, str]]:
    bucket = f"interop-{uuid.uuid4().hex[:8]}"
    names = {k: f"{k}-{uuid.uuid4().hex[:6]}" for k in ("aws-creds", "s3", "gcs", "az")}
    _save_prefect_blocks(server, bucket, names, sa_info)
    env = server.env()
    for key in ("s3", "gcs", "az"):
        made = specify(env, "mb", f"block:{names[key]}")
        assert made.returncode == 0, made.stdout + made.stderr
    return bucket, names


def test_prefect_bucket_blocks_are_locations(
    server: TestServer, source: Path, prefect_blocks: tuple[str, dict[str, str]]
) -> None:
    bucket, names = prefect_blocks
    # GcpCredentials has no endpoint: Google's own STORAGE_EMULATOR_HOST points it at
    # the emulator, as it would for prefect-gcp itself; the others carry their endpoint
    env = _bare_env(server, keep=("STORAGE_EMULATOR_HOST",))
    targets = ",".join(f"block:{names[k]}/cli" for k in ("s3", "gcs", "az"))
    run = specify(env, "replicate", str(source), "--to", targets, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert read_back("aws", bucket, "s3base/cli") == FILES
    assert read_back("gcp", bucket, "gcsbase/cli") == FILES
    assert read_back("azure", bucket, "azbase/cli") == FILES

    # a credentials block takes the bucket from the path
    verify = specify(
        env, "verify", str(source), "--to", f"block:{names['aws-creds']}/{bucket}/s3base/cli"
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_prefect_bucket_blocks_in_the_replicate_flow(
    server: TestServer, source: Path, prefect_blocks: tuple[str, dict[str, str]]
) -> None:
    bucket, names = prefect_blocks
    env = _bare_env(server, keep=("STORAGE_EMULATOR_HOST",))
    targets = ",".join(f"block:{names[k]}/flow" for k in ("s3", "gcs", "az"))
    run = specify(env, "replicate", str(source), "--to", targets, "--prefect", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    body = {
        "flows": {"name": {"any_": ["replicate"]}},
        "sort": "START_TIME_DESC",
        "limit": 1,
    }
    (latest,) = server.api("POST", "/flow_runs/filter", body)
    assert latest["state"]["type"] == "COMPLETED"
    digest = {k: hashlib.sha256(v).hexdigest() for k, v in FILES.items()}
    for cloud, base in (("aws", "s3base"), ("gcp", "gcsbase"), ("azure", "azbase")):
        got = read_back(cloud, bucket, f"{base}/flow")
        assert {k: hashlib.sha256(v).hexdigest() for k, v in got.items()} == digest


def test_a_saved_prefect_credentials_block_nests_in_a_specify_block(
    server: TestServer, source: Path, prefect_blocks: tuple[str, dict[str, str]]
) -> None:
    bucket, names = prefect_blocks
    name = f"nested-{uuid.uuid4().hex[:6]}"
    script = (
        "from prefect_aws import AwsCredentials\n"
        "from blocks import SpecifyAWS\n"
        f"SpecifyAWS(credentials=AwsCredentials.load({names['aws-creds']!r}),"
        f" bucket={bucket!r}).save({name!r})\n"
    )
    saved = subprocess.run(
        [sys.executable, "-c", script],
        env=server.env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert saved.returncode == 0, saved.stdout + saved.stderr
    # the Specify block refers to the saved credentials block, it does not copy it
    docs = server.api("POST", "/block_documents/filter", {})
    nested = next(d for d in docs if d["name"] == name)
    assert (
        nested["block_document_references"]["credentials"]["block_document"]["name"]
        == (names["aws-creds"])
    )
    run = specify(_bare_env(server), "replicate", str(source), "--to", f"block:{name}/nested")
    assert run.returncode == 0, run.stdout + run.stderr
    assert read_back("aws", bucket, "nested") == FILES
