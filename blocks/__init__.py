"""Prefect blocks for specify-cloud: `prefect block register -m blocks` registers them all.

`open_location` opens any location, resolving `block:NAME/prefix` through the saved
block (a Specify block or a prefect-aws/gcp/azure credentials or bucket block; see
blocks.resolve for the order). The cloud blocks need their extra (`specify-cloud[aws]`
brings prefect-aws, and so on); a block module whose package is missing is left out.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blocks.base import ProviderBlock
from blocks.local import SpecifyLocal
from blocks.resolve import (
    as_provider_block,
    block_class,
    find_block,
    saved_types,
    supported_slugs,
    supported_types,
)
from providers.base import CloudProvider, CloudStorage
from providers.errors import ConfigurationError
from providers.locations import Location, parse_location
from providers.locations import open_location as open_url_location

if TYPE_CHECKING:
    from blocks.aws import SpecifyAWS
    from blocks.azure import SpecifyAzure
    from blocks.gcp import SpecifyGCP

#: the cloud blocks, imported on first use: each imports its prefect-* package, which
#: takes seconds, so opening a local or S3 location does not pay for the other clouds
_LAZY = {"SpecifyAWS": "blocks.aws", "SpecifyGCP": "blocks.gcp", "SpecifyAzure": "blocks.azure"}


def block_types() -> list[type[ProviderBlock]]:
    """The Specify block types whose cloud's extra is installed, specify-local first."""
    out: list[type[ProviderBlock]] = []
    for slug in supported_slugs():
        cls = block_class(slug) if slug.startswith("specify-") else None
        if cls is not None and issubclass(cls, ProviderBlock):
            out.append(cls)
    return out


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "BLOCK_TYPES":
        return block_types()
    raise AttributeError(f"module 'blocks' has no attribute {name!r}")


def __dir__() -> list[str]:
    # `prefect block register -m blocks` lists the module's members: the lazy ones too
    return sorted({*globals(), *_LAZY, "BLOCK_TYPES"})


def load_provider_block(name: str, block_type: str = "") -> ProviderBlock:
    """The saved block called name (`TYPE:NAME` names the type) as a ProviderBlock."""
    if not block_type and ":" in name:
        block_type, _, name = name.rpartition(":")
    return as_provider_block(find_block(name, block_type))


@dataclass(frozen=True)
class Resolved:
    """Where a location leads: the provider, its store, and the prefix inside it."""

    provider: CloudProvider
    storage: CloudStorage
    prefix: str

    @property
    def uri(self) -> str:
        """The concrete location, e.g. s3://bucket/prefix (also for block: locations)."""
        return self.storage.uri(self.prefix)


def _first_segment(loc: Location) -> tuple[str, str]:
    bucket, _, rest = loc.prefix.partition("/")
    if not bucket:
        raise ConfigurationError(
            f"'{loc}' names no bucket: block '{loc.bucket}' holds credentials only",
            operation="open location",
            resource=str(loc),
            hint=f"Give the bucket after the block name: block:{loc.bucket}/BUCKET/prefix, "
            "or save a bucket/container in the block",
        )
    return bucket, rest


def resolve_location(location: Location | str) -> Resolved:
    """The provider, storage and prefix of any location (parsed here if given as text).

    For a block that names no bucket (a credentials block), the first path segment of the
    location is the bucket: `block:my-aws-creds/BUCKET/prefix`.
    """
    loc = parse_location(location) if isinstance(location, str) else location
    if not loc.is_block:
        from providers.registry import get_provider

        storage, prefix = open_url_location(loc)
        return Resolved(get_provider(loc.provider), storage, prefix)
    block = load_provider_block(loc.bucket, loc.block_type)
    provider = block.provider()
    bucket = block.default_bucket()
    rest = loc.prefix
    if not bucket:
        bucket, rest = _first_segment(loc)
    base = block.base_prefix()
    prefix = f"{base}/{rest}" if base and rest else (base or rest)
    return Resolved(provider, provider.get_storage(bucket), prefix)


def open_location(location: Location | str) -> tuple[CloudStorage, str]:
    """Storage and prefix for any location, loading the Prefect block for block: locations."""
    resolved = resolve_location(location)
    return resolved.storage, resolved.prefix


__all__ = [
    "BLOCK_TYPES",
    "ProviderBlock",
    "Resolved",
    "SpecifyAWS",
    "SpecifyAzure",
    "SpecifyGCP",
    "SpecifyLocal",
    "as_provider_block",
    "block_types",
    "find_block",
    "load_provider_block",
    "open_location",
    "resolve_location",
    "saved_types",
    "supported_types",
]
