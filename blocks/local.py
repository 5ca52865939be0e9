"""Block for the embedded local provider (a directory on the machine running the flow)."""

from __future__ import annotations

from pydantic import Field

from blocks.base import ProviderBlock
from providers.local.provider import LocalProvider


class SpecifyLocal(ProviderBlock):
    """A local "cloud" rooted at a directory."""

    _block_type_name = "Specify Local"
    _block_type_slug = "specify-local"
    _description = "The embedded local provider of specify-cloud, rooted at a directory."

    root: str = Field(default="", description="Root directory; empty uses SPECIFY_LOCAL_ROOT.")
    bucket: str = Field(default="default", description="Bucket used when none is named.")

    def provider(self) -> LocalProvider:
        return LocalProvider(root=self.root or None, bucket=self.bucket)
