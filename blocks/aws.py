"""Block for AWS: prefect-aws's credential field names plus specify-cloud's settings.

Empty credential fields fall back to boto3's own chain (environment, AWS_PROFILE, shared
files, instance metadata). With assume_role_arn the provider's credentials refresh
themselves before they expire.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from blocks.base import ProviderBlock
from providers.aws.provider import AWSProvider


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None


class SpecifyAWS(ProviderBlock):
    """Amazon Web Services credentials and provider settings."""

    _block_type_name = "Specify AWS"
    _block_type_slug = "specify-aws"
    _description = (
        "AWS credentials (prefect-aws field names) and settings for the specify-cloud "
        "AWS provider. Empty credentials fall back to boto3's chain."
    )

    aws_access_key_id: str | None = Field(default=None, title="AWS Access Key ID")
    aws_secret_access_key: SecretStr | None = Field(default=None, title="AWS Secret Access Key")
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

    def provider(self) -> AWSProvider:
        from providers.aws.session import AWSCredentials

        credentials = AWSCredentials(
            aws_access_key_id=self.aws_access_key_id or None,
            aws_secret_access_key=_secret(self.aws_secret_access_key),
            aws_session_token=_secret(self.aws_session_token),
            profile_name=self.profile_name or None,
            assume_role_arn=self.assume_role_arn or None,
        )
        return AWSProvider(
            self.region_name or None,
            endpoint_url=self.endpoint_url or None,
            bucket=self.bucket or None,
            credentials=credentials,
            metric_namespace=self.metric_namespace,
            log_group=self.log_group,
        )
