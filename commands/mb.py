"""`specify cloud mb LOCATION`: make the bucket or container a location names.

Like `rclone mkdir` / `gsutil mb`: s3://bucket, gs://bucket, az://container, a local
directory, or block:NAME (the block's bucket; block:NAME/BUCKET for a credentials block).
An existing bucket is left as it is. Exit 2 on a bad location, 1 when the cloud refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from commands.app import cloud
from commands.locations import location_arg, open_store
from commands.output import bad_input, cli_errors, console, emit_json


def make_bucket(storage: Any) -> bool:
    """Create the store's bucket: True when created, False when it existed already. Every
    store names this create_bucket (providers.base.SupportsBuckets), with one meaning."""
    from providers.base import SupportsBuckets

    if not isinstance(storage, SupportsBuckets):
        bad_input("LOCATION", f"{storage.uri('')} cannot create its bucket")
    return storage.create_bucket(exist_ok=True)


@cloud.command("mb")
@cli_errors
def mb(
    location: str = typer.Argument(
        ...,
        help="s3://bucket, gs://bucket, az://container, a directory, or block:NAME",
    ),
    json_output: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Make the bucket (or container, or directory) LOCATION names; keep it if it exists."""
    loc = location_arg("LOCATION", location)
    if loc.prefix and not loc.is_block and loc.provider != "local":
        bad_input(
            "LOCATION",
            f"'{loc}' has a prefix; mb makes a bucket or container: give "
            f"{str(loc)[: -len(loc.prefix) - 1]}",
        )
    # a local store may make its directory when it is opened: ask the disk first
    existed = loc.provider == "local" and Path(loc.bucket).is_dir()
    storage, _ = open_store(loc)
    created = make_bucket(storage)
    if loc.provider == "local":
        created = not existed
    uri = storage.uri("")
    if json_output:
        emit_json({"location": str(loc), "bucket": uri, "created": created})
        return
    if not created:
        console.print(f"{uri} already exists", highlight=False)
    else:
        console.print(f"made {uri}", highlight=False)
