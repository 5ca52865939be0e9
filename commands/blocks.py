"""`specify cloud blocks init`: save credential blocks so flows need only block names."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from commands.app import cloud
from commands.output import bad_input, cli_errors, console, emit_json

blocks_app = typer.Typer(help="Prefect blocks holding cloud settings.", no_args_is_help=True)
cloud.add_typer(blocks_app, name="blocks")


@blocks_app.command("init")
@cli_errors
def init(
    from_env: bool = typer.Option(
        False, "--from-env", help="From this environment's cloud variables (the default)."
    ),
    emulators: Path | None = typer.Option(
        None,
        "--emulators",
        metavar="STATE_DIR",
        help="From the emulator harness state (`python -m tests.emulators up`): blocks "
        "pointing at moto, the GCS emulator and Azurite, for a local trial.",
    ),
    bucket: str = typer.Option("specify-cloud", "--bucket", help="Bucket/container in each."),
    prefix: str = typer.Option("specify", "--name-prefix", help="Blocks are PREFIX-<cloud>."),
    local_root: str = typer.Option("", "--local-root", help="Root of the specify-local block."),
    json_output: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Create a block per configured cloud (and always specify-local); say which."""
    import os

    if from_env and emulators is not None:
        bad_input("--emulators", "use either --from-env or --emulators, not both")
    from blocks.from_env import emulator_env, plan_blocks, save_blocks

    env = emulator_env(emulators) if emulators is not None else dict(os.environ)
    planned = plan_blocks(env, bucket=bucket, name_prefix=prefix, local_root=local_root)
    save_blocks(planned)
    rows = [
        {
            "cloud": p.cloud,
            "name": p.name,
            "type": p.slug,
            "created": p.block is not None,
            "from": p.variables,
            "reason": p.reason,
        }
        for p in planned
    ]
    if json_output:
        emit_json(rows)
        return
    table = Table(title="Blocks" + (f" for the emulators in {emulators}" if emulators else ""))
    for col in ("block", "type", "status", "from"):
        table.add_column(col)
    for r in rows:
        status = "[green]created[/]" if r["created"] else f"[yellow]skipped[/]: {r['reason']}"
        table.add_row(str(r["name"]), str(r["type"]), status, ", ".join(r["from"]))  # type: ignore[arg-type]
    console.print(table)
    made = [str(r["name"]) for r in rows if r["created"]]
    console.print(f"Use them by name, e.g. [bold]block:{made[0]}/prefix[/] as a location.")
    console.print(
        f"Make a block's bucket (if it does not exist yet) with "
        f"[bold]specify cloud mb block:{made[0]}[/]."
    )
