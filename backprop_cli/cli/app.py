"""The `bprop` application: global options and command registration.

Commands are registered by name and built on first use: `bprop --help` lists them with the first
paragraph of each one's docstring, read from its source without importing any command module, and
`bprop train ...` imports only `train_cmd`. The commands themselves import the numerical core
lazily too, so the help screens stay fast.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
from collections.abc import Iterator, MutableMapping
from importlib.abc import InspectLoader
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from . import exit_codes

#: The commands in the order `bprop --help` lists them (train and use, then compare and look, then
#: learn, then write configs): name → (module in this package, function). Each one's help, and its
#: line in the listing, is its function's docstring (`summary`).
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train_cmd", "train"),
    "evaluate": ("use_cmds", "evaluate"),
    "predict": ("use_cmds", "predict"),
    "export": ("export_cmd", "export"),
    "summary": ("use_cmds", "summary"),
    "compare-optimizers": ("compare_cmd", "compare_optimizers"),
    "sweep": ("sweep_cmd", "sweep"),
    "lr-find": ("lr_find_cmd", "lr_find"),
    "cv": ("cv_cmd", "cv"),
    "plot": ("plot_cmd", "plot"),
    "runs": ("runs_cmd", "runs"),
    "gradcheck": ("gradcheck_cmd", "gradcheck"),
    "demo": ("demo_cmd", "demo"),
    "init": ("config_cmds", "init"),
    "config": ("config_cmds", "config"),
    "schema": ("config_cmds", "schema"),
    "datasets": ("config_cmds", "datasets"),
    "inspect": ("inspect_cmd", "inspect"),
}


def summary(name: str) -> str:
    """The first paragraph of the docstring of command ``name``, on one line: read from its
    module's source without importing the module (so `bprop --help` imports no command), else
    from the imported function."""
    module, function = COMMANDS[name]
    qualified = f"{__package__}.{module}"
    spec = importlib.util.find_spec(qualified)
    loader = spec.loader if spec is not None else None
    source = loader.get_source(qualified) if isinstance(loader, InspectLoader) else None
    found = re.search(rf'^def {function}\(.*?^    (""".*?""")', source or "", re.M | re.S)
    if found is not None:
        doc = inspect.cleandoc(ast.literal_eval(found[1]))
    else:
        doc = inspect.getdoc(getattr(importlib.import_module(qualified), function)) or ""
    return " ".join(doc.split("\n\n")[0].split())


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
            (name, TyperCommand(name=name, help=summary(name)).get_short_help_str(limit))
            for name in COMMANDS
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def build_command(name: str) -> Any:
    """The Click command for ``name``, built from its function."""
    module, function = COMMANDS[name]
    imported = importlib.import_module(f".{module}", __package__)
    group = getattr(imported, "GROUP", None)
    if group is not None:  # a command of subcommands (`bprop runs`, `bprop runs diff`)
        return typer.main.get_command(group)
    callback = getattr(imported, function)
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
