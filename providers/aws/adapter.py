"""What every AWS service module shares: the botocore error mapping and client settings.

botocore retries are turned down to a single request (`RETRIES`) because the shared
tenacity policy in providers.retry already retries transient failures; two layers of
retries would multiply the wait.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from providers.errors import (
    CloudError,
    ConfigurationError,
    CredentialsError,
    IntegrityError,
    NotFoundError,
    sdk_missing,
)
from providers.operation import ServiceAdapter, error_for_status, map_generic_error
from providers.retry import is_transient_exception

if TYPE_CHECKING:
    from botocore.config import Config

if importlib.util.find_spec("botocore") is None:  # pragma: no cover - without the extra
    raise sdk_missing("aws", "boto3", "aws")
# botocore itself is imported where a client is configured or one of its exceptions is
# looked for (an exception of botocore exists only once botocore was imported): a store
# whose requests are all lean (providers/native/s3_*) never imports it


class ServiceAnswer(Exception):
    """An error answer of AWS read by a lean request (providers/native/s3_*), in the shape
    botocore's ClientError gives it (`response['Error']`, `ResponseMetadata`), so that
    one mapping serves both paths."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        operation: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            f"An error occurred ({code or status}) when calling {operation}: {message}"
        )
        self.response: dict[str, Any] = {
            "Error": {"Code": code or str(status), "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(headers or {})},
        }
        self.operation_name = operation


def _botocore_errors() -> Any:
    """botocore.exceptions when botocore is loaded (else no exception can be its)."""
    if "botocore" not in sys.modules:
        return None
    import botocore.exceptions

    return botocore.exceptions


PROVIDER = "aws"

#: one attempt in botocore; providers.retry owns retrying. Note botocore's `max_attempts`
#: counts retries (max_attempts=1 means two requests); `total_max_attempts` counts requests.
RETRIES: Any = {"total_max_attempts": 1, "mode": "standard"}

AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "InvalidToken",
        "MissingAuthenticationToken",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "404",
        "NotFound",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchVersion",
        "NoSuchUpload",
        "ResourceNotFoundException",
        "ParameterNotFound",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "InvalidInstanceID.NotFound",
        "InvalidInstanceID.Malformed",
        "InvalidAMIID.NotFound",
        "InvalidGroup.NotFound",
    }
)
#: the service refused a body that did not match its checksum: damaged in transit, so a
#: fresh send may succeed (the level holding the bytes resends them)
DIGEST_CODES = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"}
)
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "InternalError",
        "InternalFailure",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

AUTH_HINT = (
    "Check the AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and "
    "AWS_SESSION_TOKEN for temporary ones), pick a profile with AWS_PROFILE or run "
    "`aws sso login`, or fill the specify-aws block; make sure the identity may call "
    "this action (see docs/iam/aws-policy.json)"
)
CONNECT_HINT = (
    "Check that the endpoint is reachable (AWS_ENDPOINT_URL / the block's endpoint URL) "
    "and the region is right"
)


def client_config(service: str = "", *, custom_endpoint: bool = False, pool: int = 10) -> Config:
    """botocore client settings shared by every service client.

    custom_endpoint: the client talks to an S3/AWS-compatible server (moto, LocalStack,
    MinIO), which has no per-bucket DNS names and may not take gzip request bodies
    (moto answers 500 to CloudWatch's compressed PutMetricData).
    """
    from botocore.config import Config

    config = Config(
        retries=RETRIES,
        max_pool_connections=pool,
        disable_request_compression=custom_endpoint,
    )
    if service == "s3":
        # SigV4 presigned URLs (SigV2 ones are deprecated and have no 7-day bound)
        config = config.merge(
            Config(
                signature_version="s3v4",
                # every S3 request body we send carries Content-MD5 or a CRC the service
                # checks (and whose answer we compare), so SigV4's body sha256 would be a
                # third hash of the same bytes: botocore already drops it on HTTPS for
                # streamed bodies; this drops it on plain-HTTP endpoints (moto, MinIO) too
                s3={
                    "payload_signing_enabled": False,
                    **({"addressing_style": "path"} if custom_endpoint else {}),
                },
            )
        )
    return config


