"""Gradient-flow diagnostics: the columns hold exactly what they say, and the CLI shows them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.config import load_config
from backprop_cli.core.activations import get_activation
from backprop_cli.core.diagnostics import Diagnostics
from backprop_cli.core.layers import Dense
from backprop_cli.core.network import Network
from backprop_cli.runs.train.plan import prepare
from backprop_cli.runs.training import train_into

from helpers import CONFIG_DIR, cli, history_of

MOONS = CONFIG_DIR / "moons.yaml"
FULL_BATCH = [
    "model.layers=[{units: 12, activation: relu, bias: -0.5}, {units: 1, activation: sigmoid}]",
    "training.batching={type: full}",
    "optimizer={type: sgd, lr: 0.3}",
    "training.diagnostics=true",
    "training.epochs=1",
    "dtype=float64",
]


def test_columns_match_a_hand_computation(tmp_path: Path) -> None:
    """One full-batch SGD step: grad_norm is ‖∂L/∂W‖ at the initial weights, update_ratio is
    ‖lr·∂L/∂W‖/‖W‖, and dead_fraction the share of units with z ≤ 0 for every sample."""
    cfg = load_config(MOONS, FULL_BATCH)
    list(train_into(prepare(cfg), tmp_path / "run", plot=False))
    row = history_of(tmp_path / "run")[0]

    prepared = prepare(cfg)  # the same seed: the run's initial weights and data
    net, splits = prepared.net, prepared.dataset
    X, y = splits.train.X, net.prepare_targets(splits.train.y)
    net.loss_and_grad(X, y)
    for name in ("layers.0", "layers.1"):
        g, w = net.grad(f"{name}.W"), net.param(f"{name}.W")
        assert row[f"{name}.grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-12)
        ratio = np.linalg.norm(0.3 * g) / np.linalg.norm(w)
        assert row[f"{name}.update_ratio"] == pytest.approx(ratio, rel=1e-9)
    z = net.layers[0].pre_activation
    assert row["layers.0.dead_fraction"] == pytest.approx(np.mean(~(z > 0).any(axis=0)))
    assert "layers.1.dead_fraction" not in row  # a sigmoid layer cannot die


def test_the_flag_the_warnings_and_the_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    deep = CONFIG_DIR / "lessons" / "vanishing-sigmoid.yaml"
    result = cli(["train", str(deep), "--out", str(out), "--set", "training.epochs=2",
                  "--set", "training.diagnostics=false", "--diagnostics"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning (epoch 1): vanishing gradients: layers.0's gradient norm" in result.output
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert "layers.0.grad_norm" in header and "layers.6.update_ratio" in header
    plotted = cli(["plot", str(out), "--diagnostics", "--out", "flow.png"])
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "flow.png").stat().st_size > 10_000
    assert "layers.0, layers.1" in plotted.output


def test_plotting_diagnostics_of_a_run_without_them_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "plain"
    assert (
        cli(
            ["train", str(MOONS), "--out", str(out), "--quiet", "--set", "training.epochs=1"]
        ).exit_code
        == 0
    )
    result = cli(["plot", str(out), "--diagnostics", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "train them with --diagnostics" in result.output
    assert "layers.0.grad_norm" not in json.loads((out / "history.json").read_text())[0]


def _diagnostics() -> Diagnostics:
    layers = [Dense(4, get_activation("relu")), Dense(4, get_activation("tanh")),
              Dense(2, get_activation("softmax"))]  # fmt: skip
    return Diagnostics(
        Network(layers, 3, "cross_entropy", np.random.default_rng(0), dtype="float64")
    )


def row(first: float, middle: float, last: float, dead: float = 0.0) -> dict[str, float]:
    norms = {"layers.0": first, "layers.1": middle, "layers.2": last}
    return {f"{k}.grad_norm": v for k, v in norms.items()} | {"layers.0.dead_fraction": dead}


@pytest.mark.parametrize(
    ("figures", "expected", "fix"),
    [
        (row(1e-5, 1e-2, 1.0), "vanishing gradients: layers.0's gradient norm 1.0e-05 is 5.0 "
         "orders of magnitude below layers.2's (1.0e+00)", "use ReLU activations, batchnorm"),
        (row(10.0, 1.0, 1e-3), "exploding gradients: layers.0's gradient norm 1.0e+01 is 4.0 "
         "orders of magnitude above layers.2's (1.0e-03)", "clip the gradient (training.clip)"),
        (row(1.0, 3e4, 1.0), "exploding gradients: layers.1's gradient norm is 3.0e+04",
         "clip the gradient"),
        (row(1.0, 1.0, 1.0, dead=0.75), "dying ReLU: 75% of layers.0's units output 0 for "
         "every sample", "use leaky_relu"),
    ],
)  # fmt: skip
def test_warnings_name_the_problem_and_its_fixes(figures: dict, expected: str, fix: str) -> None:
    diagnostics = _diagnostics()
    first = diagnostics.warnings(figures)
    assert len(first) == 1 and first[0].startswith(expected) and fix in first[0]
    assert diagnostics.warnings(figures) == []  # once per run


def test_healthy_gradients_raise_no_warning() -> None:
    assert _diagnostics().warnings(row(0.3, 0.5, 1.0, dead=0.1)) == []


def test_weights_that_blow_up_give_an_infinite_ratio_without_a_numpy_warning() -> None:
    """A diverging float32 run: ‖ΔW‖² passes float32's range. The update ratio is inf (the
    history says the step exploded) and NumPy prints nothing on the way."""
    layers = [Dense(3, get_activation("relu")), Dense(1, get_activation("sigmoid"))]
    net = Network(layers, 2, "binary_cross_entropy", np.random.default_rng(0), dtype="float32")
    diagnostics = Diagnostics(net)
    diagnostics.start_epoch()
    net.params[:] = 1.0
    diagnostics.before_update()
    net.params[:] = 3e38  # an update of about 3e38 per weight: its square overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagnostics.after_update()
    assert np.isinf(diagnostics._ratios).all()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_campaigns_runs_warnings_are_shown_with_the_run(tmp_path: Path, jobs: str) -> None:
    deep = CONFIG_DIR / "lessons" / "vanishing-sigmoid.yaml"
    out = tmp_path / "sweep"
    result = cli(["sweep", str(deep), "--grid", "optimizer.lr=0.1,0.2", "--jobs", jobs, "--quiet",
                  "--out", str(out), "--set", "training.epochs=1",
                  "--set", "training.diagnostics=true"])  # fmt: skip
    assert result.exit_code == 0, result.output
    trials = sorted(p.parent.name for p in out.glob("*/metrics.json"))
    warned = [line for line in result.output.splitlines() if "vanishing gradients" in line]
    assert len(trials) == 2 and len(warned) == 2, result.output  # each once, wherever it ran
    assert sorted(line.split(")")[0] for line in warned) == [f"warning ({t}" for t in trials]
