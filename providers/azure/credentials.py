"""The Azure credential every Azure module may fall back to.

A module of its own so that the provider and the service modules (Blob Storage builds its
client without a provider) both import it, and neither imports the other.
"""

from __future__ import annotations

from typing import Any

from providers.errors import sdk_missing


def default_credential() -> Any:
    """DefaultAzureCredential (environment, workload/managed identity, Azure CLI…)."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise sdk_missing("azure", "azure-identity", "azure") from exc
    return DefaultAzureCredential()
