"""`specify cloud providers`: what is registered, installed and configured."""

from __future__ import annotations

import typer
from rich.table import Table

from commands.app import cloud
from commands.output import cli_errors, console, emit_json


@cloud.command("providers")
@cli_errors
def providers(json_output: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List providers: whether each SDK is installed and credentials are found."""
    from providers.registry import default_registry

    infos = default_registry().infos()
    if json_output:
        emit_json(
            [
                {
                    "name": i.name,
                    "source": i.source,
                    "sdk_installed": i.sdk_installed(),
                    "extra": i.extra,
                    "credentials": i.credentials_found(),
                }
                for i in infos
            ]
        )
        return
    credentials = {True: "[green]found[/]", False: "[yellow]not found[/]", None: "-"}
    table = Table(title="Providers")
    for col in ("provider", "SDK", "credentials", "source"):
        table.add_column(col)
    for i in infos:
        sdk = (
            "[green]installed[/]"
            if i.sdk_installed()
            else f"[red]missing[/] (pip install 'specify-cloud[{i.extra}]')"
        )
        table.add_row(i.name, sdk, credentials[i.credentials_found()], i.source)
    console.print(table)
