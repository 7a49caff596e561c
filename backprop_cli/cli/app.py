"""The `bprop` application: global options and command registration.

Commands are registered by name and built on first use: `bprop --help` lists them from the table
below without importing any command module, and `bprop train ...` imports only `train_cmd`. The
commands themselves import the numerical core lazily too, so the help screens stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from . import exit_codes

#: The commands in the order `bprop --help` lists them (train and use, then compare and look, then
#: learn, then write configs): name → (module in this package, function, the summary that the
#: listing shows, which is the first paragraph of the function's docstring; a test keeps them
#: equal).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": (
        "train_cmd", "train",
        "Train the network a YAML experiment describes and save the run to disk.",
    ),
    "evaluate": (
        "use_cmds", "evaluate",
        "Score a trained network as scikit-learn does, with its training-time preprocessing.",
    ),
    "predict": (
        "use_cmds", "predict",
        "Predict new data with a trained network and its training-time preprocessing.",
    ),
    "export": (
        "export_cmd", "export",
        "Export a trained network for other tools: ONNX, PyTorch or plain weights.",
    ),
    "summary": (
        "use_cmds", "summary",
        "A table of the network's layers (type, output shape, activation, initializer, "
        "parameters) with the totals, like Keras' summary().",
    ),
    "compare-optimizers": (
        "compare_cmd", "compare_optimizers",
        "Train the config once per optimizer from the same initial weights and batch order.",
    ),
    "sweep": (
        "sweep_cmd", "sweep",
        "Train one run per trial of a search space and rank the trials.",
    ),
    "lr-find": (
        "lr_find_cmd", "lr_find",
        "Find a learning rate: the range test, from the config's initial weights.",
    ),
    "cv": (
        "cv_cmd", "cv",
        "Cross-validate a config: one run per fold, each holding that fold out for validation.",
    ),
    "plot": (
        "plot_cmd", "plot",
        "Plot history columns of runs side by side, one line per run, labelled by run name.",
    ),
    "gradcheck": (
        "gradcheck_cmd", "gradcheck",
        "Check every gradient of the engine against central finite differences in float64.",
    ),
    "demo": (
        "demo_cmd", "demo",
        "Walk through a concept of backpropagation with numbers the engine computes now.",
    ),
    "init": (
        "config_cmds",
        "init",
        "Write a commented config that trains as it is, for your own table or a built-in data set.",
    ),
    "config": (
        "config_cmds", "config",
        "Print the config as bprop reads it: validated, overrides applied, every default filled.",
    ),
    "schema": (
        "config_cmds", "schema",
        "Write the JSON Schema of the config, so that editors validate and complete configs.",
    ),
    "datasets": (
        "config_cmds", "datasets",
        "List the built-in data sets: task, size, classes, options and source.",
    ),
    "inspect": (
        "inspect_cmd", "inspect",
        "Show what a config's data will be trained as, before training: columns, missing "
        "values, task, classes and splits.",
    ),
}  # fmt: skip


class LazyCommands(MutableMapping[str, Any]):
    """The commands by name, each built from its module the first time it is looked up."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = build_command(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self._built]))

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._built))


class LazyGroup(TyperGroup):
    """The command group: lists and suggests commands by name, builds one only when it runs or
    shows its own help."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()

    def invoke(self, ctx: Any) -> Any:
        """Run the command inside the one handler that turns failures into exit codes."""
        from .boundary import guarded

        with guarded(lambda: ctx.invoked_subcommand, bool(ctx.params.get("debug"))):
            return super().invoke(ctx)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # Click's own shortening of each summary, without building the commands.
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [
            (name, TyperCommand(name=name, help=summary).get_short_help_str(limit))
            for name, (_, _, summary) in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def build_command(name: str) -> Any:
    """The Click command for ``name``, built from its function."""
    module, function, _ = COMMANDS[name]
    callback = getattr(importlib.import_module(f".{module}", __package__), function)
    single = typer.Typer(
        rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False
    )
    single.command(name, epilog=exit_codes.HELP)(callback)
    return typer.main.get_command(single)


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
    cls=LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bprop {__version__}")
        raise typer.Exit()


#: The library's arguments as the commands' options spell them, for error messages.
OPTION_SPELLINGS = {
    "overrides": "--set",
    "target": "--target",
    "optimizers": "--optimizers",
    "split": "--split",
    "dask": "--dask",
    "out": "--out",
    "resume": "--resume",
    "grid": "--grid",
    "space": "--space",
    "random": "--random",
    "metric": "--metric",
    "mode": "--mode",
    "fmt": "--format",
    "header": "--no-header",
    "steps": "--steps",
    "folds": "--folds",
}


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the traceback of an unexpected error (a bug in bprop)."),
    ] = False,
) -> None:
    """Train neural networks with backpropagation you can read."""
    from ..errors import spelled

    ctx.with_resource(spelled(OPTION_SPELLINGS))  # for as long as the command runs


def main() -> None:
    """Console-script entry point."""
    app()
