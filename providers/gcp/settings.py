"""GCPSettings: everything GCPProvider needs, as one frozen value (imports no SDK).

`GCPSettings.from_env()` reads Google's own variables: GOOGLE_CLOUD_PROJECT (or
GCLOUD_PROJECT), CLOUDSDK_COMPUTE_ZONE, and STORAGE_EMULATOR_HOST, which points Cloud
Storage at an emulator and sends no credentials. GOOGLE_APPLICATION_CREDENTIALS is left
to Application Default Credentials, which read it (and the other credential sources)
themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers.errors import ConfigurationError
from providers.settings import build_settings, environment

DEFAULT_ZONE = "us-central1-a"
#: the services whose API endpoint can be overridden (private endpoints, fakes in tests)
SERVICES = ("storage", "compute", "monitoring", "logging", "secretmanager", "sqladmin", "bigquery")


def emulator_url(host: str | None) -> str | None:
    """STORAGE_EMULATOR_HOST as a URL (Google's clients accept it with or without scheme)."""
    host = (host or "").strip()
    if not host:
        return None
    return host if "://" in host else f"http://{host}"


@dataclass(frozen=True)
class GCPSettings:
    """Project, credentials, endpoints and service settings of one GCPProvider."""

    project: str | None = None
    bucket: str | None = None
    zone: str = DEFAULT_ZONE
    # kept out of repr: it holds a private key
    service_account_info: Mapping[str, Any] | None = field(default=None, repr=False)
    service_account_file: str | None = None
    impersonate_service_account: str | None = None
    billing_project: str | None = None
    billing_dataset: str | None = None
    billing_table: str | None = None
    #: API endpoint per service (see SERVICES); credentials are still sent
    endpoints: Mapping[str, str] = field(default_factory=dict)
    #: Cloud Storage endpoint (a private endpoint, or an emulator's URL)
    storage_endpoint: str | None = None
    #: the storage endpoint is an emulator: no credentials are sent, as with
    #: STORAGE_EMULATOR_HOST, and no Application Default Credentials are needed
    storage_emulator: bool = False
    kms_key_name: str | None = None
    chunk_size: int | None = None
    resumable_threshold: int | None = None
    machine_type: str = "e2-small"
    image_project: str = "debian-cloud"
    image_family: str = "debian-12"
    network: str = "global/networks/default"

    def __post_init__(self) -> None:
        unknown = set(self.endpoints) - set(SERVICES)
        if unknown:
            raise ConfigurationError(
                f"unknown service(s) in endpoints: {', '.join(sorted(unknown))}",
                provider="gcp",
                operation="configure",
                hint=f"Known services: {', '.join(SERVICES)}",
            )
        if self.storage_emulator and not self.storage_endpoint:
            raise ConfigurationError(
                "storage_emulator is set but storage_endpoint is empty",
                provider="gcp",
                operation="configure",
                hint="Set storage_endpoint to the emulator's URL, e.g. http://127.0.0.1:9023",
            )
        if self.service_account_file is not None and not isinstance(self.service_account_file, str):
            object.__setattr__(self, "service_account_file", str(self.service_account_file))

    @property
    def storage_url(self) -> str | None:
        """Where Cloud Storage is reached: storage_endpoint, else endpoints['storage']."""
        return self.storage_endpoint or self.endpoints.get("storage") or None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> GCPSettings:
        """Settings from Google's environment (env, else os.environ); non-empty overrides win.

        An explicit storage_endpoint replaces the emulator of STORAGE_EMULATOR_HOST (and
        whether it is an emulator is then the override's storage_emulator).
        """
        e = environment(env)
        values: dict[str, Any] = {}
        project = e.get("GOOGLE_CLOUD_PROJECT") or e.get("GCLOUD_PROJECT")
        if project:
            values["project"] = project
        if e.get("CLOUDSDK_COMPUTE_ZONE"):
            values["zone"] = e["CLOUDSDK_COMPUTE_ZONE"]
        emulator = emulator_url(e.get("STORAGE_EMULATOR_HOST"))
        explicit_endpoint = overrides.get("storage_endpoint") or (
            overrides.get("endpoints") or {}
        ).get("storage")
        if emulator and not explicit_endpoint:
            values["storage_endpoint"] = emulator
            values["storage_emulator"] = True
        key_file = overrides.get("service_account_file")
        if isinstance(key_file, Path):
            overrides = {**overrides, "service_account_file": str(key_file)}
        return build_settings(cls, "gcp", values, overrides)


__all__ = ["DEFAULT_ZONE", "SERVICES", "GCPSettings", "emulator_url"]
