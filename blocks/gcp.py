"""The GCP credentials block: prefect-gcp's field names plus this project's settings.

Empty credential fields fall back to Application Default Credentials (and the standard
Google environment), exactly like GCPProvider with no arguments. The service-account key
is a SecretDict: shown as ******** in the UI, the API, `prefect block inspect` and repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.types import SecretDict
from pydantic import Field

from blocks.base import ProviderBlock

if TYPE_CHECKING:
    from providers.gcp import GCPProvider


class SpecifyGCP(ProviderBlock):
    """Credentials and settings for Google Cloud; `.provider()` builds a GCPProvider."""

    _block_type_name = "Specify GCP"
    _block_type_slug = "specify-gcp"
    _description = (
        "Google Cloud credentials (service-account key or Application Default Credentials) "
        "and specify-cloud settings: bucket, zone, BigQuery billing export."
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
    zone: str | None = Field(default=None, description="Compute Engine zone, e.g. us-central1-a.")
    billing_project: str | None = Field(
        default=None, description="Project holding the billing export dataset."
    )
    billing_dataset: str | None = Field(default=None, description="Billing export dataset.")
    billing_table: str | None = Field(
        default=None, description="Billing export table, gcp_billing_export_v1_<ACCOUNT>."
    )

    def provider(self, **overrides: Any) -> GCPProvider:
        """A GCPProvider with these settings; unset credentials mean ADC."""
        from providers.gcp import GCPProvider

        info = self.service_account_info.get_secret_value() if self.service_account_info else None
        settings: dict[str, Any] = {
            "bucket": self.bucket,
            "zone": self.zone,
            "service_account_info": info or None,
            "service_account_file": self.service_account_file,
            "impersonate_service_account": self.impersonate_service_account,
            "billing_project": self.billing_project,
            "billing_dataset": self.billing_dataset,
            "billing_table": self.billing_table,
        }
        settings.update(overrides)
        return GCPProvider(self.project, **settings)
