"""The embedded default provider: every service on the local disk, no cloud account."""
