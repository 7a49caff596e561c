"""What belongs to the library and what to the CLI: library errors name the caller's arguments,
never command-line flags; exit codes are named constants; multi-run outcomes are decided once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from backprop_cli.cli import exit_codes
from backprop_cli.cli.app import OPTION_SPELLINGS
from backprop_cli.config import load_config
from backprop_cli.errors import ConfigError, argument, spelled
from backprop_cli.runs.artifacts import outcomes
from backprop_cli.runs.campaigns.race import contestants
from backprop_cli.runs.campaigns.sweep import Space

from helpers import CONFIG_DIR, cli

PACKAGE = Path(__file__).resolve().parents[1] / "backprop_cli"
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts)


def raised_texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string in the arguments of a ``raise``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    found.append((node.lineno, part.value))
    return found


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_errors_name_no_command_line_flag(path: Path) -> None:
    for line, text in raised_texts(path):
        words = [w for w in text.split() if w.startswith("--") and w[2:3].isalpha()]
        assert not words, f"{path.name}:{line} raises a message naming {words[0]}"


def test_the_flag_finder_sees_raised_messages() -> None:
    texts = [text for _, text in raised_texts(PACKAGE / "runs" / "campaigns" / "race.py")]
    assert any("unknown optimizer" in text for text in texts)


def test_library_errors_name_the_argument_the_caller_knows() -> None:
    cfg = load_config(CONFIG_DIR / "moons.yaml")
    with pytest.raises(ConfigError, match=r"^optimizers: unknown optimizer 'adamm'"):
        contestants(cfg, ["adamm"], "moons.yaml")
    with pytest.raises(ConfigError, match=r"^grid 'x': expected key\.path=\.\.\."):
        Space.build(cfg, grid=["x"])
    with spelled(OPTION_SPELLINGS):
        assert argument("overrides") == "--set"
        with pytest.raises(ConfigError, match=r"^--grid 'x'"):
            Space.build(cfg, grid=["x"])
    assert argument("overrides") == "overrides"  # the spelling ends with the block


def test_the_cli_names_its_options_and_forgets_them_after() -> None:
    result = cli(["compare-optimizers", str(CONFIG_DIR / "moons.yaml"), "--optimizers", "adamm"])
    assert result.exit_code == exit_codes.BAD_INPUT
    assert "--optimizers: unknown optimizer 'adamm'" in result.output
    assert argument("optimizers") == "optimizers"


def test_every_spelled_argument_is_an_option_of_some_command() -> None:
    sources = "".join(p.read_text(encoding="utf-8") for p in (PACKAGE / "cli").glob("*.py"))
    for name, option in OPTION_SPELLINGS.items():
        assert f'"{option}"' in sources, f"{name}: no command has {option}"


def test_exit_codes_are_named_constants() -> None:
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name not in ("Exit", "exit", "fail"):
                continue
            positional = node.args[1:] if name == "fail" else node.args
            values = [*positional, *node.keywords]
            for value in values:
                value = getattr(value, "value", value)
                assert not isinstance(value, ast.Constant), (
                    f"{path.name}:{node.lineno}: exit code {value.value!r} is a literal"
                )


@pytest.mark.parametrize(
    ("statuses", "expected", "code"),
    [
        (["diverged", "ok"], outcomes.SUCCEEDED, exit_codes.OK),
        (["early-stopped"], outcomes.SUCCEEDED, exit_codes.OK),
        (["diverged", "error"], outcomes.DIVERGED, exit_codes.DIVERGED),
        (["error", "invalid", "cancelled"], outcomes.FAILED, exit_codes.BAD_INPUT),
        ([], outcomes.FAILED, exit_codes.BAD_INPUT),
    ],
)
def test_a_multi_run_outcome_and_its_exit_code(
    statuses: list[str], expected: str, code: int
) -> None:
    assert outcomes.outcome(statuses) == expected
    assert exit_codes.of_outcome(expected) == code


def test_a_cross_validation_succeeds_only_when_every_fold_finished() -> None:
    assert outcomes.outcome_of_all(["ok", "early-stopped"]) == outcomes.SUCCEEDED
    assert outcomes.outcome_of_all(["ok", "diverged"]) == outcomes.DIVERGED
    assert outcomes.outcome_of_all(["ok", "error", "cancelled"]) == outcomes.FAILED
    assert (
        exit_codes.of_outcome(outcomes.outcome_of_all(["ok", "interrupted"]))
        == exit_codes.BAD_INPUT
    )
