"""The Typer apps. Feature modules attach their commands to `cloud`.

Command modules import only typer/rich at module level; providers' SDKs, pandas and
Prefect are imported inside command bodies so `specify --help` stays fast.
"""

from __future__ import annotations

import os

import typer

app = typer.Typer(
    name="specify",
    help="specify-cloud: multi-cloud operations for AWS, GCP, Azure and the local disk.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cloud = typer.Typer(
    help="Replicate storage, compare costs and deploy across clouds.",
    no_args_is_help=True,
)
app.add_typer(cloud, name="cloud")


@app.callback()
def _telemetry() -> None:
    """Export traces and metrics over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from providers.telemetry import configure_telemetry

        configure_telemetry()
