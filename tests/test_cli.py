"""The command line: help, version, exit codes, and a fast start."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from backprop_cli import __version__
from backprop_cli.cli.app import COMMANDS, app, build_command, summary

runner = CliRunner()


def command_names() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"bprop {__version__}"


def test_top_level_help_lists_commands_and_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "gradcheck" in result.output
    assert "130 interrupted" in result.output


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and f"bprop {name}" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    assert runner.invoke(app, ["fly"]).exit_code == 2
    result = runner.invoke(app, ["trian"])
    assert result.exit_code == 2 and "Did you mean 'train'?" in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listing_shows_each_commands_docstring_summary(name: str) -> None:
    # `bprop --help` reads the summaries from the sources without importing the commands: what it
    # shows is the start of the first paragraph of the docstring that `bprop NAME --help` shows.
    first_paragraph = " ".join(build_command(name).help.split("\n\n")[0].split())
    assert summary(name) == first_paragraph
    listing = runner.invoke(app, ["--help"]).output.splitlines()
    line = next(line.split(None, 1) for line in listing if line.startswith(f"  {name} "))
    shown = line[1].removesuffix("...")
    assert len(shown) > 20 and first_paragraph.startswith(shown)


@pytest.mark.parametrize("args", [["--help"], ["plot", "--help"], ["compare-optimizers", "-h"]])
def test_help_does_not_import_the_numerical_stack(args: list[str]) -> None:
    heavy = ("numpy", "matplotlib", "yaml", "joblib")
    if args == ["--help"]:  # Typer itself imports pydantic to build a command's options
        heavy += ("pydantic", "rich")
    # Of the command modules, only the one whose help is shown (none for `bprop --help`).
    allowed = "" if args == ["--help"] else f"backprop_cli.cli.{COMMANDS[args[0]][0]}"
    code = (
        f"import sys; from backprop_cli.cli.app import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "heavy += [m for m in sys.modules if m.endswith(('_cmd', '_cmds')) and m != "
        f"{allowed!r}]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "backprop_cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and __version__ in out.stdout
