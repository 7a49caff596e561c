"""batchnorm, dropout and residual blocks: golden values, properties, configs and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backprop_cli.config import load_config
from backprop_cli.core.activations import get_activation
from backprop_cli.core.layers import BatchNorm, Dense, Dropout, Residual
from backprop_cli.core.network import Network
from backprop_cli.runs.train.plan import prepare
from backprop_cli.runs.train.run import RunFinished
from backprop_cli.runs.training import train_into

from helpers import CONFIG_DIR, assert_same_arrays, cli, history_of, strip_seconds


def bound(layer: BatchNorm | Dropout | Residual, width: int, dtype: str = "float64") -> None:
    """Build ``layer`` for ``width`` inputs and bind it to fresh buffers with initial values."""
    layer.build(width)
    values = layer.initial_values(np.random.default_rng(0), np.dtype(dtype))
    layer.bind(values, {k: np.zeros_like(v) for k, v in values.items()})


def test_batchnorm_golden_values_and_running_averages() -> None:
    bn = BatchNorm(momentum=0.9, eps=0.0)
    bound(bn, 1)
    x = np.array([[1.0], [2.0], [3.0], [6.0]])
    out = bn.forward(x, training=True)
    # μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5, x̂ = (x − 3)/√3.5; γ = 1, β = 0 at the start.
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 3) / np.sqrt(3.5), rtol=1e-12)
    # running_mean = 0.9·0 + 0.1·3 = 0.3; running_var = 0.9·1 + 0.1·3.5·4/3 = 0.9 + 0.46̅
    np.testing.assert_allclose(bn.running_mean, [0.3], rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, [0.9 + 0.1 * 3.5 * 4 / 3], rtol=1e-12)
    # Evaluation uses the running averages: (2 − 0.3)/√(1.3666…)
    evaluated = bn.forward(np.array([[2.0]]), training=False)
    np.testing.assert_allclose(evaluated[0, 0], 1.7 / np.sqrt(0.9 + 0.1 * 3.5 * 4 / 3))
    # Scale and shift: γ = 2, β = 1 double and move the normalized values.
    bn.gamma[:] = 2.0
    bn.beta[:] = 1.0
    np.testing.assert_allclose(bn.forward(x)[:, 0], 2 * (x[:, 0] - 3) / np.sqrt(3.5) + 1)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 20), st.integers(1, 5)),
              elements=st.floats(-1e3, 1e3)))  # fmt: skip
def test_batchnorm_normalizes_every_feature(x: np.ndarray) -> None:
    bn = BatchNorm(eps=1e-5)
    bound(bn, x.shape[1])
    out = bn.forward(x, training=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-8)
    spread = x.std(axis=0)
    expected = spread**2 / (spread**2 + 1e-5)  # the variance after normalization, ε included
    np.testing.assert_allclose(out.var(axis=0), expected, rtol=1e-6, atol=1e-8)


def test_dropout_is_inverted_and_off_at_evaluation() -> None:
    drop = Dropout(0.25)
    drop.noise = np.random.default_rng(0)
    bound(drop, 400)
    x = np.ones((50, 400))
    out = drop.forward(x, training=True)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01  # about 1 − rate kept
    np.testing.assert_array_equal(out[kept], 1 / 0.75)  # the survivors scaled up
    assert abs(out.mean() - 1.0) < 0.02  # so the expected activation is unchanged
    grad = drop.backward(np.ones_like(x))
    assert grad is not None
    np.testing.assert_array_equal(grad, out)  # the same mask on the way back
    np.testing.assert_array_equal(drop.forward(x, training=False), x)


def test_residual_adds_the_block_to_its_input() -> None:
    rng = np.random.default_rng(0)
    inner = [Dense(5, get_activation("tanh")), Dense(3, get_activation("linear"))]
    net = Network(
        [Residual(inner), Dense(2, get_activation("linear"))], 3, "mse", rng, dtype="float64"
    )
    x = rng.standard_normal((4, 3))
    net.forward(x)
    block = inner[1].output
    residual = net.layers[0]
    assert isinstance(residual, Residual)
    np.testing.assert_allclose(net.layers[1]._x, x + block)  # type: ignore[attr-defined]
    assert list(net.slots)[:3] == ["layers.0.layers.0.W", "layers.0.layers.1.W", "layers.1.W"]


def test_a_residual_block_passes_the_mode_to_its_layers() -> None:
    rng = np.random.default_rng(0)
    inner = [Dense(3, get_activation("linear")), Dropout(0.5)]
    layers = [Residual(inner), Dense(1, get_activation("linear"))]
    net = Network(layers, 3, "mse", rng, dtype="float64", noise_rng=np.random.default_rng(1))
    x = rng.standard_normal((64, 3))
    block = net.layers[0]
    evaluated = block.forward(x, training=False).copy()  # dropout: the identity in evaluation
    np.testing.assert_allclose(evaluated, x + inner[0].forward(x, training=False), rtol=1e-12)
    trained = block.forward(x, training=True)
    dropped = trained - x  # the block's output with dropout: each entry 0 or doubled
    assert np.any(dropped == 0) and not np.allclose(trained, evaluated)


def test_layer_configs_build_and_train(tmp_path: Path) -> None:
    layers = (
        "model.layers=[{units: 16, activation: linear}, {type: batchnorm, activation: relu},"
        " {type: residual, layers: [{units: 8, activation: tanh}, {units: 16, activation: linear},"
        " {type: dropout, rate: 0.2}]}, {units: 1, activation: sigmoid}]"
    )
    result = cli(["train", str(CONFIG_DIR / "moons.yaml"), "--out", str(tmp_path / "run"),
                  "--quiet", "--set", layers, "--set", "training.epochs=30"])  # fmt: skip
    assert result.exit_code == 0, result.output
    history = history_of(tmp_path / "run")
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.8


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("[{units: 4}, {type: residual, layers: [{units: 3}]}, {units: 1, activation: sigmoid}]",
         "model.layers.1.layers: a residual block must end at its input's width 4"),
        ("[{units: 4}, {type: dropout}]", "model.layers.1.type: the last layer must be dense"),
        ("[{type: batchnorm, activation: softmax}, {units: 1, activation: sigmoid}]",
         "model.layers.0: a batchnorm activation must act element-wise"),
        ("[{type: dropout, rate: 1.0}, {units: 1, activation: sigmoid}]",
         "model.layers.0.rate: Input should be less than 1"),
        ("[{type: residual, layers: []}, {units: 1, activation: sigmoid}]",
         "model.layers.0.layers: List should have at least 1 item"),
        ("[{type: conv}, {units: 1, activation: sigmoid}]",
         "model.layers.0.type: unknown type 'conv'; choose one of: 'dense', 'batchnorm'"),
    ],
)  # fmt: skip
def test_layer_mistakes_name_the_key(layers: str, message: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli(["train", str(CONFIG_DIR / "moons.yaml"), "--out", str(out),
                  "--set", f"model.layers={layers}"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def run(out: Path, overrides: list[str], resume: Path | None = None) -> RunFinished:
    cfg = load_config(CONFIG_DIR / "moons.yaml", overrides)
    events = list(train_into(prepare(cfg, resume), out, plot=False))
    assert isinstance(events[-1], RunFinished)
    return events[-1]


def test_dropout_and_batchnorm_runs_resume_exactly(tmp_path: Path) -> None:
    """Running averages live in the checkpoint's parameters and the dropout generator's state
    beside the shuffling one, so a resumed run draws the same masks and ends identical."""
    common = [
        "model.layers=[{units: 12, activation: linear}, {type: batchnorm, activation: relu},"
        " {type: dropout, rate: 0.3}, {units: 1, activation: sigmoid}]",
    ]
    full = run(tmp_path / "full", [*common, "training.epochs=6"])
    part = tmp_path / "part"
    run(part, [*common, "training.epochs=3"])
    run(part, [*common, "training.epochs=6"], resume=part / "checkpoints/last.npz")
    assert strip_seconds(history_of(part)) == strip_seconds(history_of(full.run_dir))
    assert_same_arrays(full.run_dir / "checkpoints/last.npz", part / "checkpoints/last.npz")
    with np.load(part / "checkpoints/last.npz") as ckpt:
        assert "noise_rng_state" in ckpt.files and "layers.1.running_var" in ckpt.files
        assert not np.allclose(ckpt["layers.1.running_var"], 1.0)  # it has been updated


def test_batchnorm_running_averages_accumulate_over_steps() -> None:
    # m = 0.9. Step 1: x = (1, 3): μ₁ = 2, σ₁² = 1 (unbiased: 2). Step 2: x = (4, 4, 7): μ₂ = 5,
    # σ₂² = (1 + 1 + 4)/3 = 2 (unbiased: 3).
    # running_mean = 0.9·(0.9·0 + 0.1·2) + 0.1·5 = 0.18 + 0.5 = 0.68
    # running_var  = 0.9·(0.9·1 + 0.1·2) + 0.1·3 = 0.99 + 0.3 = 1.29
    bn = BatchNorm(momentum=0.9, eps=1e-5)
    bound(bn, 1)
    bn.forward(np.array([[1.0], [3.0]]))
    bn.forward(np.array([[4.0], [4.0], [7.0]]))
    np.testing.assert_allclose(bn.running_mean, [0.68], rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, [1.29], rtol=1e-12)


def test_batchnorm_on_a_batch_of_one_keeps_finite_running_averages() -> None:
    # One row: σ² = 0 and no unbiased correction (N/(N − 1) would divide by zero).
    bn = BatchNorm(momentum=0.5)
    bound(bn, 2)
    bn.forward(np.array([[3.0, -1.0]]))
    np.testing.assert_allclose(bn.running_mean, [1.5, -0.5], rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, [0.5, 0.5], rtol=1e-12)


def test_batchnorm_parameters_are_never_decayed_and_its_statistics_never_trained() -> None:
    specs = {s.name: s for s in BatchNorm().param_specs()}
    assert not any(s.decay for s in specs.values())
    assert specs["gamma"].trainable and specs["beta"].trainable
    assert specs["running_mean"].trainable is False and specs["running_var"].trainable is False


def test_kinks_are_the_pre_activations_of_relu_layers_only() -> None:
    relu, tanh = get_activation("relu"), get_activation("tanh")
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    for layer in (BatchNorm(activation=relu), Dense(3, relu)):
        bound(layer, 2)
        assert layer.kinks() == []  # no forward pass yet
        layer.forward(x)
        (z,) = layer.kinks()
        assert z.shape == (2, layer.build(2))
    for layer in (BatchNorm(activation=tanh), Dense(3, tanh)):
        bound(layer, 2)
        layer.forward(x)
        assert layer.kinks() == []


def test_batchnorm_starts_at_identity_in_the_asked_dtype() -> None:
    bn = BatchNorm()
    bn.build(3)
    values = bn.initial_values(np.random.default_rng(0), np.dtype(np.float32))
    assert {k: v.dtype for k, v in values.items()} == dict.fromkeys(values, np.dtype(np.float32))
    assert np.array_equal(values["gamma"], [1, 1, 1]) and not values["beta"].any()
    assert not values["running_mean"].any() and np.array_equal(values["running_var"], [1, 1, 1])


def test_the_layer_interface_must_be_implemented() -> None:
    from backprop_cli.core.layers import Layer

    layer = Layer()
    for call in (lambda: layer.build(2), lambda: layer.forward(np.zeros((1, 2))),
                 lambda: layer.backward(np.zeros((1, 2)))):  # fmt: skip
        with pytest.raises(NotImplementedError):
            call()
    assert layer.param_specs() == [] and layer.children() == [] and layer.kinks() == []


def test_dropout_without_a_noise_generator_and_a_residual_of_the_wrong_width() -> None:
    dropout = Dropout(0.5)
    dropout.build(2)
    with pytest.raises(RuntimeError, match=r"^dropout needs the network's noise generator$"):
        dropout.forward(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"^a residual block must end at its input's width 4 "):
        Residual([Dense(3, get_activation("tanh"))]).build(4)
