"""Azure: Blob Storage, Monitor, Key Vault, Virtual Machines, SQL Database, Cost Management.

`from providers.azure import AzureProvider` imports no Azure SDK; each service module
imports its SDK when the provider first builds it.
"""

from providers.azure.provider import AzureProvider, AzureSettings

__all__ = ["AzureProvider", "AzureSettings"]
