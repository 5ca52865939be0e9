"""Entry point of the `specify` console script.

Importing a command module registers its commands on the `cloud` app; each keeps its
heavy imports (SDKs, pandas, Prefect) inside the command bodies.
"""

from __future__ import annotations

from commands import (  # noqa: F401
    blocks,
    cost,
    demo,
    deploy,
    mb,
    providers_cmd,
    replicate,
    ui,
)
from commands.app import app

__all__ = ["app"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
