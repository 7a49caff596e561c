"""The `bprop` application: global options and command registration.

Commands import the numerical core lazily, so `bprop --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import exit_codes
from .compare_cmd import compare_optimizers
from .config_cmds import config, datasets, init, schema
from .demo_cmd import demo
from .gradcheck_cmd import gradcheck
from .plot_cmd import plot
from .train_cmd import train
from .use_cmds import evaluate, predict, summary

app = typer.Typer(
    name="bprop",
    help=(
        "Train neural networks with backpropagation you can read: YAML experiments, a NumPy "
        "engine, gradients proven by finite differences.\n\n" + exit_codes.HELP
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bprop {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Train neural networks with backpropagation you can read."""


app.command("train", epilog=exit_codes.HELP)(train)
app.command("gradcheck", epilog=exit_codes.HELP)(gradcheck)
app.command("compare-optimizers", epilog=exit_codes.HELP)(compare_optimizers)
app.command("plot", epilog=exit_codes.HELP)(plot)
app.command("demo", epilog=exit_codes.HELP)(demo)
app.command("evaluate", epilog=exit_codes.HELP)(evaluate)
app.command("predict", epilog=exit_codes.HELP)(predict)
app.command("summary", epilog=exit_codes.HELP)(summary)
app.command("init", epilog=exit_codes.HELP)(init)
app.command("config", epilog=exit_codes.HELP)(config)
app.command("schema", epilog=exit_codes.HELP)(schema)
app.command("datasets", epilog=exit_codes.HELP)(datasets)


def main() -> None:
    """Console-script entry point."""
    app()
