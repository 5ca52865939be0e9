"""Shared CLI output and exit codes: 0 ok, 1 operation failed, 2 bad input."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from providers.errors import CloudError, ConfigurationError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def emit_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def bad_input(field: str, message: str) -> NoReturn:
    """Exit 2 with a message that names the offending option or argument."""
    fail(f"{field}: {message}", EXIT_BAD_INPUT)


def cli_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn CloudErrors into a one-line message and the right exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConfigurationError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        except CloudError as exc:
            fail(str(exc), EXIT_FAILED)

    return wrapper
