"""Rich consoles and the one way the CLI reports a user's mistake."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from . import exit_codes

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = exit_codes.BAD_INPUT) -> NoReturn:
    """Print ``message`` (one problem per line) to stderr and exit with ``code``, no traceback."""
    for line in message.splitlines() or [message]:
        err_console.print(f"[bold red]error:[/] {line}", markup=True, soft_wrap=True)
    raise typer.Exit(code)
