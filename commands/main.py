"""Entry point of the `specify` console script."""

from __future__ import annotations

import commands.deploy  # noqa: F401  (registers `specify cloud deploy|destroy|status`)
import commands.replicate  # noqa: F401  (registers replicate, download, verify)
from commands import providers_cmd  # noqa: F401  (registers `specify cloud providers`)
from commands.app import app

__all__ = ["app"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
