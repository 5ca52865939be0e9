"""What the lean S3 requests need to know of an AWS account, without boto3.

Importing boto3 and building an S3 client costs about 0.5 s of CPU, more than a
replication of a few hundred objects spends on their bytes. Where the answer is EXACTLY
what botocore would resolve from the same settings (providers/aws/settings.py: the
block's or the environment's), it is read here: static keys (given, or AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, which botocore's chain takes before anything
else), the region the provider hands its clients, the endpoint (the settings' one, else
AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, as botocore orders them) and the addressing
style providers/aws/adapter.py `client_config` chooses (path-style for a custom
endpoint; virtual-hosted on AWS), the CA bundle (AWS_CA_BUNDLE,
then REQUESTS_CA_BUNDLE, as botocore's endpoint reads them, else botocore's default,
certifi) and botocore's default timeouts (60 s). Proxies: the *_PROXY environment, as
botocore reads it (providers/native/http.py `pool_for`).

Anything it does not resolve exactly the same way gives None, and the store builds its
boto3 client as before: a profile (AWS_PROFILE, the block's profile_name), an assumed
role, no static keys (SSO, web identity, container and instance credentials), a config
file whose active profile sets more than region/output/keys (endpoint_url, ca_bundle,
s3 addressing, FIPS, dual-stack...), the environment's FIPS / dual-stack / regional-
endpoint switches, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, a partition other than `aws`, a
bucket name that is not a plain DNS label on AWS. tests/native/test_s3_account.py
compares every field with the boto3 client built from the same settings.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from providers.native.sigv4 import Credentials

#: botocore's defaults (botocore.config.Config: connect_timeout, read_timeout)
CONNECT_TIMEOUT = 60.0
READ_TIMEOUT = 60.0
#: the config file keys that change nothing the lean requests do (the region is given
#: to every client explicitly, the keys are given explicitly)
_HARMLESS_CONFIG = frozenset(
    {"region", "output", "aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
)
#: environment switches that change which endpoint botocore picks on AWS
_ENDPOINT_SWITCHES = (
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
    "AWS_S3_USE_ARN_REGION",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
_REGION = re.compile(r"^[a-z]{2}-[a-z]+-[0-9]+$")
_OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-iso")
#: a bucket name botocore addresses virtual-hosted on AWS as it stands (no dots, no
#: upper case: those go path-style or are refused there)
_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Target:
    """Where one bucket's requests go: the origin, the Host header, the raw path prefix."""

    origin: str  # scheme://host[:port]
    host: str  # the Host header (no default port)
    prefix: str  # '' (virtual-hosted) or '/bucket' (path-style), after the base path


@dataclass(frozen=True)
class S3Account:
    """One account's S3 endpoint, region and static keys (the secret never in repr)."""

    region: str
    credentials: Credentials = field(repr=False)
    #: scheme://host[:port][/base]: a custom endpoint (path-style); None: AWS itself
    endpoint: str | None = None
    verify: bool | str = True
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT

    @property
    def path_style(self) -> bool:
        return self.endpoint is not None

    def target(self, bucket: str) -> S3Target | None:
        """Where the bucket's requests go, as botocore addresses them (None: a bucket
        name botocore would address some other way: the SDK then)."""
        if self.endpoint is not None:
            url = urlsplit(self.endpoint)
            base = url.path.rstrip("/")
            return S3Target(f"{url.scheme}://{url.netloc}", _host(url), f"{base}/{bucket}")
        if not _DNS_BUCKET.match(bucket):
            return None
        suffix = "s3.amazonaws.com" if self.region == "us-east-1" else (
            f"s3.{self.region}.amazonaws.com"
        )  # fmt: skip
        host = f"{bucket}.{suffix}"
        return S3Target(f"https://{host}", host, "")

    @classmethod
    def resolve(
        cls,
        credentials: Any,
        region: str,
        endpoint_url: str | None,
        env: Mapping[str, str] | None = None,
    ) -> S3Account | None:
        """The account a boto3 S3 client built from these settings (credentials: an
        providers.aws.settings.AWSCredentials) reaches, when it is
        read here exactly as botocore reads it; else None (see the module's list).

        region: the one the provider hands its clients (AWSProvider.region)."""
        e = os.environ if env is None else env
        if credentials is None or credentials.profile_name or credentials.assume_role_arn:
            return None
        key, secret = credentials.aws_access_key_id, credentials.aws_secret_access_key
        if not (key and secret):
            return None
        if e.get("AWS_PROFILE") or e.get("AWS_DEFAULT_PROFILE"):
            return None  # botocore reads the profile's config for the client
        if any((e.get(name) or "").strip() for name in _ENDPOINT_SWITCHES):
            return None
        if not _plain_config(e):
            return None
        if any(
            name in e and not e[name].strip() for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
        ):
            return None  # botocore refuses an empty bundle with its own message
        if not region or not _REGION.match(region) or region.startswith(_OTHER_PARTITIONS):
            return None
        endpoint = endpoint_url or e.get("AWS_ENDPOINT_URL_S3") or e.get("AWS_ENDPOINT_URL")
        if endpoint:
            url = urlsplit(endpoint)
            if url.scheme not in ("http", "https") or not url.hostname or url.query:
                return None
            endpoint = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"
        return cls(
            region=region,
            credentials=Credentials(key, secret, credentials.aws_session_token or None),
            endpoint=endpoint or None,
            verify=e.get("AWS_CA_BUNDLE") or e.get("REQUESTS_CA_BUNDLE") or default_ca_bundle(),
        )


def _host(parts: SplitResult) -> str:
    """The Host header http.client (botocore's) writes for the URL."""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _plain_config(env: Mapping[str, str]) -> bool:
    """Whether the shared config file's default profile sets nothing but harmless keys
    (or there is no such file)."""
    path = Path(env.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    if not path.is_file():
        return True
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return False  # botocore says what is wrong with it
    for section in ("default", "profile default"):
        if parser.has_section(section) and set(parser.options(section)) - _HARMLESS_CONFIG:
            return False
    return True


def default_ca_bundle() -> bool | str:
    """botocore's default CA bundle (botocore.httpsession.DEFAULT_CA_BUNDLE): certifi's,
    else the one botocore ships; found without importing botocore."""
    try:
        import certifi

        return str(certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with botocore
        spec = importlib.util.find_spec("botocore")
        if spec is None or spec.origin is None:
            return True
        return str(Path(spec.origin).parent / "cacert.pem")


__all__ = ["S3Account", "S3Target", "default_ca_bundle"]
