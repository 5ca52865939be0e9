"""Prefect Block classes that build providers. Importing this package does not import Prefect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from providers.base import CloudStorage
    from providers.locations import Location


def open_location(location: Location | str) -> tuple[CloudStorage, str]:
    """The storage and key prefix of `block:NAME/prefix`: the saved block NAME's storage.

    The block is found by name whatever its type; it must offer `get_storage()` or
    `get_provider()` (whose provider's `get_storage()` is used).
    """
    from providers.errors import ConfigurationError
    from providers.locations import open_location as open_plain
    from providers.locations import parse_location

    loc = parse_location(location) if isinstance(location, str) else location
    if not loc.is_block:
        return open_plain(loc)
    from prefect.blocks.core import Block
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        docs = [d for d in client.read_block_documents() if d.name == loc.bucket]
    if len(docs) != 1:
        found = "no block" if not docs else f"{len(docs)} blocks"
        raise ConfigurationError(
            f"{found} named '{loc.bucket}' on the Prefect server",
            operation="open location",
            resource=str(loc),
            hint="List blocks with `prefect block ls`; names must be unique across types",
        )
    slug = docs[0].block_type.slug if docs[0].block_type else ""
    block: Any = Block.load(f"{slug}/{loc.bucket}")
    if hasattr(block, "get_storage"):
        storage: CloudStorage = block.get_storage()
    elif hasattr(block, "get_provider"):
        storage = block.get_provider().get_storage()
    else:
        raise ConfigurationError(
            f"block '{loc.bucket}' ({slug}) does not describe storage",
            operation="open location",
            hint="Use a cloud credentials block of specify-cloud",
        )
    return storage, loc.prefix
