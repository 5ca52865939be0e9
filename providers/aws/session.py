"""Building boto3 sessions and clients the way the AWS CLI would.

Explicit settings win; anything left empty falls back to boto3's own chain (environment,
AWS_PROFILE, shared files, container and instance metadata). AWS_ENDPOINT_URL and the
per-service AWS_ENDPOINT_URL_<SERVICE> variables are honoured by botocore itself.
An assumed role gets refreshable credentials: botocore renews them shortly before expiry.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from providers.aws.adapter import client_config
from providers.aws.settings import AWSCredentials
from providers.errors import sdk_missing

try:
    import boto3
    from botocore.credentials import DeferredRefreshableCredentials
    from botocore.session import Session as BotocoreSession
    from botocore.utils import parse_timestamp as botocore_parse_timestamp
except ImportError as exc:  # pragma: no cover
    raise sdk_missing("aws", "boto3", "aws") from exc

DEFAULT_REGION = "us-east-1"


def env_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def env_endpoint(service: str = "") -> str | None:
    """The endpoint the environment points a service at (as botocore will resolve it)."""
    if service:
        specific = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}")
        if specific:
            return specific
    return os.environ.get("AWS_ENDPOINT_URL") or None


def parse_timestamp(value: str) -> datetime:
    """botocore's timestamp parser, without dateutil for the two forms S3 sends.

    Every GetObject answer carries Last-Modified, and dateutil's general parser was about
    a tenth of the client CPU of a small download; ISO 8601 (XML bodies) and RFC 1123
    (headers) parse directly, anything else goes to botocore's own parser.
    """
    try:
        parsed = datetime.fromisoformat(value) if "T" in value else parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return botocore_parse_timestamp(value)  # type: ignore[no-any-return]
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def core_session() -> BotocoreSession:
    """A botocore session whose clients parse timestamps with parse_timestamp."""
    core = BotocoreSession()
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    return core


def build_session(
    credentials: AWSCredentials | None, region: str | None, endpoint_url: str | None = None
) -> boto3.Session:
    """A boto3 Session; with assume_role_arn, one whose credentials refresh themselves."""
    from botocore.exceptions import ProfileNotFound

    from providers.errors import ConfigurationError

    creds = credentials or AWSCredentials()
    try:
        base = boto3.Session(
            botocore_session=core_session(),
            aws_access_key_id=creds.aws_access_key_id or None,
            aws_secret_access_key=creds.aws_secret_access_key or None,
            aws_session_token=creds.aws_session_token or None,
            profile_name=creds.profile_name or None,
            region_name=region,
        )
    except ProfileNotFound as exc:
        raise ConfigurationError(
            f"the AWS profile {exc.kwargs.get('profile')!r} is not in ~/.aws/config or "
            "~/.aws/credentials",
            provider="aws",
            operation="connect",
            hint="Set AWS_PROFILE (or the block's profile_name) to a profile that exists, "
            "or unset it",
        ) from None
    if not creds.assume_role_arn:
        return base
    sts = base.client(
        "sts",
        region_name=region or DEFAULT_REGION,
        endpoint_url=endpoint_url or None,
        config=client_config(custom_endpoint=bool(endpoint_url or env_endpoint("sts"))),
    )

    def refresh() -> dict[str, str]:
        args: dict[str, Any] = {
            "RoleArn": creds.assume_role_arn,
            "RoleSessionName": creds.role_session_name,
            "DurationSeconds": creds.role_duration_s,
        }
        if creds.external_id:
            args["ExternalId"] = creds.external_id
        got = sts.assume_role(**args)["Credentials"]
        return {
            "access_key": got["AccessKeyId"],
            "secret_key": got["SecretAccessKey"],
            "token": got["SessionToken"],
            "expiry_time": got["Expiration"].isoformat(),
        }

    core = core_session()
    # botocore refreshes these 15 minutes (advisory) / 10 minutes (mandatory) before expiry
    core._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
        refresh_using=refresh, method="sts-assume-role"
    )
    return boto3.Session(botocore_session=core, region_name=region)


class ClientCache:
    """One boto3 client per (service, region); boto3 sessions are not thread-safe."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None, pool: int = 10) -> None:
        self.session: Any = session
        self.endpoint_url = endpoint_url
        self.pool = pool
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                endpoint = self.endpoint_url or env_endpoint(service)
                client = self.session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url or None,
                    config=client_config(service, custom_endpoint=bool(endpoint), pool=self.pool),
                )
                self._clients[key] = client
            return client
