"""GCPProvider: credentials, project and endpoints once; one service object per service.

Importing this module imports no Google SDK: each service module imports its client when
the provider first builds it. With no explicit settings the provider behaves like Google's
own clients: GOOGLE_APPLICATION_CREDENTIALS / Application Default Credentials,
GOOGLE_CLOUD_PROJECT, and STORAGE_EMULATOR_HOST for Cloud Storage.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from providers.base import CloudStorage
from providers.errors import ConfigurationError, CredentialsError
from providers.gcp.common import AUTH_HINT, EXTRA, PROVIDER, require
from providers.gcp.settings import DEFAULT_ZONE, SERVICES, GCPSettings, emulator_url
from providers.httpenv import configure_session
from providers.settings import check_overrides
from providers.vm import VMProvider

if TYPE_CHECKING:
    from providers.gcp.compute import ComputeEngine
    from providers.gcp.cost import BigQueryBillingCost
    from providers.gcp.database import CloudSQLDatabase
    from providers.gcp.logs import CloudLoggingLogs
    from providers.gcp.metrics import CloudMonitoringMetrics
    from providers.gcp.secrets import SecretManagerSecrets
    from providers.gcp.storage import GCSStorage

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")


def emulator_host() -> str | None:
    """STORAGE_EMULATOR_HOST as a URL (Google's clients accept it with or without scheme)."""
    return emulator_url(os.environ.get("STORAGE_EMULATOR_HOST"))


def zone_of(region: str | None, default_zone: str) -> str:
    """A zone for a region ('us-east1' -> 'us-east1-b' style, keeping the default's letter)."""
    if not region:
        return default_zone
    if _ZONE.match(region):
        return region
    return f"{region}-{default_zone.rsplit('-', 1)[-1]}"


class GCPProvider(VMProvider):
    """Google Cloud: Cloud Storage, Monitoring, Logging, Secret Manager, Compute Engine,
    Cloud SQL and the BigQuery billing export."""

    name: ClassVar[str] = PROVIDER
    extra: ClassVar[str] = EXTRA

    def __init__(
        self,
        settings: GCPSettings | str | None = None,
        *,
        credentials: Any = None,
        **overrides: Any,
    ) -> None:
        """GCPProvider(settings) or GCPProvider(project, **GCPSettings fields).

        With no settings they come from GCPSettings.from_env(); keyword overrides are
        fields of GCPSettings (a string in place of settings is the project). credentials
        is a google.auth credentials object, used instead of any configured key.
        """
        check_overrides(GCPSettings, PROVIDER, overrides)
        if isinstance(settings, str) or settings is None:
            if isinstance(settings, str):
                overrides = {"project": settings, **overrides}
            settings = GCPSettings.from_env(**overrides)
        elif overrides:
            settings = replace(settings, **overrides)
        self.settings: GCPSettings = settings
        s = settings
        self._project = s.project or None
        self.bucket = s.bucket or None
        self.zone = s.zone or DEFAULT_ZONE
        self._explicit_credentials = credentials
        # kept private and out of repr: it holds a private key
        info = s.service_account_info
        self._service_account_info = dict(info) if info else None
        self.service_account_file = str(s.service_account_file) if s.service_account_file else None
        self.impersonate_service_account = s.impersonate_service_account or None
        self.billing_project = s.billing_project or None
        self.billing_dataset = s.billing_dataset or None
        self.billing_table = s.billing_table or None
        self.endpoints = dict(s.endpoints)
        if s.storage_endpoint:
            self.endpoints["storage"] = s.storage_endpoint
        #: Cloud Storage takes no credentials (an emulator)
        self.storage_emulator = s.storage_emulator
        self.kms_key_name = s.kms_key_name
        self.chunk_size = s.chunk_size
        self.resumable_threshold = s.resumable_threshold
        self.machine_type = s.machine_type
        self.image_project = s.image_project
        self.image_family = s.image_family
        self.network = s.network
        self._lock = threading.RLock()
        self._credentials: Any = None
        self._adc_project: str | None = None
        self._services: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"GCPProvider(project={self._project!r}, bucket={self.bucket!r}, zone={self.zone!r}, "
            f"credentials={self.credentials_source()!r})"
        )

    # ------------------------------------------------------------------ credentials
    def credentials_source(self) -> str:
        """Where credentials come from, for messages (never the credentials themselves)."""
        if self._explicit_credentials is not None:
            source = "explicit"
        elif self._service_account_info:
            source = "service account info"
        elif self.service_account_file:
            source = f"service account file {self.service_account_file}"
        else:
            source = "application default"
        if self.impersonate_service_account:
            source += f" impersonating {self.impersonate_service_account}"
        return source

    def _base_credentials(self) -> Any:
        if self._explicit_credentials is not None:
            return self._explicit_credentials
        service_account = require("google.oauth2.service_account", "google-auth")
        try:
            if self._service_account_info:
                return service_account.Credentials.from_service_account_info(
                    self._service_account_info, scopes=SCOPES
                )
            if self.service_account_file:
                return service_account.Credentials.from_service_account_file(
                    self.service_account_file, scopes=SCOPES
                )
        except (ValueError, KeyError, OSError) as exc:
            # the message names the problem, never the key material
            raise CredentialsError(
                f"the service account key could not be read ({type(exc).__name__})",
                provider=PROVIDER,
                operation="credentials",
                hint="Give the JSON key file of a service account (type service_account)",
            ) from exc
        google_auth = require("google.auth", "google-auth")
        try:
            creds, project = google_auth.default(scopes=SCOPES)
        except Exception as exc:
            raise CredentialsError(
                f"no Application Default Credentials ({type(exc).__name__})",
                provider=PROVIDER,
                operation="credentials",
                hint="Set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default "
                "login`, or save a GCP block with a service account",
            ) from exc
        self._adc_project = project
        return creds

    @property
    def credentials(self) -> Any:
        """google.auth credentials, resolved once (impersonated when configured)."""
        with self._lock:
            if self._credentials is None:
                creds = self._base_credentials()
                if self.impersonate_service_account:
                    impersonated = require("google.auth.impersonated_credentials", "google-auth")
                    creds = impersonated.Credentials(
                        source_credentials=creds,
                        target_principal=self.impersonate_service_account,
                        target_scopes=list(SCOPES),
                        lifetime=3600,
                    )
                self._credentials = creds
            return self._credentials

    @property
    def project(self) -> str:
        """The project: explicit, GOOGLE_CLOUD_PROJECT, the key's project, or ADC's."""
        found = (
            self._project
            or os.environ.get("GOOGLE_CLOUD_PROJECT")
            or os.environ.get("GCLOUD_PROJECT")
            or (self._service_account_info or {}).get("project_id")
        )
        if not found and self.service_account_file:
            try:
                found = json.loads(Path(self.service_account_file).read_text()).get("project_id")
            except (OSError, ValueError):
                found = None
        if not found and not self.storage_emulator:
            _ = self.credentials
            found = self._adc_project or getattr(self._credentials, "project_id", None)
        if not found:
            raise ConfigurationError(
                "no Google Cloud project is configured",
                provider=PROVIDER,
                operation="configure",
                hint="Set GOOGLE_CLOUD_PROJECT or the block's project field",
            )
        return str(found)

    @classmethod
    def sdk_available(cls) -> bool:
        return all(
            importlib.util.find_spec(m) is not None
            for m in ("google.cloud.storage", "google.cloud.bigquery")
        )

    @classmethod
    def credentials_found(cls) -> bool | None:
        """Whether credentials can be seen without a network call (files, env, GCE BIOS)."""
        key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if key_file:
            return Path(key_file).is_file()
        if emulator_host():
            return True
        config = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
        if (Path(config) / "application_default_credentials.json").is_file():
            return True
        # On Compute Engine the metadata server provides tokens; its BIOS says so.
        product = Path("/sys/class/dmi/id/product_name")
        try:
            if "Google" in product.read_text():
                return True
        except OSError:
            pass
        return False

    def client_options(self, service: str) -> Any:
        """ClientOptions with the endpoint override for service, or None."""
        endpoint = self.endpoints.get(service)
        if not endpoint:
            return None
        client_options = require("google.api_core.client_options", "google-api-core")
        return client_options.ClientOptions(api_endpoint=endpoint)

    def _cached(self, key: str, build: Any) -> Any:
        with self._lock:
            if key not in self._services:
                self._services[key] = build()
            return self._services[key]

    # ------------------------------------------------------------------ services
    def get_storage(self, bucket: str | None = None) -> CloudStorage:
        """The bucket's GCSStorage (typed as the protocol: see the note on the cast)."""
        name = bucket or self.bucket
        if not name:
            raise ConfigurationError(
                "no bucket given",
                provider=PROVIDER,
                operation="get_storage",
                hint="Pass gs://BUCKET, or set the block's bucket field",
            )
        # GCSStorage satisfies CloudStorage at runtime; mypy rejects it only because the
        # protocol declares provider_name an instance attribute while ServiceAdapter
        # makes it a ClassVar.
        return cast(
            CloudStorage, self._cached(f"storage:{name}", lambda: self._build_storage(name))
        )

    def _storage_client(self) -> Any:
        def build() -> Any:
            storage = require("google.cloud.storage", "google-cloud-storage")
            if self.storage_emulator:
                # The emulator takes no auth (as with STORAGE_EMULATOR_HOST)
                anonymous = require("google.auth.credentials", "google-auth").AnonymousCredentials()
                return storage.Client(
                    project=self.project,
                    credentials=anonymous,
                    client_options=self.client_options("storage"),
                    **self._http_option(anonymous),
                )
            return storage.Client(
                project=self.project,
                credentials=self.credentials,
                client_options=self.client_options("storage"),
                **self._http_option(self.credentials),
            )

        return self._cached("storage-client", build)

    @staticmethod
    def _http_option(credentials: Any) -> dict[str, Any]:
        """The client's session, reading proxy settings once (see providers.httpenv).

        With client certificates (mTLS) the client configures its own session instead.
        """
        if os.environ.get("GOOGLE_API_USE_CLIENT_CERTIFICATE", "").lower() == "true":
            return {}
        transport = require("google.auth.transport.requests", "google-auth")
        return {"_http": configure_session(transport.AuthorizedSession(credentials))}

    def _build_storage(self, bucket: str) -> GCSStorage:
        from providers.gcp.storage import (
            DEFAULT_CHUNK_SIZE,
            DEFAULT_RESUMABLE_THRESHOLD,
            GCSStorage,
        )
        from providers.native import DataPlaneSettings
        from providers.native.gcs_account import GCSAccount

        def signing_credentials() -> Any:  # resolved when get_url first signs
            return self.credentials

        signs = (
            self._explicit_credentials is not None
            or self._service_account_info
            or self.service_account_file
        )
        # The endpoint and credentials the lean requests need, read without importing
        # google-cloud-storage (None where only the SDK can stand in for itself); the
        # storage.Client is then built on the first operation they do not cover.
        plane = DataPlaneSettings.from_env()
        account = GCSAccount.for_provider(self) if plane.mode != "sdk" else None
        return GCSStorage(
            bucket,
            client=None if account is not None else self._storage_client(),
            connect=self._storage_client,
            lean_account=account,
            project=self.project,
            signing=signing_credentials if signs else None,
            data_plane=plane,
            kms_key_name=self.kms_key_name,
            chunk_size=self.chunk_size or DEFAULT_CHUNK_SIZE,
            resumable_threshold=self.resumable_threshold or DEFAULT_RESUMABLE_THRESHOLD,
            api_access_endpoint=self.endpoints.get("storage"),
        )

    def get_metrics(self) -> CloudMonitoringMetrics:
        from providers.gcp.metrics import CloudMonitoringMetrics

        return self._cached(
            "metrics",
            lambda: CloudMonitoringMetrics(
                self.project,
                credentials=self.credentials,
                endpoint=self.endpoints.get("monitoring"),
            ),
        )

    def get_logging(self) -> CloudLoggingLogs:
        from providers.gcp.logs import CloudLoggingLogs

        return self._cached(
            "logging",
            lambda: CloudLoggingLogs(
                self.project,
                credentials=self.credentials,
                client_options=self.client_options("logging"),
            ),
        )

    def get_secrets(self) -> SecretManagerSecrets:
        from providers.gcp.secrets import SecretManagerSecrets

        return self._cached(
            "secrets",
            lambda: SecretManagerSecrets(
                self.project,
                credentials=self.credentials,
                client_options=self.client_options("secretmanager"),
            ),
        )

    def get_compute(self, zone: str | None = None) -> ComputeEngine:
        from providers.gcp.compute import ComputeEngine

        where = zone or self.zone
        return self._cached(
            f"compute:{where}",
            lambda: ComputeEngine(
                self.project,
                zone=where,
                credentials=self.credentials,
                client_options=self.client_options("compute"),
                machine_type=self.machine_type,
                image_project=self.image_project,
                image_family=self.image_family,
                network=self.network,
            ),
        )

    def get_database(self) -> CloudSQLDatabase:
        from providers.gcp.database import CloudSQLDatabase

        return self._cached(
            "database",
            lambda: CloudSQLDatabase(
                self.project,
                region=self.zone.rsplit("-", 1)[0],
                credentials=self.credentials,
                endpoint=self.endpoints.get("sqladmin"),
            ),
        )

    def get_cost(self) -> BigQueryBillingCost:
        from providers.gcp.cost import BigQueryBillingCost

        if not (self.billing_dataset and self.billing_table):
            raise ConfigurationError(
                "the BigQuery billing export is not configured",
                provider=PROVIDER,
                operation="get_cost",
                hint="Set billing_dataset and billing_table (gcp_billing_export_v1_<ACCOUNT>) "
                "to the standard usage cost export",
            )
        dataset, table = self.billing_dataset, self.billing_table
        return self._cached(
            "cost",
            lambda: BigQueryBillingCost(
                self.project,
                dataset=dataset,
                table=table,
                billing_project=self.billing_project,
                credentials=self.credentials,
                client_options=self.client_options("bigquery"),
            ),
        )

    # ------------------------------------------------------------------ deploy
    # the body is VMProvider's; these say where
    def deploy_placement(self, region: str | None) -> tuple[str, ComputeEngine]:
        """A deployment lands in a zone of the region (instances are zonal)."""
        zone = zone_of(region, self.zone)
        return zone, self.get_compute(zone)

    def artifact_storage(self, *, create: bool = False) -> CloudStorage:
        """The provider's bucket (configured, so it is expected to exist already)."""
        return self.get_storage()


__all__ = ["AUTH_HINT", "SERVICES", "GCPProvider", "GCPSettings", "zone_of"]
