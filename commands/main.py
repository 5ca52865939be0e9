"""Entry point of the `specify` console script."""

from __future__ import annotations

import commands.cost  # noqa: F401, RUF100  (registers `specify cloud cost`)
import commands.deploy  # noqa: F401  (registers `specify cloud deploy|destroy|status`)
from commands import providers_cmd  # noqa: F401  (registers `specify cloud providers`)
from commands import replicate as replicate_cmd  # noqa: F401  (replicate, download, verify)
from commands.app import app

__all__ = ["app"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
