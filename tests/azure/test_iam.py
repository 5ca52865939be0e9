"""docs/iam/azure-roles.yaml stays in sync with the list in providers/azure/iam.py."""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml

from providers.azure import compute, cost, database, logs, metrics, secrets, storage
from providers.azure.iam import ROLE_ASSIGNMENTS, render_yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "iam" / "azure-roles.yaml"


def test_doc_is_generated_from_the_list() -> None:
    assert DOC.read_text() == render_yaml(), "run: python -m providers.azure.iam > " + str(DOC)
    parsed = yaml.safe_load(DOC.read_text())
    assert [r["role"] for r in parsed["role_assignments"]] == [a.role for a in ROLE_ASSIGNMENTS]


def test_every_listed_operation_exists() -> None:
    classes = {
        "storage": storage.AzureBlobStorage,
        "metrics": metrics.AzureMonitorMetrics,
        "logs": logs.AzureMonitorLogs,
        "secrets": secrets.AzureKeyVaultSecrets,
        "compute": compute.AzureVirtualMachines,
        "database": database.AzureSqlDatabase,
        "cost": cost.AzureCostManagement,
    }
    public = {
        name
        for cls in classes.values()
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    } | {"deploy"}
    for a in ROLE_ASSIGNMENTS:
        assert set(a.operations) <= public, (a.role, set(a.operations) - public)
        assert set(a.services) <= {*classes, "deploy"}
    covered = {s for a in ROLE_ASSIGNMENTS for s in a.services}
    assert covered == {*classes, "deploy"}
