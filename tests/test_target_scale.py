"""A regression's target, standardized for training and mapped back everywhere a prediction
leaves bprop: `predict`, `evaluate`, the Python API, and the ONNX, torch and npz exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import backprop_cli as bp
from backprop_cli.core.split import Split
from backprop_cli.data.splits import Dataset, scale_targets
from backprop_cli.data.standardizer import Standardizer

from helpers import cli

ROWS = 400


def houses(path: Path, seed: int = 0) -> Path:
    """Prices near 2·10⁵: a linear function of two features plus noise (R² ≈ 0.97 reachable)."""
    rng = np.random.default_rng(seed)
    rooms, age = rng.uniform(1, 8, ROWS), rng.uniform(0, 60, ROWS)
    price = 60_000 + 25_000 * rooms - 800 * age + rng.normal(0, 8_000, ROWS)
    lines = "".join(f"{r:.3f},{a:.2f},{p:.2f}\n" for r, a, p in zip(rooms, age, price, strict=True))
    path.write_text("rooms,age,price\n" + lines)
    return path


def config(tmp_path: Path, extra: str = "") -> Path:
    houses(tmp_path / "houses.csv")
    path = tmp_path / "houses.yaml"
    path.write_text(
        "name: houses\nseed: 0\n"
        f"data: {{path: houses.csv, target: price, test_split: 0.2{extra}}}\n"
        "model:\n  layers:\n    - {type: dense, units: 16, activation: relu}\n"
        "    - {type: dense, units: 1, activation: linear}\n"
        "loss: mse\noptimizer: {type: adam, lr: 0.01}\n"
        "training: {epochs: 30, batching: {type: minibatch, size: 32}}\n"
        "output: {checkpoint_every: 0}\n"
    )
    return path


def trained(tmp_path: Path, name: str, extra: str = "") -> tuple[Path, dict]:
    run = tmp_path / name
    result = cli(["train", str(config(tmp_path, extra)), "--out", str(run)])
    assert result.exit_code == 0, result.output
    return run, json.loads(cli(["evaluate", str(run), "--json"]).output)


def test_prices_converge_only_with_the_target_standardized(tmp_path: Path) -> None:
    """30 epochs on prices of ~2·10⁵: scaled, R² near the noise's limit (0.97); raw, the
    network's outputs start near 0 and lr 0.01 moves them by far too little to get there."""
    run, scaled = trained(tmp_path, "scaled")
    assert scaled["r2"] > 0.9
    _, raw = trained(tmp_path, "raw", ", standardize_target: false")
    assert raw["r2"] < 0.5
    shown = {name: cli(["evaluate", str(tmp_path / name)]).output for name in ("scaled", "raw")}
    assert "loss (½·MSE, scaled target)" in shown["scaled"]
    assert "loss (½·MSE) " in shown["raw"] and "scaled" not in shown["raw"]
    with np.load(run / "checkpoints" / "last.npz", allow_pickle=False) as checkpoint:
        mean, std = checkpoint["preprocess.target_mean"], checkpoint["preprocess.target_std"]
    assert mean.shape == std.shape == (1,) and 1e5 < mean[0] < 3e5 and 1e4 < std[0] < 1e5


def test_every_prediction_path_gives_the_targets_units(tmp_path: Path) -> None:
    run, _ = trained(tmp_path, "run")
    model = bp.load(run)
    X = np.array([[3.0, 10.0], [6.0, 40.0]])
    predicted = model.predict(X)
    truth = 60_000 + 25_000 * X[:, 0] - 800 * X[:, 1]
    assert np.all(np.abs(predicted - truth) < 0.2 * truth)  # prices, not standardized values

    (tmp_path / "new.csv").write_text("rooms,age\n3,10\n6,40\n")
    out = tmp_path / "predicted.csv"
    assert cli(["predict", str(run), str(tmp_path / "new.csv"), "--out", str(out)]).exit_code == 0
    column = [float(line.split(",")[-1]) for line in out.read_text().splitlines()[1:]]
    assert column == predicted.tolist()  # every digit: a price is not cut to 6 of them

    onnxruntime = pytest.importorskip("onnxruntime")
    assert cli(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) \
        .exit_code == 0  # fmt: skip
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    (onnx_out,) = session.run(None, {"features": X.astype(np.float32)})
    np.testing.assert_allclose(onnx_out[:, 0], predicted, rtol=1e-4)

    assert cli(["export", str(run), "--format", "npz", "--out", str(tmp_path / "m.npz")]) \
        .exit_code == 0  # fmt: skip
    with np.load(tmp_path / "m.npz", allow_pickle=False) as exported:
        stored = exported["preprocess.target_mean"]
    assert model.model.target_scale is not None
    assert stored[0] == pytest.approx(model.model.target_scale.mean[0])


