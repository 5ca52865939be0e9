"""Google Cloud provider. Importing this package imports no Google SDK."""

from providers.gcp.provider import GCPProvider

__all__ = ["GCPProvider"]
