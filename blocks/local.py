"""Block for the embedded local provider (a directory on the machine running the flow)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, HttpUrl

from blocks.base import ProviderBlock
from providers.local.provider import LocalProvider

#: Prefect's own logo for file-system blocks (LocalFileSystem uses it too)
FILESYSTEM_LOGO = (
    "https://raw.githubusercontent.com/PrefectHQ/prefect/"
    "420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/filesystem.png"
)


class SpecifyLocal(ProviderBlock):
    """A local "cloud" rooted at a directory.

    Example:
        Load a saved block and list a bucket:
        ```python
        from blocks.local import SpecifyLocal

        local = SpecifyLocal.load("BLOCK_NAME")
        for obj in local.provider().get_storage().list_objects("reports/"):
            print(obj.key, obj.size)
        ```
    """

    _block_type_name: ClassVar[str] = "Specify Local"
    _block_type_slug: ClassVar[str] = "specify-local"
    _logo_url = HttpUrl(FILESYSTEM_LOGO)
    _documentation_url = HttpUrl("https://docs.prefect.io/v3/concepts/blocks")
    _description: ClassVar[str] = (
        "The embedded local provider of specify-cloud: buckets are directories under a "
        "root on the machine that runs the flow."
    )

    root: str = Field(default="", description="Root directory; empty uses SPECIFY_LOCAL_ROOT.")
    bucket: str = Field(default="default", description="Bucket used when none is named.")

    def settings(self) -> dict[str, str | None]:
        """The LocalProvider arguments (the local provider has no settings type)."""
        return {"root": self.root or None, "bucket": self.bucket}

    def provider(self) -> LocalProvider:
        return LocalProvider(root=self.root or None, bucket=self.bucket)
