"""The base of every specify-cloud block: saved settings that build a CloudProvider."""

from __future__ import annotations

from abc import abstractmethod

from prefect.blocks.core import Block

from providers.base import CloudProvider


class ProviderBlock(Block):
    """A Prefect block that knows how to build its provider."""

    _block_schema_capabilities = ["build-provider"]

    @abstractmethod
    def provider(self) -> CloudProvider:
        """Build the provider these settings describe."""

    def default_bucket(self) -> str | None:
        """The bucket/container used when a location names only the block."""
        return getattr(self, "bucket", None) or getattr(self, "container", None)
