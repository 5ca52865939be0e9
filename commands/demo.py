"""`specify cloud demo`: the main jobs on the embedded local provider, no cloud account.

It runs the real commands in order, so what it prints is what a user of each sees.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from commands.app import app, cloud
from commands.output import EXIT_OK, cli_errors, console, fail


def _run(*args: str) -> None:
    """Run `specify ARGS` in this process; stop the demo when a step fails."""
    console.rule(f"[bold]specify {' '.join(args)}", align="left")
    command = typer.main.get_command(app)
    code = command.main(list(args), prog_name="specify", standalone_mode=False)
    if code not in (None, EXIT_OK):
        fail(f"demo step failed: specify {' '.join(args)}", int(code))


@cloud.command("demo")
@cli_errors
def demo(
    directory: Path = typer.Option(
        Path.home() / ".specify-cloud" / "demo", "--dir", help="Where the demo writes"
    ),
) -> None:
    """Compare sample bills, replicate the report to two local clouds, read with failover."""
    root = directory.expanduser().resolve()
    shutil.rmtree(root, ignore_errors=True)
    report, primary, backup = root / "cost-report", root / "cloud-a", root / "cloud-b"

    _run("cloud", "cost", "--sample", "--report", str(report))
    _run("cloud", "replicate", str(report), "--to", f"{primary},{backup}")
    _run("cloud", "verify", str(report), "--to", f"{primary},{backup}")

    # lose the primary copy, then read through failover: the backup serves it
    (primary / "cost-report.html").unlink()
    _run(
        "cloud",
        "download",
        "cost-report.html",
        str(root / "restored" / "cost-report.html"),
        "--from",
        f"{primary},{backup}",
    )
    restored = root / "restored" / "cost-report.html"
    console.print(
        f"\n[green]done[/]: open {restored} (the cost report, read back from "
        f"{backup.name} after {primary.name} lost it)"
    )
