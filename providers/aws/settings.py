"""AWSSettings: everything AWSProvider needs, as one frozen value (imports no SDK).

`AWSSettings.from_env()` reads what the AWS CLI reads: the region from AWS_REGION /
AWS_DEFAULT_REGION, the endpoint from AWS_ENDPOINT_URL, and credentials from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_PROFILE. Whatever it
leaves empty (web identity, container and instance credentials, the profile's region)
boto3's own chain still finds. Credentials are taken as one: when the overrides carry
credentials, none are read from the environment (a block that names a profile is not
overruled by keys in the worker's environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from providers.settings import build_settings, environment

if TYPE_CHECKING:
    from providers.aws.storage import TransferSettings


@dataclass(frozen=True)
class AWSCredentials:
    """Where AWS credentials come from. Empty fields fall back to boto3's chain."""

    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile_name: str | None = None
    assume_role_arn: str | None = None
    role_session_name: str = "specify-cloud"
    external_id: str | None = field(default=None, repr=False)
    role_duration_s: int = 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AWSCredentials:
        """Static keys and the profile named by the AWS CLI's variables."""
        e = environment(env)
        return cls(
            aws_access_key_id=e.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=e.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=e.get("AWS_SESSION_TOKEN") or None,
            profile_name=e.get("AWS_PROFILE") or None,
        )

    @property
    def is_empty(self) -> bool:
        return not (
            self.aws_access_key_id
            or self.aws_secret_access_key
            or self.aws_session_token
            or self.profile_name
            or self.assume_role_arn
        )


@dataclass(frozen=True)
class AWSSettings:
    """Region, endpoint, credentials and service settings of one AWSProvider."""

    region: str | None = None
    #: one endpoint for every service (LocalStack, moto, MinIO); None for AWS itself
    endpoint_url: str | None = None
    bucket: str | None = None
    credentials: AWSCredentials = field(default_factory=AWSCredentials)
    metric_namespace: str = "SpecifyCloud"
    log_group: str = "/specify-cloud"
    transfer: TransferSettings | None = None
    sse: str | None = None
    kms_key_id: str | None = None
    cost_metric: str = "UnblendedCost"
    max_cost_pages: int = 10
    image: str | None = None
    default_instance_type: str = "t3.micro"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> AWSSettings:
        """Settings from the AWS environment (env, else os.environ); non-empty overrides win.

        AWS_ENDPOINT_URL is left to botocore when per-service AWS_ENDPOINT_URL_<SERVICE>
        variables are set too (or AWS_IGNORE_CONFIGURED_ENDPOINT_URLS), so botocore's own
        precedence between them still holds.
        """
        e = environment(env)
        values: dict[str, Any] = {}
        region = e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION")
        if region:
            values["region"] = region
        per_service = any(k.startswith("AWS_ENDPOINT_URL_") and e[k] for k in e)
        ignore = e.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true"
        if e.get("AWS_ENDPOINT_URL") and not per_service and not ignore:
            values["endpoint_url"] = e["AWS_ENDPOINT_URL"]
        given = overrides.get("credentials")
        if given is None or (isinstance(given, AWSCredentials) and given.is_empty):
            overrides = {k: v for k, v in overrides.items() if k != "credentials"}
            values["credentials"] = AWSCredentials.from_env(e)
        return build_settings(cls, "aws", values, overrides)


__all__ = ["AWSCredentials", "AWSSettings"]
