"""The `bprop` application: global options and command registration.

Commands import the numerical core lazily, so `bprop --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from .. import __version__
from . import exit_codes
from .compare_cmd import compare_optimizers
from .config_cmds import config, datasets, init, schema
from .demo_cmd import demo
from .gradcheck_cmd import gradcheck
from .plot_cmd import plot
from .sweep_cmd import sweep
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


#: The commands in the order `bprop --help` lists them: train and use, then compare and look,
#: then learn, then write configs.
COMMANDS: dict[str, Callable[..., None]] = {
    "train": train,
    "evaluate": evaluate,
    "predict": predict,
    "summary": summary,
    "compare-optimizers": compare_optimizers,
    "sweep": sweep,
    "plot": plot,
    "gradcheck": gradcheck,
    "demo": demo,
    "init": init,
    "config": config,
    "schema": schema,
    "datasets": datasets,
}
for _name, _command in COMMANDS.items():
    app.command(_name, epilog=exit_codes.HELP)(_command)


def main() -> None:
    """Console-script entry point."""
    app()
