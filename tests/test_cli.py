"""The command line: help, version, exit codes, and a fast start."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from backprop_cli import __version__
from backprop_cli.cli.app import app

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


@pytest.mark.parametrize("args", [["--help"], ["plot", "--help"], ["compare-optimizers", "-h"]])
def test_help_does_not_import_the_numerical_stack(args: list[str]) -> None:
    heavy = ("numpy", "matplotlib", "yaml", "joblib")
    if args == ["--help"]:  # Typer itself imports pydantic to build a command's options
        heavy += ("pydantic", "rich")
    code = (
        f"import sys; from backprop_cli.cli.app import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "backprop_cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and __version__ in out.stdout
