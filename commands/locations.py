"""Locations on the command line: parsed once, at the edge, into Location values.

A bad location exits 2 naming the argument or option before any work starts; the parsed
value then travels down to where its store opens. Prefect is imported only to open a
`block:` location.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from commands.output import bad_input

if TYPE_CHECKING:
    from providers.base import CloudStorage
    from providers.locations import Location


def location_arg(field: str, text: str) -> Location:
    """text parsed as a location; exit 2 naming field when it is not one."""
    from providers.errors import ConfigurationError
    from providers.locations import parse_location

    try:
        return parse_location(text)
    except ConfigurationError as exc:
        bad_input(field, str(exc))


def locations_option(field: str, text: str) -> list[Location]:
    """A comma-separated list of locations, each parsed once; at least one."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        bad_input(field, "give at least one location, comma-separated")
    return [location_arg(field, t) for t in items]


def open_store(loc: Location) -> tuple[CloudStorage, str]:
    """Storage and prefix of a parsed location (blocks.open_location for block: ones)."""
    if loc.is_block:
        from blocks import open_location as open_block

        return open_block(loc)
    from providers.locations import open_location

    return open_location(loc)


def open_source(field: str, loc: Location) -> tuple[CloudStorage, str]:
    """Like open_store, but a local source directory must exist (a typo is not 'empty')."""
    from pathlib import Path

    if loc.provider == "local" and not Path(loc.bucket).is_dir():
        bad_input(field, f"{loc.bucket} is not a directory; check the path")
    return open_store(loc)
