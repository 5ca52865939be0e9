"""`specify cloud mb LOCATION`: make the bucket or container a location names.

Like `rclone mkdir` / `gsutil mb`: s3://bucket, gs://bucket, az://container, a local
directory, or block:NAME (the block's bucket; block:NAME/BUCKET for a credentials block).
An existing bucket is left as it is. Exit 2 on a bad location, 1 when the cloud refuses.
"""

from __future__ import annotations

from typing import Any

import typer

from commands.app import cloud
from commands.locations import location_arg, open_store
from commands.output import bad_input, cli_errors, console, emit_json


def make_bucket(storage: Any) -> bool | None:
    """Create the store's bucket; True when created, False when it existed, None when the
    store cannot tell (GCS creation is idempotent and says neither)."""
    from pathlib import Path

    from providers.local.storage import LocalStorage

    if isinstance(storage, LocalStorage):
        root = Path(storage.root)
        existed = root.is_dir()
        root.mkdir(parents=True, exist_ok=True)
        return not existed
    ensure = getattr(storage, "ensure_container", None)  # Azure Blob Storage
    if ensure is not None:
        return bool(ensure())
    result = storage.create_bucket()  # S3: exist_ok by default; GCS: idempotent
    return None if result is None else bool(result)


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
    storage, _ = open_store(loc)
    created = make_bucket(storage)
    uri = storage.uri("")
    if json_output:
        emit_json({"location": str(loc), "bucket": uri, "created": created})
        return
    if created is False:
        console.print(f"{uri} already exists", highlight=False)
    else:
        console.print(f"made {uri}", highlight=False)
