"""`predict` and `evaluate --data` match a CSV's columns to the training features by name: any
order, a target column ignored by predict and used by evaluate, a missing or unknown column an
error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import cli

MODEL = (
    "model:\n  layers:\n    - {units: 8, activation: tanh}\n    - {units: 1, activation: sigmoid}\n"
    "loss: binary_cross_entropy\ntraining: {epochs: 20, batching: {type: full}}\n"
)


def table(path: Path, columns: list[str], data: dict[str, np.ndarray]) -> Path:
    rows = zip(*(data.get(c, data["width"]) for c in columns), strict=True)
    lines = [",".join(columns)] + [",".join(f"{v:g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A model trained on columns width, height, label, whose features differ in scale and
    meaning: swapping them changes the predictions."""
    folder = tmp_path_factory.mktemp("columns")
    rng = np.random.default_rng(0)
    width, height = rng.uniform(0, 1, 80), rng.uniform(0, 100, 80)
    data = {"width": width, "height": height, "label": (width > 0.5).astype(float)}
    table(folder / "train.csv", ["width", "height", "label"], data)
    config = folder / "c.yaml"
    config.write_text(f"name: c\ndata: {{path: train.csv, target: label}}\n{MODEL}")
    run = folder / "run"
    result = cli(["train", str(config), "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    probe = {"width": np.array([0.1, 0.9, 0.3, 0.7]), "height": np.array([90.0, 5, 60, 20]),
             "label": np.array([0.0, 1, 0, 1])}  # fmt: skip
    return run, probe


def predictions(run: Path, inputs: Path, tmp_path: Path, name: str) -> str:
    out = tmp_path / f"{name}-predictions.csv"
    result = cli(["predict", str(run), str(inputs), "--out", str(out), "--proba"])
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_predict_matches_columns_in_any_order_and_ignores_the_target(
    trained: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    run, probe = trained
    reference = predictions(run, table(tmp_path / "a.csv", ["width", "height"], probe), tmp_path,
                            "a")  # fmt: skip
    swapped = predictions(run, table(tmp_path / "b.csv", ["height", "width"], probe), tmp_path,
                          "b")  # fmt: skip
    with_target = predictions(run, table(tmp_path / "c.csv", ["label", "height", "width"], probe),
                              tmp_path, "c")  # fmt: skip
    assert swapped == reference and with_target == reference
    assert reference.splitlines()[0] == "prediction,p_0,p_1"


@pytest.mark.parametrize(
    ("columns", "message"),
    [(["width"], "no column 'height'; the model takes the columns width, height (and the target "
      "'label'), in any order"),
     (["width", "height", "depth"], "unknown column 'depth'"),
     (["width", "height", "width"], "the header names 'width' more than once")],
)  # fmt: skip
def test_predict_names_a_missing_or_unknown_column(
    columns: list[str], message: str, trained: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    run, probe = trained
    inputs = table(tmp_path / "x.csv", columns, probe)
    result = cli(["predict", str(run), str(inputs)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "x.csv" in result.output


def test_evaluate_matches_columns_and_uses_the_target(
    trained: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    run, probe = trained
    results = []
    for order in (["width", "height", "label"], ["label", "height", "width"]):
        data = table(tmp_path / f"{'-'.join(order)}.csv", order, probe)
        result = cli(["evaluate", str(run), "--data", str(data), "--json"])
        assert result.exit_code == 0, result.output
        document = json.loads(result.output)
        results.append({k: document[k] for k in ("n", "loss", "accuracy", "confusion")})
    assert results[0] == results[1] and results[0]["n"] == 4
    without = table(tmp_path / "nolabel.csv", ["height", "width"], probe)
    result = cli(["evaluate", str(run), "--data", str(without)])
    assert result.exit_code == 2 and "no target column 'label'" in result.output
