"""Entry point of the `specify` console script."""

from __future__ import annotations

import commands.blocks  # registers `specify cloud blocks init`
import commands.cost  # registers `specify cloud cost`
import commands.deploy  # registers `specify cloud deploy|destroy|status`
import commands.replicate  # registers replicate, download, verify
import commands.ui  # noqa: F401  (registers `specify cloud ui`)
from commands import providers_cmd  # noqa: F401  (registers `specify cloud providers`)
from commands.app import app

__all__ = ["app"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
