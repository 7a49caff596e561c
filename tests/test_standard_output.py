"""``--out -``: every command that writes one file writes it to standard output instead (and
what it would say about the file goes to stderr, or nowhere), never to a file named ``-``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import CONFIG_DIR, cli

TOY = CONFIG_DIR / "moons.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stdout") / "run"
    args = ["train", str(TOY), "--out", str(out), "--quiet", "--set", "training.epochs=2"]
    assert cli(args).exit_code == 0
    return out


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test runs in an empty folder, which must stay empty."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not list(tmp_path.iterdir())


def test_schema_and_init_print_the_file() -> None:
    schema = cli(["schema", "--out", "-"])
    assert schema.exit_code == 0, schema.output
    assert json.loads(schema.stdout)["title"] == "ExperimentConfig"
    init = cli(["init", "--dataset", "iris", "-o", "-"])
    assert init.exit_code == 0, init.output
    assert yaml.safe_load(init.stdout)["name"] == "iris"


def test_predict_prints_the_csv(run: Path, tmp_path: Path) -> None:
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=np.array([[0.0, 0.5], [1.0, -0.5]]))
    printed = cli(["predict", str(run), str(rows), "--proba"])
    dashed = cli(["predict", str(run), str(rows), "--proba", "--out", "-"])
    rows.unlink()
    assert dashed.exit_code == 0, dashed.output
    assert dashed.stdout == printed.stdout and dashed.stdout.startswith("prediction,p_0,p_1\n")


@pytest.mark.parametrize(
    ("args", "magic"),
    [
        (["export", "--format", "npz"], b"PK\x03\x04"),
        (["plot"], b"\x89PNG"),
        (["plot", "--steps"], b"\x89PNG"),
        (["plot", "--boundary"], b"\x89PNG"),
        (["plot", "--boundary", "--animate"], b"GIF8"),
    ],
)
def test_a_binary_file_goes_to_standard_output(run: Path, args: list[str], magic: bytes) -> None:
    result = cli([args[0], str(run), *args[1:], "--out", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(magic)
    assert b"wrote" not in result.stdout_bytes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "descent"], "--out: the demo prints its walk-through; give a .png name, not -"),
        (["export", "RUN", "--format", "torch"], "--out: the torch format comes with code that"),
    ],
)
def test_dash_is_refused_where_standard_output_carries_something_else(
    run: Path, args: list[str], message: str
) -> None:
    result = cli([str(run) if a == "RUN" else a for a in args] + ["--out", "-"])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["train", str(TOY)],
        ["lr-find", str(TOY)],
        ["cv", str(TOY), "--folds", "2"],
        ["compare-optimizers", str(TOY)],
        ["sweep", str(CONFIG_DIR / "sweep-spirals.yaml")],
    ],
    ids=lambda args: args[0],
)
def test_dash_is_no_directory(args: list[str]) -> None:
    """A run directory cannot go to standard output: refused, no folder named ``-`` made."""
    result = cli([*args, "--out", "-"])
    assert result.exit_code == 2, result.output
    assert "- means standard output, which cannot hold a directory" in result.output


def test_evaluate_plot_to_dash_is_refused(run: Path) -> None:
    result = cli(["evaluate", str(run), "--plot", "-"])
    assert result.exit_code == 2 and "name a .png file" in result.output
