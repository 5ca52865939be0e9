"""providers/native/s3_account.py: every field the lean requests use is the one of the
boto3 S3 client the provider builds from the same settings and environment; where it
cannot be read exactly so, None (the store then builds its boto3 client)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from providers.aws.provider import AWSProvider
from providers.aws.settings import AWSCredentials, AWSSettings
from providers.native.s3_account import S3Account

KEYS = AWSCredentials(
    aws_access_key_id="AKIDLEAN", aws_secret_access_key="s3cr3t/+=", aws_session_token="tok+/="
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("SPECIFY_DATA_PLANE",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    yield


def both(settings: AWSSettings) -> tuple[S3Account | None, Any]:
    provider = AWSProvider(settings)
    return provider._lean_s3_account(), provider.client("s3")


def assert_same(account: S3Account | None, client: Any, bucket: str = "my-bucket") -> None:
    assert account is not None
    meta = client.meta
    assert account.region == meta.region_name
    frozen = client._request_signer._credentials.get_frozen_credentials()
    ours = account.credentials
    assert (ours.access_key, ours.secret_key, ours.token) == (
        frozen.access_key,
        frozen.secret_key,
        frozen.token,
    )
    assert account.verify == client._endpoint.http_session._verify
    assert account.connect_timeout == meta.config.connect_timeout
    assert account.read_timeout == meta.config.read_timeout
    style = (meta.config.s3 or {}).get("addressing_style")
    assert account.path_style == (style == "path")
    # where boto3 sends a GetObject: the request as it is about to go out (botocore's
    # before-send event; raising there sends nothing)
    key = "a b/ü+=~%.bin"
    seen: list[Any] = []

    def stop(request: Any, **_: Any) -> None:
        seen.append(request)
        raise _Stop

    client.meta.events.register("before-send.s3.GetObject", stop)
    with pytest.raises(_Stop):
        client.get_object(Bucket=bucket, Key=key)
    (request,) = seen
    url = urlsplit(request.url)
    target = account.target(bucket)
    assert target is not None
    assert f"{url.scheme}://{url.netloc}" == target.origin
    assert url.netloc == target.host
    assert url.path == quote(f"{target.prefix}/{key}", safe="/-_.~")
    signed = request.headers["Authorization"].decode()
    scope = signed.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    assert (scope[0], scope[2], scope[3]) == (frozen.access_key, account.region, "s3")


class _Stop(Exception):
    pass


def test_a_custom_endpoint_with_given_keys() -> None:
    account, client = both(
        AWSSettings(region="eu-west-1", endpoint_url="http://127.0.0.1:9000", credentials=KEYS)
    )
    assert_same(account, client)
    assert account is not None and account.path_style


def test_a_custom_endpoint_with_a_base_path_and_https() -> None:
    settings = AWSSettings(
        region="us-west-2", endpoint_url="https://minio.example:9443/s3/", credentials=KEYS
    )
    assert_same(*both(settings))


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "ap-southeast-2"])
def test_aws_itself_virtual_hosted(region: str) -> None:
    account, client = both(AWSSettings(region=region, credentials=KEYS))
    assert_same(account, client)
    assert account is not None and not account.path_style


def test_keys_region_and_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9001")
    assert_same(*both(AWSSettings.from_env()))


def test_the_per_service_endpoint_wins_as_in_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9001")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9002")
    account, client = both(AWSSettings.from_env())
    assert_same(account, client)
    assert account is not None and account.endpoint == "http://127.0.0.1:9002"


def test_no_region_given_is_the_providers_default() -> None:
    assert_same(*both(AWSSettings(endpoint_url="http://127.0.0.1:9000", credentials=KEYS)))


def test_the_ca_bundle_of_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not read here")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    account, client = both(AWSSettings(region="eu-west-1", credentials=KEYS))
    assert_same(account, client)
    assert account is not None and account.verify == str(bundle)


def test_a_harmless_config_file_keeps_the_lean_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-south-1\noutput = json\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert_same(*both(AWSSettings(region="eu-west-1", credentials=KEYS)))


@pytest.mark.parametrize(
    "config",
    [
        "[default]\ns3 =\n    addressing_style = path\n",
        "[default]\nendpoint_url = http://127.0.0.1:1\n",
        "[default]\nca_bundle = /etc/ssl/x.pem\n",
        "[default]\nuse_fips_endpoint = true\n",
    ],
)
def test_a_config_file_that_changes_requests_keeps_boto3(
    config: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "config"
    path.write_text(config)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    assert AWSProvider(AWSSettings(region="eu-west-1", credentials=KEYS))._lean_s3_account() is None


@pytest.mark.parametrize(
    ("creds", "env"),
    [
        (AWSCredentials(profile_name="dev"), {}),
        (AWSCredentials(aws_access_key_id="A", aws_secret_access_key="B", profile_name="p"), {}),
        (AWSCredentials(aws_access_key_id="A", assume_role_arn="arn:aws:iam::1:role/r"), {}),
        (AWSCredentials(), {}),  # the chain: SSO, web identity, instance metadata ...
        (AWSCredentials(aws_access_key_id="A"), {}),  # partial
        (KEYS, {"AWS_PROFILE": "other"}),
        (KEYS, {"AWS_USE_FIPS_ENDPOINT": "true"}),
        (KEYS, {"AWS_USE_DUALSTACK_ENDPOINT": "true"}),
        (KEYS, {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}),
        (KEYS, {"SPECIFY_DATA_PLANE": "sdk"}),
    ],
)
def test_what_is_not_read_exactly_keeps_boto3(
    creds: AWSCredentials, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provider = AWSProvider(AWSSettings(region="eu-west-1", credentials=creds))
    assert provider._lean_s3_account() is None


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1", "not a region"])
def test_other_partitions_keep_boto3(region: str) -> None:
    assert S3Account.resolve(KEYS, region, None) is None


def test_a_dotted_bucket_on_aws_keeps_boto3() -> None:
    account = S3Account.resolve(KEYS, "eu-west-1", None)
    assert account is not None
    assert account.target("my.dotted.bucket") is None
    assert account.target("Upper") is None


def test_the_store_builds_no_client_until_needed() -> None:
    provider = AWSProvider(
        AWSSettings(region="eu-west-1", endpoint_url="http://127.0.0.1:9", credentials=KEYS)
    )
    store = provider.get_storage("my-bucket")
    assert store._client is None and store.lean_account is not None
    assert "s3cr3t" not in repr(store.lean_account) and "tok+" not in repr(store.lean_account)
    assert store.client is provider.client("s3")  # built on first use, the provider's own
