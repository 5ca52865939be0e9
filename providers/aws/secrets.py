"""AWS Secrets Manager as CloudSecrets. Values never reach logs, errors, repr or audit."""

from __future__ import annotations

from typing import Any

from providers.aws.adapter import AWSAdapter, client_error_code
from providers.base import SecretMetadata, SecretValue
from providers.errors import CloudError, ConfigurationError
from providers.operation import cloud_operation

try:
    from botocore.exceptions import ParamValidationError
except ImportError as exc:  # pragma: no cover
    from providers.errors import sdk_missing

    raise sdk_missing("aws", "boto3", "aws") from exc

STAGES = ("AWSCURRENT", "AWSPREVIOUS", "AWSPENDING")
MIN_RECOVERY_DAYS, MAX_RECOVERY_DAYS = 7, 30


def _check_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"a secret value must be a string, not {type(value).__name__}",
            provider="aws",
            operation="set_secret",
            resource=name,
        )
    return value


class SecretsManagerSecrets(AWSAdapter):
    """Secrets Manager in one region. Setting an existing name stores a new version."""

    service_name = "secretsmanager"

    def __init__(self, client: Any, *, region: str = "", recovery_window_days: int = 7) -> None:
        self.client = client
        self.region = region
        self.recovery_window_days = recovery_window_days

    @property
    def location(self) -> str:
        return f"secretsmanager/{self.region}"

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        # botocore's parameter errors quote the values they reject: never pass them on
        if isinstance(exc, ParamValidationError):
            return kind(
                "invalid request parameters (details withheld: they may contain the secret)",
                provider="aws",
                operation=operation,
                resource=resource,
            )
        return super().map_error(exc, operation=operation, resource=resource, kind=kind)

    def _metadata(self, name: str) -> SecretMetadata:
        d = self.client.describe_secret(SecretId=name)
        return SecretMetadata(
            name=d["Name"],
            created=d.get("CreatedDate"),
            updated=d.get("LastChangedDate"),
            versions=len(d.get("VersionIdsToStages", {})) or None,
            tags={t["Key"]: t["Value"] for t in d.get("Tags", [])},
        )

    @cloud_operation("create_secret", kind=CloudError, mutating=True, resource="name")
    def create_secret(
        self, name: str, value: str, *, tags: dict[str, str] | None = None
    ) -> SecretMetadata:
        args: dict[str, Any] = {"Name": name, "SecretString": _check_value(name, value)}
        if tags:
            args["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        self.client.create_secret(**args)
        return self._metadata(name)

    @cloud_operation("put_secret_value", kind=CloudError, mutating=True, resource="name")
    def put_secret_value(self, name: str, value: str) -> str:
        """Store a new current version; returns its version id."""
        resp = self.client.put_secret_value(SecretId=name, SecretString=_check_value(name, value))
        return str(resp["VersionId"])

    @cloud_operation("set_secret", kind=CloudError, mutating=True, resource="name")
    def set_secret(self, name: str, value: str) -> SecretMetadata:
        """Create the secret, or add a version when it exists."""
        _check_value(name, value)
        try:
            self.client.put_secret_value(SecretId=name, SecretString=value)
        except Exception as exc:
            if client_error_code(exc) != "ResourceNotFoundException":
                raise
            self.client.create_secret(Name=name, SecretString=value)
        return self._metadata(name)

    @cloud_operation("get_secret", kind=CloudError, resource="name")
    def get_secret(self, name: str, version: str | None = None) -> SecretValue:
        """The current value, or a version by id or stage (AWSCURRENT, AWSPREVIOUS)."""
        args: dict[str, Any] = {"SecretId": name}
        if version in STAGES:
            args["VersionStage"] = version
        elif version:
            args["VersionId"] = version
        resp = self.client.get_secret_value(**args)
        value = resp.get("SecretString")
        if value is None:
            value = bytes(resp.get("SecretBinary", b"")).decode("utf-8", "replace")
        return SecretValue(
            name=resp["Name"],
            version=str(resp["VersionId"]),
            value=value,
            created=resp.get("CreatedDate"),
        )

    @cloud_operation("list_secrets", kind=CloudError, resource=None)
    def list_secrets(self) -> list[SecretMetadata]:
        out = []
        for page in self.client.get_paginator("list_secrets").paginate():
            for d in page.get("SecretList", []):
                out.append(
                    SecretMetadata(
                        name=d["Name"],
                        created=d.get("CreatedDate"),
                        updated=d.get("LastChangedDate"),
                        versions=len(d.get("SecretVersionsToStages", {})) or None,
                        tags={t["Key"]: t["Value"] for t in d.get("Tags", [])},
                    )
                )
        return out

    @cloud_operation("delete_secret", kind=CloudError, mutating=True, resource="name")
    def delete_secret(
        self, name: str, *, recovery_window_days: int | None = None, force: bool = False
    ) -> bool:
        """Schedule deletion after a 7-30 day recovery window (or at once with force).

        False when the secret does not exist.
        """
        days = self.recovery_window_days if recovery_window_days is None else recovery_window_days
        args: dict[str, Any] = {"SecretId": name}
        if force:
            args["ForceDeleteWithoutRecovery"] = True
        elif MIN_RECOVERY_DAYS <= days <= MAX_RECOVERY_DAYS:
            args["RecoveryWindowInDays"] = days
        else:
            raise ConfigurationError(
                f"recovery window of {days} days is out of range",
                provider="aws",
                operation="delete_secret",
                resource=name,
                hint="Use 7 to 30 days, or force=True to delete without recovery",
            )
        try:
            self.client.delete_secret(**args)
        except Exception as exc:
            if client_error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    @cloud_operation("restore_secret", kind=CloudError, mutating=True, resource="name")
    def restore_secret(self, name: str) -> None:
        """Cancel a scheduled deletion."""
        self.client.restore_secret(SecretId=name)
