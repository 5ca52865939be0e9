"""The base of every specify-cloud block: saved settings that build a CloudProvider.

ProviderBlock is an interface (an ABC, like Prefect's own CredentialsBlock), so Prefect
does not register it: the catalog shows only the concrete Specify blocks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from prefect.blocks.core import Block
from pydantic import PrivateAttr

from providers.base import CloudProvider

#: Prefect's documentation of blocks; each block links to its section of docs/prefect.md
DOCS_URL = "https://github.com/specify-cloud/specify-cloud/blob/main/docs/prefect.md"


class ProviderBlock(Block, ABC):
    """A Prefect block that knows how to build its provider."""

    _block_schema_capabilities: ClassVar[list[str]] = ["build-provider"]
    #: a folder inside the bucket that every location of this block starts in (set when
    #: a prefect-* bucket block is read as a Specify block; never saved)
    _base_prefix: str = PrivateAttr(default="")

    @abstractmethod
    def settings(self) -> Any:
        """The provider's settings value (AWSSettings, GCPSettings, ...)."""

    @abstractmethod
    def provider(self) -> CloudProvider:
        """Build the provider these settings describe."""

    def default_bucket(self) -> str | None:
        """The bucket/container used when a location names only the block."""
        return getattr(self, "bucket", None) or getattr(self, "container", None)

    def base_prefix(self) -> str:
        """The folder inside the default bucket that locations of this block start in."""
        return self._base_prefix.strip("/")
