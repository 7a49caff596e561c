"""core/layers/dense: the seed's z = W x + b and its gradients, derived by hand."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli.core.activations import Linear, ReLU, Sigmoid, Tanh
from backprop_cli.core.layers import Dense


def bound(layer: Dense, W: list[list[float]], b: list[float]) -> Dense:
    layer.build(len(W[0]))
    params = {"W": np.array(W, dtype=np.float64), "b": np.array(b, dtype=np.float64)}
    grads = {"W": np.zeros_like(params["W"]), "b": np.zeros_like(params["b"])}
    layer.bind(params, grads)
    return layer


def test_forward_and_backward_golden() -> None:
    # W = [[1, 2], [3, -1]], b = [0.5, −1], relu; two samples x₁ = (1, 1), x₂ = (2, −1).
    # z₁ = (1 + 2 + 0.5, 3 − 1 − 1) = (3.5, 1);  z₂ = (2 − 2 + 0.5, 6 + 1 − 1) = (0.5, 6)
    # a = relu(z) = z (all positive here).
    layer = bound(Dense(2, ReLU()), [[1, 2], [3, -1]], [0.5, -1])
    x = np.array([[1.0, 1.0], [2.0, -1.0]])
    assert np.array_equal(layer.forward(x), [[3.5, 1.0], [0.5, 6.0]])
    # Upstream dout = [[1, 0], [0, 2]]; relu′ = 1 everywhere, so δ = dout.
    # ∂L/∂W = δᵀ x = [[1·1 + 0·2, 1·1 + 0·(−1)], [0·1 + 2·2, 0·1 + 2·(−1)]] = [[1, 1], [4, −2]]
    # ∂L/∂b = Σ_n δ_n = (1, 2);  ∂L/∂x = δ W = [[1, 2], [6, −2]]
    dx = layer.backward(np.array([[1.0, 0.0], [0.0, 2.0]]))
    assert np.array_equal(layer.dW, [[1.0, 1.0], [4.0, -2.0]])
    assert np.array_equal(layer.db, [1.0, 2.0])
    assert dx is not None and np.array_equal(dx, [[1.0, 2.0], [6.0, -2.0]])


def test_the_activation_derivative_gates_the_gradient() -> None:
    # relu with z = (−1, 2): δ = dout ⊙ (0, 1).
    layer = bound(Dense(2, ReLU()), [[1.0], [2.0]], [-2.0, 0.0])
    layer.forward(np.array([[1.0]]))  # z = (1 − 2, 2) = (−1, 2)
    layer.backward(np.array([[5.0, 7.0]]))
    assert np.array_equal(layer.delta, [[0.0, 7.0]])
    assert np.array_equal(layer.db, [0.0, 7.0])


def test_a_fused_output_passes_z_and_takes_delta() -> None:
    layer = bound(Dense(1, Sigmoid()), [[2.0]], [1.0])
    layer.fused_output = True
    assert np.array_equal(layer.forward(np.array([[3.0]])), [[7.0]])  # z, not σ(z)
    layer.backward(np.array([[0.25]]))
    assert np.array_equal(layer.delta, [[0.25]])  # taken as δ itself
    assert np.array_equal(layer.dW, [[0.75]])


def test_the_first_layer_skips_the_input_gradient() -> None:
    layer = bound(Dense(1, Linear()), [[1.0, 1.0]], [0.0])
    layer.needs_input_grad = False
    layer.forward(np.ones((3, 2)))
    assert layer.backward(np.ones((3, 1))) is None
    assert np.array_equal(layer.db, [3.0])


@pytest.mark.parametrize(
    ("activation", "init"),
    [(ReLU(), "he_normal"), (Tanh(), "xavier_uniform"), (Sigmoid(), "xavier_uniform")],
)
def test_default_initializer_and_shapes(activation: object, init: str) -> None:
    layer = Dense(3, activation, bias=0.1)  # type: ignore[arg-type]
    assert layer.build(5) == 3 and layer.init == init
    values = layer.initial_values(np.random.default_rng(0), np.dtype(np.float32))
    assert values["W"].shape == (3, 5) and values["W"].dtype == np.float32
    assert np.all(values["b"] == np.float32(0.1))


def test_a_dense_layer_needs_a_unit() -> None:
    with pytest.raises(ValueError, match="at least one unit"):
        Dense(0, Tanh())


def test_a_bad_initial_bias_is_refused_by_name() -> None:
    from backprop_cli.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        Dense(2, Linear(), bias=float("inf"))
    assert str(caught.value) == "dense bias must lie in (−∞, ∞). Received: dense bias=inf"
