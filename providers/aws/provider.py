"""AWSProvider: builds the AWS service objects and deploys artifacts to EC2.

Importing this module is cheap: boto3 loads on the first service or client request, and
a missing boto3 then raises ProviderNotAvailableError naming the `aws` extra.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from providers.base import CloudCompute
from providers.errors import ConfigurationError
from providers.settings import check_overrides
from providers.vm import VMProvider

if TYPE_CHECKING:
    from providers.aws.compute import EC2Compute
    from providers.aws.cost import CostExplorerCost
    from providers.aws.database import RDSDatabase
    from providers.aws.logs import CloudWatchLogs
    from providers.aws.metrics import CloudWatchMetrics
    from providers.aws.secrets import SecretsManagerSecrets
    from providers.aws.settings import AWSSettings
    from providers.aws.storage import S3Storage

#: files whose presence means credentials can be found without a network call
_CREDENTIAL_FILES = (
    ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ("AWS_CONFIG_FILE", "~/.aws/config"),
)
#: seconds destroy waits for instances to release their security group
SG_RELEASE_TIMEOUT = 300.0


class AWSProvider(VMProvider):
    """Amazon Web Services: S3, CloudWatch, Logs, Secrets Manager, EC2, RDS, Cost Explorer.

    Settings are one AWSSettings value. Left out, they come from AWSSettings.from_env():
    the region from AWS_REGION / AWS_DEFAULT_REGION / the profile, the endpoint from
    AWS_ENDPOINT_URL, credentials from boto3's chain, as the AWS CLI resolves them.
    """

    name: ClassVar[str] = "aws"
    extra: ClassVar[str] = "aws"

    def __init__(
        self,
        settings: AWSSettings | str | None = None,
        *,
        session: Any | None = None,
        **overrides: Any,
    ) -> None:
        """AWSProvider(settings) or AWSProvider(region, **AWSSettings fields).

        With no settings they come from AWSSettings.from_env(); keyword overrides are
        fields of AWSSettings (a string in place of settings is the region).
        """
        from providers.aws.settings import AWSSettings

        check_overrides(AWSSettings, "aws", overrides)
        if isinstance(settings, str) or settings is None:
            if isinstance(settings, str):
                overrides = {"region": settings, **overrides}
            settings = AWSSettings.from_env(**overrides)
        elif overrides:
            settings = replace(settings, **overrides)
        self.settings: AWSSettings = settings
        self._region = settings.region
        self.endpoint_url = settings.endpoint_url or None
        self.bucket = settings.bucket or None
        self.credentials = settings.credentials
        self._session = session
        self.metric_namespace = settings.metric_namespace
        self.log_group = settings.log_group
        self.transfer = settings.transfer
        self.sse = settings.sse
        self.kms_key_id = settings.kms_key_id
        self.cost_metric = settings.cost_metric
        self.max_cost_pages = settings.max_cost_pages
        self.image = settings.image
        self.default_instance_type = settings.default_instance_type
        self._lock = threading.RLock()
        self._clients: Any = None
        self._services: dict[tuple[str, str], Any] = {}

    def __repr__(self) -> str:
        return (
            f"AWSProvider(region={self.region!r}, endpoint_url={self.endpoint_url!r}, "
            f"bucket={self.bucket!r})"
        )

    # -- sessions and clients ----------------------------------------------------------
    @property
    def region(self) -> str:
        if self._region:
            return self._region
        from providers.aws.session import DEFAULT_REGION, env_region

        if self._session is not None and getattr(self._session, "region_name", None):
            return str(self._session.region_name)
        return env_region() or self._profile_region() or DEFAULT_REGION

    def _profile_region(self) -> str | None:
        profile = (self.credentials.profile_name if self.credentials else None) or os.environ.get(
            "AWS_PROFILE"
        )
        if not profile:
            return None
        return str(self.session.region_name or "") or None

    @property
    def session(self) -> Any:
        """The boto3 Session (built on first use)."""
        with self._lock:
            if self._session is None:
                from providers.aws.session import build_session

                self._session = build_session(self.credentials, self._region, self.endpoint_url)
            return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached boto3 client for service in region (default: the provider's)."""
        with self._lock:
            if self._clients is None:
                from providers.aws.session import ClientCache

                self._clients = ClientCache(self.session, self.endpoint_url, pool=16)
            clients = self._clients
        return clients.get(service, region or self.region)

    def _cached(self, key: tuple[str, str], build: Any) -> Any:
        with self._lock:
            if key not in self._services:
                self._services[key] = build()
            return self._services[key]

    # -- services ----------------------------------------------------------------------
    def get_storage(self, bucket: str | None = None) -> S3Storage:
        name = bucket or self.bucket
        if not name:
            raise ConfigurationError(
                "no bucket given",
                provider="aws",
                operation="get_storage",
                hint="Pass a bucket (s3://bucket) or set the block's bucket",
            )

        def build() -> S3Storage:
            from providers.aws.storage import S3Storage

            account = self._lean_s3_account()
            return S3Storage(
                None if account is not None else self.client("s3"),
                name,
                region=self.region,
                transfer=self.transfer,
                sse=self.sse,
                kms_key_id=self.kms_key_id,
                account=account,
                client_factory=lambda: self.client("s3"),
            )

        return self._cached(("s3", name), build)  # type: ignore[no-any-return]

    def _lean_s3_account(self) -> Any:
        """What the lean S3 requests need (providers/native/s3_account), when it reads
        exactly as botocore would from these settings; None: the store builds its boto3
        client up front, as before (a session given, a profile, a role, no static keys...)."""
        from providers.native import DataPlaneSettings

        if self._session is not None or DataPlaneSettings.from_env().mode == "sdk":
            return None
        creds = self.credentials
        if creds is None or creds.profile_name or creds.assume_role_arn:
            return None  # the region and the keys come from a profile or a role
        if os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE"):
            return None
        from providers.native.s3_account import S3Account

        return S3Account.resolve(creds, self.region, self.endpoint_url)

    def get_metrics(self) -> CloudWatchMetrics:
        from providers.aws.metrics import CloudWatchMetrics

        return self._cached(  # type: ignore[no-any-return]
            ("cloudwatch", ""),
            lambda: CloudWatchMetrics(
                self.client("cloudwatch"), self.metric_namespace, region=self.region
            ),
        )

    def get_logging(self) -> CloudWatchLogs:
        from providers.aws.logs import CloudWatchLogs

        return self._cached(  # type: ignore[no-any-return]
            ("logs", ""),
            lambda: CloudWatchLogs(self.client("logs"), self.log_group, region=self.region),
        )

    def get_secrets(self) -> SecretsManagerSecrets:
        from providers.aws.secrets import SecretsManagerSecrets

        return self._cached(  # type: ignore[no-any-return]
            ("secretsmanager", ""),
            lambda: SecretsManagerSecrets(self.client("secretsmanager"), region=self.region),
        )

    def get_compute(self, region: str | None = None) -> EC2Compute:
        from providers.aws.compute import EC2Compute

        where = region or self.region
        return self._cached(  # type: ignore[no-any-return]
            ("ec2", where),
            lambda: EC2Compute(
                self.client("ec2", where),
                self.client("ssm", where),
                region=where,
                default_image=self.image,
                default_instance_type=self.default_instance_type,
            ),
        )

    def get_database(self) -> RDSDatabase:
        from providers.aws.database import RDSDatabase

        return self._cached(  # type: ignore[no-any-return]
            ("rds", ""), lambda: RDSDatabase(self.client("rds"), region=self.region)
        )

    def get_cost(self) -> CostExplorerCost:
        from providers.aws.cost import CostExplorerCost

        # Cost Explorer has a single endpoint, in us-east-1
        return self._cached(  # type: ignore[no-any-return]
            ("ce", ""),
            lambda: CostExplorerCost(
                self.client("ce", "us-east-1"),
                metric=self.cost_metric,
                max_pages=self.max_cost_pages,
            ),
        )

    # -- deployment (the body is VMProvider's; these say where) ------------------------
    def deploy_placement(self, region: str | None) -> tuple[str, EC2Compute]:
        where = region or self.region
        return where, self.get_compute(where)

    def artifact_storage(self, *, create: bool = False) -> S3Storage:
        """The provider's bucket, or one per account+region (created when create is set)."""
        if self.bucket:
            return self.get_storage()
        account = self.client("sts").get_caller_identity()["Account"]
        storage = self.get_storage(f"specify-artifacts-{account}-{self.region}")
        if create:
            storage.create_bucket(exist_ok=True)
        return storage

    def remove_leftovers(self, compute: CloudCompute, deployment_id: str) -> None:
        """The security group opened for the app's port. EC2 refuses to delete it while an
        instance still uses it, so wait until the deployment's instances are terminated."""
        from providers.artifact import DEPLOYMENT_TAG
        from providers.aws.compute import EC2Compute

        assert isinstance(compute, EC2Compute)
        tags = {DEPLOYMENT_TAG: deployment_id}
        deadline = time.monotonic() + SG_RELEASE_TIMEOUT
        while time.monotonic() < deadline and any(
            i.state != "terminated" for i in compute.list_instances(tags, include_terminated=True)
        ):
            time.sleep(compute.poll_interval)
        compute.delete_security_groups(tags)

    # -- detection ---------------------------------------------------------------------
    @classmethod
    def sdk_available(cls) -> bool:
        import importlib.util

        return importlib.util.find_spec("boto3") is not None

    @classmethod
    def credentials_found(cls) -> bool | None:
        """Credentials in the environment or shared files (no network call is made)."""
        env = os.environ
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            return True
        if env.get("AWS_PROFILE") or env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
            return True
        if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI"
        ):
            return True
        for var, default in _CREDENTIAL_FILES:
            if Path(env.get(var) or default).expanduser().is_file():
                return True
        return False
