"""`specify cloud ui`: a local Prefect server plus the served deployments, in one step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from commands.app import cloud
from commands.output import console, fail

DEFAULT_HOME = Path.home() / ".specify-cloud" / "prefect"


@cloud.command("ui")
def ui(
    port: int = typer.Option(4200, "--port", help="Port of the Prefect server (127.0.0.1)."),
    home: Path = typer.Option(
        DEFAULT_HOME, "--home", help="Server home: its SQLite database and logs live here."
    ),
    blocks: bool = typer.Option(
        True, "--blocks/--no-blocks", help="Save blocks from the environment first."
    ),
) -> None:
    """Start a Prefect server and serve the deployments; Ctrl-C stops both."""
    from deployments.server import PrefectServer, ServerError, stop_group

    server = PrefectServer(home, port=port)
    console.print(f"Starting the Prefect server (database {server.db_url}) ...")
    try:
        server.start()
    except ServerError as exc:
        fail(str(exc))
    env = {**os.environ, **server.client_env()}
    serve: subprocess.Popen[bytes] | None = None
    try:
        if blocks:
            _init_blocks(server.api_url)
        log = open(server.home / "serve.log", "ab")  # noqa: SIM115 (lives as long as serve)
        serve = subprocess.Popen(
            [sys.executable, "-m", "deployments.serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        )
        console.print(f"[bold green]Prefect UI:[/] {server.url}")
        console.print(f"Deployments: {server.url}/deployments   (logs in {server.home})")
        console.print(f"Other shells: export PREFECT_API_URL={server.api_url}")
        console.print("Press Ctrl-C to stop the server and the deployments.")
        while serve.poll() is None and server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        fail(f"a process exited early; see {server.home}/serve.log and server.log")
    except KeyboardInterrupt:
        console.print("Stopping ...")
    finally:
        if serve is not None:
            stop_group(serve)
        server.stop()


def _init_blocks(api_url: str) -> None:
    """Save blocks from this environment (always specify-local) on the new server."""
    os.environ["PREFECT_API_URL"] = api_url  # before Prefect is imported by blocks
    from blocks.from_env import plan_blocks, save_blocks

    saved = save_blocks(plan_blocks(dict(os.environ)))
    console.print("Blocks saved: " + ", ".join(f"{p.name} ({p.slug})" for p in saved))
