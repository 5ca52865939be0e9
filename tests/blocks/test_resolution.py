"""How `block:NAME` resolves (docs/prefect.md, "Block names"): by the saved block's real
type, ambiguous names refused naming the types, `block:TYPE:NAME` to choose, and the
prefect-aws/gcp/azure blocks read as locations and as nested credentials."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from providers.errors import ConfigurationError

pytestmark = pytest.mark.emulators


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _moto_credentials() -> object:
    from prefect_aws import AwsCredentials
    from prefect_aws.client_parameters import AwsClientParameters

    return AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=os.environ["AWS_ENDPOINT_URL"]),
    )


def test_the_saved_type_decides_and_a_shared_name_is_refused(
    prefect_harness: None, tmp_path: Path
) -> None:
    from blocks import SpecifyAWS, SpecifyLocal, open_location, resolve_location

    name = unique("specify-aws")
    SpecifyLocal(root=str(tmp_path), bucket="disk").save(name)
    # alone, the name is the local block it was saved as (its uri says so)
    assert resolve_location(f"block:{name}/p").uri == (tmp_path / "storage" / "disk" / "p").as_uri()

    SpecifyAWS(bucket="some-bucket", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).save(name)
    with pytest.raises(ConfigurationError) as err:
        open_location(f"block:{name}/p")
    message = str(err.value)
    assert "ambiguous" in message and "specify-local" in message and "specify-aws" in message
    assert f"block:specify-aws:{name}" in message  # the fix, spelled out

    # naming the type chooses one
    assert resolve_location(f"block:specify-aws:{name}/p").uri == "s3://some-bucket/p"
    assert resolve_location(f"block:specify-local:{name}/p").uri.startswith("file://")


def test_unknown_names_and_types_list_the_supported_types(prefect_harness: None) -> None:
    from blocks import open_location

    with pytest.raises(ConfigurationError) as err:
        open_location("block:no-such-block/x")
    assert "no-such-block" in str(err.value)
    for slug in ("specify-local", "s3-bucket", "gcs-bucket", "azure-blob-storage-container"):
        assert slug in str(err.value)
    with pytest.raises(ConfigurationError, match="'ftp-server' is not a supported block type"):
        open_location("block:ftp-server:x/y")


def test_a_credentials_block_takes_the_bucket_from_the_path(prefect_harness: None) -> None:
    from prefect_aws import AwsCredentials

    from blocks import open_location, resolve_location
    from providers.aws import AWSProvider

    bucket = unique("creds-bucket")
    AWSProvider().get_storage(bucket).create_bucket()
    name = unique("moto-creds")
    creds = _moto_credentials()
    assert isinstance(creds, AwsCredentials)
    creds.save(name)

    resolved = resolve_location(f"block:{name}/{bucket}/in/here")
    assert resolved.uri == f"s3://{bucket}/in/here"
    with pytest.raises(ConfigurationError, match=f"block:{name}/BUCKET/prefix"):
        open_location(f"block:{name}")


def test_bucket_blocks_of_each_cloud_open_their_folder(
    prefect_harness: None, tmp_path: Path, sa_info: dict[str, Any]
) -> None:
    from prefect_aws import S3Bucket
    from prefect_azure import AzureBlobStorageContainer, AzureBlobStorageCredentials
    from prefect_gcp import GcpCredentials, GcsBucket

    from blocks import open_location
    from providers.aws import AWSProvider
    from providers.azure import AzureProvider
    from providers.gcp import GCPProvider

    bucket = unique("folder-bucket")
    AWSProvider().get_storage(bucket).create_bucket()
    GCPProvider().get_storage(bucket).create_bucket()  # type: ignore[attr-defined]
    AzureProvider().blob_storage(bucket).ensure_container()
    names = {cloud: unique(f"{cloud}-bucket-block") for cloud in ("s3", "gcs", "az")}
    S3Bucket(bucket_name=bucket, credentials=_moto_credentials(), bucket_folder="base").save(
        names["s3"]
    )
    GcsBucket(
        bucket=bucket,
        # prefect-gcp reads credentials when the block is made: a (made-up) key
        gcp_credentials=GcpCredentials(service_account_info=sa_info, project="test-project"),
        bucket_folder="base",
    ).save(names["gcs"])
    AzureBlobStorageContainer(
        container_name=bucket,
        credentials=AzureBlobStorageCredentials(
            connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        ),
        base_folder="base",
    ).save(names["az"])

    src = tmp_path / "f.txt"
    src.write_text("through a prefect-* block")
    for scheme, name in names.items():
        storage, prefix = open_location(f"block:{name}/in")
        assert prefix == "base/in"
        storage.upload(src, f"{prefix}/f.txt")
        assert storage.uri(prefix).startswith(f"{scheme if scheme != 'gcs' else 'gs'}://")

    # read back through each cloud's own SDK, not through the block
    import boto3
    from azure.storage.blob import BlobServiceClient
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    got = s3.get_object(Bucket=bucket, Key="base/in/f.txt")["Body"].read()
    assert got == b"through a prefect-* block"
    client = gcs.Client(project="test-project", credentials=AnonymousCredentials())
    assert client.bucket(bucket).blob("base/in/f.txt").download_as_bytes() == got
    service = BlobServiceClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    )
    blob = service.get_blob_client(bucket, "base/in/f.txt")
    assert blob.download_blob().readall() == got


def test_prefect_blocks_nest_in_the_specify_blocks_as_credentials(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch, sa_info: dict[str, Any]
) -> None:
    from prefect_aws import AwsCredentials
    from prefect_azure import AzureBlobStorageCredentials

    from blocks import SpecifyAWS, SpecifyAzure, load_provider_block

    creds_name = unique("nested-creds")
    creds = _moto_credentials()
    assert isinstance(creds, AwsCredentials)
    creds.save(creds_name)
    name = unique("specify-nested")
    SpecifyAWS(credentials=AwsCredentials.load(creds_name), bucket="nested-bucket").save(name)
    azure_name = unique("specify-nested-az")
    SpecifyAzure(
        credentials=AzureBlobStorageCredentials(
            connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        ),
        container="nested-container",
    ).save(azure_name)

    from prefect_gcp import GcpCredentials

    from blocks import SpecifyGCP

    gcp_name = unique("specify-nested-gcp")
    SpecifyGCP(
        gcp_credentials=GcpCredentials(service_account_info=sa_info, project="nested-project"),
        bucket="nested-bucket",
    ).save(gcp_name)
    gcp = load_provider_block(gcp_name).provider()
    assert gcp.project == "nested-project"  # type: ignore[attr-defined]
    assert gcp.credentials_source() == "service account info"  # type: ignore[attr-defined]
    assert sa_info["private_key"] not in repr(load_provider_block(gcp_name))

    # nothing in the environment: the nested blocks carry everything
    for var in [v for v in os.environ if v.startswith(("AWS_", "AZURE_"))]:
        monkeypatch.delenv(var)
    aws = load_provider_block(name).provider()
    assert aws.settings.credentials.aws_access_key_id == "testing"  # type: ignore[attr-defined]
    storage = aws.get_storage()
    assert storage.create_bucket() in (True, False)  # type: ignore[attr-defined]
    assert list(storage.list_objects()) == []
    container = load_provider_block(azure_name).provider().get_storage()
    assert container.ensure_container() in (True, False)  # type: ignore[attr-defined]
    assert list(container.list_objects()) == []
