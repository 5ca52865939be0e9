"""The GCP credentials block: prefect-gcp's field names plus this project's settings.

Credentials come from one place: a nested prefect-gcp `GcpCredentials` block when
`gcp_credentials` is set, else this block's own key fields, and when those are empty
too, Application Default Credentials (and the standard Google environment), exactly like
GCPProvider with no arguments. The service-account key is a SecretDict: shown as
******** in the UI, the API, `prefect block inspect` and repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from prefect.types import SecretDict
from prefect_gcp import GcpCredentials
from pydantic import Field, HttpUrl

from blocks.base import ProviderBlock
from providers.gcp.settings import GCPSettings

if TYPE_CHECKING:
    from providers.gcp import GCPProvider

GCP_LOGO = (
    "https://cdn.sanity.io/images/3ugk85nk/production/"
    "10424e311932e31c477ac2b9ef3d53cefbaad708-250x250.png"
)


def credentials_overrides(creds: GcpCredentials) -> dict[str, Any]:
    """GCPSettings fields from a prefect-gcp credentials block."""
    info = creds.service_account_info.get_secret_value() if creds.service_account_info else None
    return {
        "project": creds.project or None,
        "service_account_info": info or None,
        "service_account_file": str(creds.service_account_file)
        if creds.service_account_file
        else None,
    }


class SpecifyGCP(ProviderBlock):
    """Credentials and settings for Google Cloud; `.provider()` builds a GCPProvider.

    Example:
        Load a saved block and list a bucket:
        ```python
        from blocks.gcp import SpecifyGCP

        gcp = SpecifyGCP.load("BLOCK_NAME")
        for obj in gcp.provider().get_storage().list_objects("reports/"):
            print(obj.key, obj.size)
        ```
    """

    _block_type_name: ClassVar[str] = "Specify GCP"
    _block_type_slug: ClassVar[str] = "specify-gcp"
    _logo_url = HttpUrl(GCP_LOGO)
    _documentation_url = HttpUrl(
        "https://cloud.google.com/docs/authentication/application-default-credentials"
    )
    _description: ClassVar[str] = (
        "Google Cloud credentials (service-account key, a nested GCP Credentials block, or "
        "Application Default Credentials) and specify-cloud settings: bucket, Cloud "
        "Storage endpoint, zone, BigQuery billing export."
    )

    gcp_credentials: GcpCredentials | None = Field(
        default=None,
        description="A prefect-gcp GCP Credentials block; when set, its key and project "
        "are used instead of the fields below.",
    )
    service_account_info: SecretDict | None = Field(
        default=None, description="The contents of a service-account JSON key."
    )
    service_account_file: Path | None = Field(
        default=None, description="Path to a service-account JSON key file."
    )
    project: str | None = Field(
        default=None, description="Project id; defaults to the key's or the environment's."
    )
    impersonate_service_account: str | None = Field(
        default=None, description="Act as this service account (needs Token Creator on it)."
    )
    bucket: str | None = Field(default=None, description="Default Cloud Storage bucket.")
    storage_endpoint: str | None = Field(
        default=None,
        description="Cloud Storage endpoint: a private endpoint, or an emulator's URL such "
        "as http://127.0.0.1:9023; empty for Google.",
    )
    storage_emulator: bool = Field(
        default=False,
        description="The storage endpoint is an emulator: send no credentials (as "
        "STORAGE_EMULATOR_HOST does).",
    )
    zone: str | None = Field(default=None, description="Compute Engine zone, e.g. us-central1-a.")
    billing_project: str | None = Field(
        default=None, description="Project holding the billing export dataset."
    )
    billing_dataset: str | None = Field(default=None, description="Billing export dataset.")
    billing_table: str | None = Field(
        default=None, description="Billing export table, gcp_billing_export_v1_<ACCOUNT>."
    )

    def settings(self, **overrides: Any) -> GCPSettings:
        """GCPSettings from this block (its nested credentials block first), the
        environment filling what is empty; overrides win."""
        if self.gcp_credentials is not None:
            values = credentials_overrides(self.gcp_credentials)
            if self.project:
                values["project"] = self.project
        else:
            info = (
                self.service_account_info.get_secret_value() if self.service_account_info else None
            )
            values = {
                "project": self.project,
                "service_account_info": info or None,
                "service_account_file": self.service_account_file,
            }
        values.update(
            bucket=self.bucket,
            zone=self.zone,
            impersonate_service_account=self.impersonate_service_account,
            billing_project=self.billing_project,
            billing_dataset=self.billing_dataset,
            billing_table=self.billing_table,
            storage_endpoint=self.storage_endpoint,
        )
        if self.storage_endpoint or self.storage_emulator:
            # with its own endpoint, whether it is an emulator is this block's say
            values["storage_emulator"] = self.storage_emulator
        values.update(overrides)
        return GCPSettings.from_env(**values)

    def provider(self, **overrides: Any) -> GCPProvider:
        """A GCPProvider with these settings; unset credentials mean ADC."""
        from providers.gcp import GCPProvider

        credentials = overrides.pop("credentials", None)
        return GCPProvider(self.settings(**overrides), credentials=credentials)
