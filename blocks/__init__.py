"""Prefect blocks for specify-cloud: `prefect block register -m blocks` registers them all.

`open_location` resolves `block:NAME/prefix` locations for commands and flows.
"""

from __future__ import annotations

from blocks.aws import SpecifyAWS
from blocks.base import ProviderBlock
from blocks.local import SpecifyLocal
from providers.base import CloudStorage
from providers.errors import ConfigurationError
from providers.locations import Location, parse_location
from providers.locations import open_location as open_url_location

BLOCK_TYPES: list[type[ProviderBlock]] = [SpecifyLocal, SpecifyAWS]


def load_provider_block(name: str) -> ProviderBlock:
    """The saved block called name, whichever specify-cloud block type it is."""
    for block_type in BLOCK_TYPES:
        try:
            block = block_type.load(name, validate=True)
        except ValueError:
            continue
        assert isinstance(block, ProviderBlock)
        return block
    slugs = ", ".join(t.get_block_type_slug() for t in BLOCK_TYPES)
    raise ConfigurationError(
        f"no saved block named '{name}' of the types {slugs}",
        operation="load block",
        resource=name,
        hint="List blocks with `prefect block ls`; create them with `specify cloud blocks init`",
    )


def open_location(location: Location | str) -> tuple[CloudStorage, str]:
    """Storage and prefix for any location, loading the Prefect block for block: locations."""
    loc = parse_location(location) if isinstance(location, str) else location
    if not loc.is_block:
        return open_url_location(loc)
    block = load_provider_block(loc.bucket)
    return block.provider().get_storage(block.default_bucket()), loc.prefix


__all__ = [
    "BLOCK_TYPES",
    "ProviderBlock",
    "SpecifyAWS",
    "SpecifyLocal",
    "load_provider_block",
    "open_location",
]
