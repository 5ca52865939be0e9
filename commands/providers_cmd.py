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

    rows = []
    for info in default_registry().infos():
        installed = info.sdk_installed()
        rows.append(
            {
                "name": info.name,
                "source": info.source,
                "sdk_installed": installed,
                "extra": info.extra,
                "credentials": info.credentials_found(),
            }
        )
    if json_output:
        emit_json(rows)
        return
    table = Table(title="Providers")
    for col in ("provider", "SDK", "credentials", "source"):
        table.add_column(col)
    for r in rows:
        sdk = (
            "[green]installed[/]"
            if r["sdk_installed"]
            else f"[red]missing[/] (pip install 'specify-cloud[{r['extra']}]')"
        )
        cred = {True: "[green]found[/]", False: "[yellow]not found[/]"}.get(r["credentials"], "-")  # type: ignore[call-overload]
        table.add_row(str(r["name"]), sdk, cred, str(r["source"]))
    console.print(table)
