"""One settings shape per cloud: from_env reads the cloud's own variables (from a mapping
as well as os.environ), overrides win, credentials come as one, and providers and blocks
build from the same value."""

from __future__ import annotations

import dataclasses

import pytest

from providers.aws import AWSProvider
from providers.aws.settings import AWSCredentials, AWSSettings
from providers.azure import AzureProvider
from providers.azure.settings import AzureSettings
from providers.errors import ConfigurationError
from providers.gcp import GCPProvider
from providers.gcp.settings import GCPSettings


def test_settings_are_frozen() -> None:
    for settings in (AWSSettings(), GCPSettings(), AzureSettings()):
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.bucket = "other"  # type: ignore[misc]


def test_aws_from_env_reads_the_cli_variables() -> None:
    env = {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-central-1",  # wins, as in the AWS CLI
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
    }
    s = AWSSettings.from_env(env, bucket="b")
    assert (s.region, s.endpoint_url, s.bucket) == ("eu-central-1", "http://127.0.0.1:9", "b")
    assert s.credentials.aws_access_key_id == "AKIAENV"
    assert "env-secret" not in repr(s)
    assert AWSSettings.from_env(env, region="ap-south-1").region == "ap-south-1"
    assert AWSSettings.from_env(env, region="").region == "eu-central-1"  # empty = unset


def test_aws_credentials_come_as_one() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"}
    s = AWSSettings.from_env(env, credentials=AWSCredentials(profile_name="prod"))
    # keys in the worker's environment do not overrule the profile a block names
    assert s.credentials == AWSCredentials(profile_name="prod")
    # empty credentials are no credentials: the environment's are used
    assert AWSSettings.from_env(env, credentials=AWSCredentials()).credentials.aws_access_key_id


def test_aws_per_service_endpoints_stay_with_botocore() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:8"}
    assert AWSSettings.from_env(env).endpoint_url is None
    ignore = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    }
    assert AWSSettings.from_env(ignore).endpoint_url is None


def test_gcp_from_env_emulator_and_project() -> None:
    env = {"STORAGE_EMULATOR_HOST": "127.0.0.1:9023", "GOOGLE_CLOUD_PROJECT": "p1"}
    s = GCPSettings.from_env(env)
    assert (s.project, s.storage_endpoint, s.storage_emulator) == (
        "p1",
        "http://127.0.0.1:9023",
        True,
    )
    explicit = GCPSettings.from_env(env, storage_endpoint="https://storage.example.internal")
    assert (explicit.storage_url, explicit.storage_emulator) == (
        "https://storage.example.internal",
        False,
    )
    with pytest.raises(ConfigurationError, match="storage_endpoint"):
        GCPSettings(storage_emulator=True)
    with pytest.raises(ConfigurationError, match="unknown service"):
        GCPSettings(endpoints={"storag": "http://x"})


def test_azure_credentials_come_as_one() -> None:
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
        "AZURE_CLIENT_SECRET": "env-secret",
        "AZURE_SUBSCRIPTION_ID": "sub-env",
    }
    s = AzureSettings.from_env(env, account_url="https://acct.blob.core.windows.net")
    assert s.connection_string is None and s.client_secret is None
    assert s.subscription_id == "sub-env"  # not a credential: still from the environment
    assert AzureSettings.from_env(env).connection_string == "UseDevelopmentStorage=true"


def test_unknown_settings_are_refused_naming_them() -> None:
    with pytest.raises(ConfigurationError, match="regoin"):
        AWSProvider(regoin="us-east-1")
    with pytest.raises(ConfigurationError, match="buckt"):
        GCPProvider("p", buckt="b")
    with pytest.raises(ConfigurationError, match="contianer"):
        AzureProvider(contianer="c")


def test_providers_take_the_settings_value() -> None:
    aws = AWSProvider(AWSSettings(region="eu-north-1", bucket="b1"), bucket="b2")
    assert (aws.region, aws.bucket, aws.settings.bucket) == ("eu-north-1", "b2", "b2")
    gcp = GCPProvider(GCPSettings(project="p", bucket="b", zone="europe-west4-a"))
    assert (gcp.project, gcp.bucket, gcp.zone) == ("p", "b", "europe-west4-a")
    azure = AzureProvider(AzureSettings(container="c", region="westeurope"))
    assert azure.settings.container == "c"


def test_blocks_build_the_same_settings_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from blocks import SpecifyAWS, SpecifyAzure, SpecifyGCP

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    aws = SpecifyAWS(region_name="us-west-2", bucket="b", endpoint_url="http://127.0.0.1:9")
    assert isinstance(aws.settings(), AWSSettings)
    assert aws.provider().settings == aws.settings()
    gcp = SpecifyGCP(project="p", storage_endpoint="http://127.0.0.1:9023", storage_emulator=True)
    assert gcp.settings() == GCPSettings.from_env(
        project="p", storage_endpoint="http://127.0.0.1:9023", storage_emulator=True
    )
    assert gcp.provider().storage_emulator is True
    azure = SpecifyAzure(container="c")
    assert isinstance(azure.settings(), AzureSettings)
