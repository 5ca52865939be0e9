"""The Typer apps. Feature modules attach their commands to `cloud`.

Command modules import only typer/rich at module level; providers' SDKs, pandas and
Prefect are imported inside command bodies so `specify --help` stays fast.
"""

from __future__ import annotations

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
