"""The minimal IAM roles the GCP provider needs, as one list.

docs/iam/gcp-roles.yaml is generated from ROLES (`python -m providers.gcp.iam >
docs/iam/gcp-roles.yaml`); a test fails when the file and this list disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    role: str
    service: str
    used_for: str
    scope: str = "project"
    optional: bool = False


ROLES: tuple[Role, ...] = (
    Role(
        "roles/storage.objectAdmin",
        "storage",
        "upload, download, list, delete objects",
        scope="bucket",
    ),
    Role("roles/storage.admin", "storage", "create buckets, turn on versioning", optional=True),
    Role(
        "roles/iam.serviceAccountTokenCreator",
        "storage",
        "sign URLs through IAM signBlob when no key file is used",
        scope="service account",
        optional=True,
    ),
    Role("roles/monitoring.metricWriter", "metrics", "write custom time series"),
    Role("roles/monitoring.viewer", "metrics", "read time series back"),
    Role("roles/logging.logWriter", "logging", "write log entries"),
    Role("roles/logging.viewer", "logging", "list log entries"),
    Role("roles/secretmanager.admin", "secrets", "create secrets, add versions, delete"),
    Role("roles/compute.instanceAdmin.v1", "compute", "insert, get, list, delete instances"),
    Role("roles/compute.securityAdmin", "compute", "create the firewall rule for a port"),
    Role("roles/cloudsql.admin", "database", "create, get, delete Cloud SQL instances"),
    Role("roles/bigquery.jobUser", "cost", "run the billing export query"),
    Role("roles/bigquery.dataViewer", "cost", "read the billing export table", scope="dataset"),
)


def render_yaml() -> str:
    """The YAML document of docs/iam/gcp-roles.yaml."""
    lines = [
        "# Generated from providers/gcp/iam.py (ROLES): do not edit by hand.",
        "# Regenerate: python -m providers.gcp.iam > docs/iam/gcp-roles.yaml",
        "provider: gcp",
        "roles:",
    ]
    for r in ROLES:
        lines += [
            f"  - role: {r.role}",
            f"    service: {r.service}",
            f"    scope: {r.scope}",
            f"    optional: {'true' if r.optional else 'false'}",
            f'    used_for: "{r.used_for}"',
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render_yaml(), end="")
