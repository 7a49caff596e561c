"""Rich consoles and the one way the CLI reports a user's mistake."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from . import exit_codes

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


#: Set when standard output was closed by its reader (`bprop train … | head`): what is printed
#: from then on goes nowhere, and a command that trains stops as if interrupted, its files
#: complete, instead of dying in the middle of a write.
OUTPUT_CLOSED = threading.Event()


class LazyConsole:
    """A Rich console made on first use, so that `bprop --help` never imports Rich's console."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            class _Console(Console):
                def on_broken_pipe(self) -> None:
                    """Standard output went away: write on into /dev/null (Rich's way) and say
                    so through `OUTPUT_CLOSED`, instead of Rich's exit with status 1."""
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                    OUTPUT_CLOSED.set()

            self._console = _Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console = LazyConsole(highlight=False)
err_console = LazyConsole(stderr=True, highlight=False)


#: An error shows at most this many lines of at most this many characters (a message quoting a
#: user's input must not flood the terminal).
MAX_LINES, MAX_LINE = 40, 400
#: A line cut to MAX_LINE characters keeps its last this many: a message ends with its fix.
KEPT_TAIL = 120


def bounded(message: str) -> list[str]:
    """``message``'s lines, at most MAX_LINES of them, each cut to MAX_LINE characters: its
    beginning and its last KEPT_TAIL characters, with how many characters were left out."""
    lines = message.splitlines() or [message]
    shown = [_cut(line) for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"… and {len(lines) - MAX_LINES:,} more lines")
    return shown


def _cut(line: str) -> str:
    if len(line) <= MAX_LINE:
        return line
    head = MAX_LINE - KEPT_TAIL
    left_out = len(line) - MAX_LINE
    return f"{line[:head]} … [{left_out:,} more characters] … {line[-KEPT_TAIL:]}"


def fail(message: str, code: int = exit_codes.BAD_INPUT) -> NoReturn:
    """Print ``message`` (one problem per line) to stderr and exit with ``code``, no traceback."""
    from rich.markup import escape

    for line in bounded(message):
        shown = escape(printable(line))
        err_console.print(f"[bold red]error:[/] {shown}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def printable(text: str) -> str:
    """``text`` with each character a terminal would act on (escape, newline, …) spelled as its
    escape sequence: a name read from disk is shown, never obeyed."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def strict_json(document: Any) -> str:
    """``document`` as JSON that every parser reads: non-finite numbers as null."""

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    return json.dumps(finite(document), allow_nan=False)


def warning(message: str, where: str = "") -> None:
    """``message`` as one warning line (of the run or epoch ``where``), printed as it is
    written: never read as markup, control characters and newlines escaped."""
    from rich.text import Text

    line = Text("warning", style="yellow")
    said = _cut(printable(message))  # one line, however many the message held
    line.append(f" ({printable(where)}): {said}" if where else f": {said}")
    console.print(line, soft_wrap=True)


def in_config(config: Any, exc: Exception, overrides: Sequence[str] = ()) -> str:
    """The message of ``exc``, naming where a key's value came from (the config file, or --set
    for a key one of ``overrides`` set) when it is a config problem found after validation (one
    that needs the data: a batch larger than the training split, an output layer unlike the
    classes) and does not name the file yet."""
    import re

    from ..config.loading import located
    from ..errors import ConfigError

    text = str(exc)
    if not isinstance(exc, ConfigError) or text.startswith(str(config)):
        return text
    lines = []
    for line in text.splitlines():
        keyed = re.match(r"([\w-]+(?:\.[\w-]+)*): (.*)", line)
        if keyed:
            lines.append(f"{located(keyed[1], str(config), overrides)}: {keyed[2]}")
        else:
            lines.append(f"{config}: {line}")
    return "\n".join(lines)


def repeated(option: str, values: list[str] | None) -> list[str]:
    """``--set a --set b`` for values ``[a, b]``: command-line words for a repeatable option."""
    return [word for value in values or [] for word in (option, value)]


def exit_interrupted(ctx: typer.Context, message: str, arguments: list[str]) -> NoReturn:
    """Print ``message`` followed by the shell-quoted command that continues the work (bprop as
    the user started it, then ``arguments``), and exit with the interrupted code."""
    import shlex

    command = [*invoked_as(ctx), *arguments]
    console.print(f"{message}{shlex.join(command)}", soft_wrap=True, markup=False)
    raise typer.Exit(exit_codes.INTERRUPTED)


def invoked_as(ctx: typer.Context) -> list[str]:
    """The words that started the command line of ``ctx`` as the user typed them: the script's
    name (``bprop``), or ``python -m backprop_cli`` for the module."""
    name = ctx.find_root().info_name or "bprop"
    module = "python -m "  # how Click names a program run as a module
    return [*module.split(), name.removeprefix(module)] if name.startswith(module) else [name]


def shown_path(path: str) -> str:
    """A path as the user would type it: relative to the current folder when below it."""
    import os

    with contextlib.suppress(ValueError, OSError):
        relative = os.path.relpath(path)
        if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
            return relative
    return path


#: How tables name the figures of metrics.json's test section and `bprop evaluate --json`.
FIGURE_LABELS = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
    "precision_macro": "precision (macro)", "recall_macro": "recall (macro)",
    "f1_macro": "F1 (macro)", "precision_weighted": "precision (weighted)",
    "recall_weighted": "recall (weighted)", "f1_weighted": "F1 (weighted)",
    "log_loss": "log loss", "roc_auc": "ROC AUC",
    "rmse": "RMSE", "mse": "MSE", "mae": "MAE", "r2": "R²",
}  # fmt: skip


def loss_label(loss: str, name: str = "loss", scaled: bool = False) -> str:
    """How a table names a loss figure of a network trained with the loss ``loss``: the mse
    loss is half the mean squared error (the notes' ½(y − ŷ)²), and says so, and whether it is
    of the standardized target (``scaled``)."""
    if loss != "mse":
        return name
    return f"{name} (½·MSE, scaled target)" if scaled else f"{name} (½·MSE)"


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: 4 decimals, scientific for tiny and huge values, – for missing ones."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != 0 and not 1e-3 <= abs(value) < 1e4:
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def progress_bar(live: bool) -> Progress:
    """The progress display every command uses (disabled when not ``live``)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console.get(),
        transient=True,
        disable=not live,
    )