def test_the_torch_export_ends_with_the_target_scale(tmp_path: Path) -> None:
    from backprop_cli.runs.trained.export import torch_snippet, torch_state
    from backprop_cli.runs.trained.model import load_model

    run, _ = trained(tmp_path, "run")
    model = load_model(run)
    state, lines = torch_state(model)
    assert lines[-1].strip() == "TargetScale(1),"
    k = len(lines) - 1
    np.testing.assert_allclose(state[f"{k}.std"], model.target_scale.std, rtol=1e-6)
    np.testing.assert_allclose(state[f"{k}.mean"], model.target_scale.mean, rtol=1e-6)
    assert "class TargetScale(nn.Module):" in torch_snippet(model, tmp_path / "m.st", lines)
    # the Sequential the snippet builds, run in NumPy: Linear, ReLU, Linear, TargetScale
    X = np.array([[3.0, 10.0]])
    h = np.maximum(model.inputs(X, "X") @ state["0.weight"].T + state["0.bias"], 0)
    y = (h @ state["2.weight"].T + state["2.bias"]) * state[f"{k}.std"] + state[f"{k}.mean"]
    np.testing.assert_allclose(y, model.outputs(X, "X"), rtol=1e-4)


def test_evaluate_reports_the_loss_on_the_scaled_target_and_errors_in_units(
    tmp_path: Path,
) -> None:
    """The loss is training's (½·MSE of the standardized target: comparable to val_loss); the
    MSE is in price² (so MSE = 2·loss·σ², the loss's ½ and the scale undone)."""
    run, evaluated = trained(tmp_path, "run")
    metrics = json.loads((run / "metrics.json").read_text())
    assert evaluated["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-4)
    with np.load(run / "checkpoints" / "last.npz", allow_pickle=False) as checkpoint:
        std = float(checkpoint["preprocess.target_std"][0])
    assert evaluated["mse"] == pytest.approx(2 * evaluated["loss"] * std**2, rel=1e-3)


def test_classification_cannot_scale_a_target(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\ndata: {dataset: iris, standardize_target: true}\nmodel:\n  layers:\n"
        "    - {type: dense, units: 3, activation: softmax}\nloss: cross_entropy\n"
    )
    result = cli(["train", str(path)])
    assert result.exit_code == 2
    words = " ".join(result.output.split())
    assert "data.standardize_target: scales a regression's target" in words


def test_scaling_is_fitted_on_the_training_split_only() -> None:
    # train 1, 2, 3: μ = 2, σ = √(2/3); the test split's 10 does not move them
    y = np.array([1.0, 2.0, 3.0])
    splits = Dataset(Split(np.zeros((3, 1)), y), test=Split(np.zeros((1, 1)), np.array([10.0])))
    scaled = scale_targets(splits)
    assert scaled.target_scale is not None
    assert scaled.target_scale.mean.tolist() == [2.0]
    assert scaled.target_scale.std[0] == pytest.approx(np.sqrt(2 / 3))
    np.testing.assert_allclose(scaled.train.y, [-np.sqrt(1.5), 0, np.sqrt(1.5)])
    np.testing.assert_allclose(scaled.test.y, [8 / np.sqrt(2 / 3)])
    assert splits.train.y.tolist() == [1.0, 2.0, 3.0]  # the data as read is left alone


@settings(max_examples=50)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 30), st.integers(1, 3)),
        elements=st.floats(-1e9, 1e9, allow_nan=False),
    )
)
def test_unscaling_inverts_scaling_and_scaled_targets_are_standard(y: np.ndarray) -> None:
    scaled = scale_targets(Dataset(Split(np.zeros((len(y), 1)), y)))
    scale = scaled.target_scale
    assert isinstance(scale, Standardizer) and np.all(scale.std > 0)
    np.testing.assert_allclose(scale.unscale(scaled.train.y), y, rtol=1e-9, atol=1e-6)
    spread = np.ptp(y, axis=0)
    varies = spread > 1e-6 * np.maximum(np.abs(y).max(axis=0), 1)
    np.testing.assert_allclose(scaled.train.y.mean(axis=0)[varies], 0, atol=1e-9)
    np.testing.assert_allclose(scaled.train.y.std(axis=0)[varies], 1, rtol=1e-6)


def test_an_export_refuses_a_target_scale_beyond_float32(tmp_path: Path) -> None:
    """ONNX and torch models compute in float32: a target of scale 1e300 is refused by name,
    never written as an infinite constant."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 60)
    rows = "".join(f"{a:.4f},{a * 1e300:.6e}\n" for a in x)
    (tmp_path / "huge.csv").write_text("x,y\n" + rows)
    path = tmp_path / "huge.yaml"
    path.write_text(
        "name: huge\ndtype: float64\ndata: {path: huge.csv, target: y}\nmodel:\n  layers:\n"
        "    - {units: 1, activation: linear}\nloss: mse\ntraining: {epochs: 2}\n"
    )
    run = tmp_path / "run"
    assert cli(["train", str(path), "--out", str(run), "--quiet"]).exit_code == 0
    for fmt in ("onnx", "torch"):
        result = cli(["export", str(run), "--format", fmt, "--out", str(tmp_path / f"m.{fmt}")])
        assert result.exit_code == 2, result.output
        assert "beyond float32" in result.output and not (tmp_path / f"m.{fmt}").exists()