def client_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ClientError or a lean ServiceAnswer ('NoSuchKey', '404',
    ...), else None."""
    errors = _botocore_errors()
    if isinstance(exc, ServiceAnswer) or (errors and isinstance(exc, errors.ClientError)):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def find_botocore_error(exc: BaseException) -> BaseException:
    """The botocore error behind exc: boto3's transfer errors wrap it without `from`."""
    errors = _botocore_errors()
    known: tuple[type[BaseException], ...] = (ServiceAnswer,)
    if errors is not None:
        known = (ServiceAnswer, errors.ClientError, errors.BotoCoreError)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, known):
            return current
        current = current.__cause__ or current.__context__
    return exc


class AWSAdapter(ServiceAdapter):
    """Base of the AWS service classes: maps botocore errors to the project's errors."""

    provider_name: ClassVar[str] = PROVIDER
    region: str = ""

    def describe(self, resource: str | None) -> str | None:
        """How a resource is named in messages (S3 turns a key into s3://bucket/key)."""
        return resource

    def not_found_hint(self, code: str | None) -> str:
        return "Check the name and the region, or create it first"

    def map_error(
        self,
        exc: Exception,
        *,
        operation: str,
        resource: str | None,
        kind: type[CloudError],
    ) -> CloudError:
        inner = find_botocore_error(exc)
        where = self.describe(resource)
        errors = _botocore_errors()
        region = f" (region {self.region})" if self.region else ""
        common: dict[str, Any] = {
            "provider": PROVIDER,
            "operation": operation,
            "resource": where,
        }
        if errors is not None:
            if isinstance(
                inner,
                errors.NoCredentialsError | errors.PartialCredentialsError | errors.ProfileNotFound,
            ):
                return CredentialsError(f"{inner}{region}", hint=AUTH_HINT, **common)
            if isinstance(inner, errors.NoRegionError):
                return ConfigurationError(
                    str(inner), hint="Set AWS_REGION or the block's region_name", **common
                )
            if isinstance(
                inner,
                errors.EndpointConnectionError
                | errors.ConnectionClosedError
                | errors.ConnectTimeoutError
                | errors.ReadTimeoutError,
            ):
                return kind(f"{inner}{region}", hint=CONNECT_HINT, retryable=True, **common)
        if isinstance(inner, ServiceAnswer) or (
            errors is not None and isinstance(inner, errors.ClientError)
        ):
            error = inner.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = inner.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = f"{code or 'error'}: {error.get('Message') or inner}{region}"
            if code in AUTH_CODES:
                return CredentialsError(text, hint=AUTH_HINT, **common)
            if code in NOT_FOUND_CODES or code.endswith(".NotFound"):
                return NotFoundError(text, hint=self.not_found_hint(code), **common)
            if code in DIGEST_CODES:
                return IntegrityError(text, hint="The bytes were damaged in transit", **common)
            if code in THROTTLE_CODES:
                return kind(
                    text,
                    hint="AWS is throttling or busy; try again later",
                    retryable=True,
                    **common,
                )
            return error_for_status(
                status,
                text,
                provider=PROVIDER,
                operation=operation,
                resource=where,
                kind=kind,
                auth_hint=AUTH_HINT,
                not_found_hint=self.not_found_hint(code),
            )
        if errors is not None and isinstance(inner, errors.BotoCoreError):
            # a body cut short (IncompleteReadError, ResponseStreamingError) is transient
            return kind(f"{inner}{region}", retryable=is_transient_exception(inner), **common)
        return map_generic_error(
            exc, provider=PROVIDER, operation=operation, resource=where, kind=kind
        )
