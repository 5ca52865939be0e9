"""Block for AWS: prefect-aws's credential field names plus specify-cloud's settings.

Credentials come from one place: a nested prefect-aws `AwsCredentials` (or
`MinIOCredentials`) block when `credentials` is set, else this block's own fields, and
when those are empty too, from boto3's chain (environment, AWS_PROFILE, shared files,
instance metadata). With assume_role_arn the provider's credentials refresh themselves.
"""

from __future__ import annotations

from typing import Any, ClassVar

from prefect_aws import AwsCredentials, MinIOCredentials
from pydantic import Field, HttpUrl, SecretStr

from blocks.base import ProviderBlock
from providers.aws.provider import AWSProvider
from providers.aws.settings import AWSCredentials, AWSSettings

AWS_LOGO = (
    "https://cdn.sanity.io/images/3ugk85nk/production/"
    "d74b16fe84ce626345adf235a47008fea2869a60-225x225.png"
)


def _secret(value: SecretStr | str | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value() or None
    return value or None


def credentials_overrides(creds: AwsCredentials | MinIOCredentials) -> dict[str, Any]:
    """AWSSettings fields from a prefect-aws credentials block."""
    params = creds.aws_client_parameters
    out: dict[str, Any] = {
        "region": creds.region_name or None,
        "endpoint_url": params.endpoint_url or None,
    }
    if isinstance(creds, MinIOCredentials):
        out["credentials"] = AWSCredentials(
            aws_access_key_id=creds.minio_root_user,
            aws_secret_access_key=_secret(creds.minio_root_password),
        )
        return out
    role = creds.assume_role_kwargs
    out["credentials"] = AWSCredentials(
        aws_access_key_id=creds.aws_access_key_id or None,
        aws_secret_access_key=_secret(creds.aws_secret_access_key),
        aws_session_token=_secret(creds.aws_session_token),
        profile_name=creds.profile_name or None,
        assume_role_arn=creds.assume_role_arn or None,
        role_session_name=role.RoleSessionName or "specify-cloud",
        external_id=role.ExternalId or None,
        role_duration_s=role.DurationSeconds or 3600,
    )
    return out


class SpecifyAWS(ProviderBlock):
    """Amazon Web Services credentials and settings; `.provider()` builds an AWSProvider.

    Example:
        Load a saved block and list a bucket:
        ```python
        from blocks.aws import SpecifyAWS

        aws = SpecifyAWS.load("BLOCK_NAME")
        for obj in aws.provider().get_storage().list_objects("reports/"):
            print(obj.key, obj.size)
        ```
    """

    _block_type_name: ClassVar[str] = "Specify AWS"
    _block_type_slug: ClassVar[str] = "specify-aws"
    _logo_url = HttpUrl(AWS_LOGO)
    _documentation_url = HttpUrl(
        "https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html"
    )
    _description: ClassVar[str] = (
        "AWS credentials (prefect-aws field names, or a nested AWS Credentials block) and "
        "settings for the specify-cloud AWS provider. Empty credentials fall back to "
        "boto3's chain."
    )

    credentials: AwsCredentials | MinIOCredentials | None = Field(
        default=None,
        description="A prefect-aws AWS Credentials or MinIO Credentials block; when set, "
        "its credentials are used instead of the fields below.",
    )
    aws_access_key_id: str | None = Field(
        default=None, title="AWS Access Key ID", description="A specific AWS access key ID."
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None,
        title="AWS Secret Access Key",
        description="The secret access key of that key ID.",
    )
    aws_session_token: SecretStr | None = Field(
        default=None, title="AWS Session Token", description="For temporary credentials."
    )
    profile_name: str | None = Field(default=None, description="A profile in ~/.aws/config.")
    region_name: str | None = Field(default=None, description="Region, e.g. us-east-1.")
    assume_role_arn: str | None = Field(
        default=None, description="Role to assume; its credentials refresh before expiry."
    )
    endpoint_url: str | None = Field(
        default=None, description="Custom endpoint (LocalStack, moto, MinIO); empty for AWS."
    )
    bucket: str | None = Field(default=None, description="Bucket used when none is named.")
    metric_namespace: str = Field(default="SpecifyCloud", description="CloudWatch namespace.")
    log_group: str = Field(default="/specify-cloud", description="CloudWatch Logs group.")

    def settings(self) -> AWSSettings:
        """AWSSettings from this block (its nested credentials block first), the
        environment filling what is empty."""
        if self.credentials is not None:
            overrides = credentials_overrides(self.credentials)
        else:
            overrides = {
                "credentials": AWSCredentials(
                    aws_access_key_id=self.aws_access_key_id or None,
                    aws_secret_access_key=_secret(self.aws_secret_access_key),
                    aws_session_token=_secret(self.aws_session_token),
                    profile_name=self.profile_name or None,
                    assume_role_arn=self.assume_role_arn or None,
                )
            }
        # this block's own region and endpoint win over the nested block's
        if self.region_name:
            overrides["region"] = self.region_name
        if self.endpoint_url:
            overrides["endpoint_url"] = self.endpoint_url
        return AWSSettings.from_env(
            **overrides,
            bucket=self.bucket or None,
            metric_namespace=self.metric_namespace,
            log_group=self.log_group,
        )

    def provider(self) -> AWSProvider:
        return AWSProvider(self.settings())
