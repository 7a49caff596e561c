"""Using a trained model reads what using it takes: its layers, loss and dtype (`ModelSpec`),
preprocessing and task. It imports no training code, and a rule of training it does not meet
(one added after it was trained) never makes it unusable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from helpers import cli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "checkpoint-v0"
DATASETS = Path(__file__).resolve().parents[1] / "datasets"
#: What training needs and prediction does not.
TRAINING_ONLY = (
    "backprop_cli.core.training", "backprop_cli.core.optim", "backprop_cli.core.schedules",
    "backprop_cli.core.gradcheck", "backprop_cli.kernels", "backprop_cli.config.models",
    "backprop_cli.runs.train.", "backprop_cli.runs.campaigns.", "backprop_cli.runs.reports.",
    "backprop_cli.data.table.cache",
)  # fmt: skip

IMPORTED = """
import sys
from backprop_cli.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
print("\\n".join(sorted(m for m in sys.modules if m.startswith("backprop_cli"))))
"""


def test_predict_imports_no_training_code(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    args = [str(FIXTURES / "penguins"), str(DATASETS / "penguins.csv"), "--out", str(out)]
    found = subprocess.run(
        [sys.executable, "-c", IMPORTED, "predict", *args],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    assert "backprop_cli.runs.trained.model" in found and out.is_file()  # the command ran
    assert [m for m in found if m.startswith(TRAINING_ONLY)] == []


def test_a_model_whose_training_config_this_version_refuses_still_predicts(tmp_path: Path):
    """The penguins run's config, edited as a later version might refuse it (an optimizer and a
    training key it does not know): predicting and evaluating on a file still work, and
    evaluating on the run's own split names the config's problem."""
    with np.load(FIXTURES / "penguins" / "checkpoints" / "last.npz") as raw:
        arrays = {k: raw[k] for k in raw.files}
    config = json.loads(str(arrays["config"]))
    config["optimizer"] = {"type": "lion", "lr": 0.001}
    config["training"]["curriculum"] = True
    arrays["config"] = np.array(json.dumps(config))
    path = tmp_path / "edited.npz"
    np.savez(path, **arrays)
    data = str(DATASETS / "penguins.csv")

    predicted = cli(["predict", str(path), data, "--out", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    want = (FIXTURES / "penguins.predictions.csv").read_text().splitlines()
    got = (tmp_path / "p.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in got] == [line.split(",")[0] for line in want]
    evaluated = cli(["evaluate", str(path), data, "--json"])
    assert evaluated.exit_code == 0, evaluated.output

    on_split = cli(["evaluate", str(path), "--split", "test"])
    assert on_split.exit_code == 2 and "Traceback" not in on_split.output
    assert "optimizer" in on_split.output and str(path) in on_split.output


def test_a_model_spec_it_cannot_use_is_refused_naming_the_key(tmp_path: Path) -> None:
    with np.load(FIXTURES / "sine" / "checkpoints" / "last.npz") as raw:
        arrays = {k: raw[k] for k in raw.files}
    config = json.loads(str(arrays["config"]))
    config["model"]["layers"][-1]["activation"] = "sigmoidish"
    arrays["config"] = np.array(json.dumps(config))
    path = tmp_path / "edited.npz"
    np.savez(path, **arrays)
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n0.5\n")
    result = cli(["predict", str(path), str(rows)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "model.layers.2.activation" in result.output and str(path) in result.output
