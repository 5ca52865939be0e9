"""`specify cloud mb LOCATION` makes the bucket or container on each of the four stores
(checked with the cloud's own SDK), keeps an existing one, and refuses bad input with
exit 2 before touching any cloud."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commands.main import app

pytestmark = pytest.mark.emulators


def mb(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["cloud", "mb", *args])
    return result.exit_code, result.output


def exists(scheme: str, name: str) -> bool:
    """Whether the bucket exists, asked of the cloud's own SDK."""
    if scheme == "s3":
        import boto3

        s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        return name in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    if scheme == "gs":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(
            project=os.environ["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
        )
        return client.lookup_bucket(name) is not None
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    )
    return service.get_container_client(name).exists()


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_mb_makes_the_bucket_once(scheme: str) -> None:
    name = f"mb-{uuid.uuid4().hex[:10]}"
    assert not exists(scheme, name)
    code, out = mb(f"{scheme}://{name}", "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "location": f"{scheme}://{name}",
        "bucket": f"{scheme}://{name}",
        "created": True,
    }
    assert exists(scheme, name)
    code, out = mb(f"{scheme}://{name}")
    assert code == 0 and "already exists" in out


def test_mb_makes_a_local_directory(tmp_path: Path) -> None:
    target = tmp_path / "new" / "bucket"
    code, out = mb(str(target), "--json")
    assert code == 0, out
    assert target.is_dir() and json.loads(out)["created"] is True
    code, out = mb(str(target))
    assert code == 0 and "already exists" in out


@pytest.mark.parametrize(
    "location, why",
    [
        ("s3://A_B", "not a valid bucket name"),
        ("ftp://host/x", "unknown scheme"),
        ("s3://mb-has-a/prefix", "has a prefix"),
        ("block:Bad_Name", "block name"),
    ],
)
def test_bad_locations_exit_2_naming_the_argument(location: str, why: str) -> None:
    code, out = mb(location)
    assert code == 2
    assert "LOCATION" in out and why in out
    assert not exists("s3", "mb-has-a")
