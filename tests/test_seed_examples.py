"""The seed's worked examples, reproduced exactly through the engine.

Every expected number is derived by hand in the comments (σ(z) = 1/(1 + e^(−z)) evaluated to 15
digits); the engine is never used to produce an expected value.
"""

from __future__ import annotations

import numpy as np

from backprop_cli.core.activations import get_activation
from backprop_cli.core.layers import Dense
from backprop_cli.core.network import Network
from backprop_cli.core.optim import SGD


def seed_network() -> Network:
    """Input (2) → hidden (3, sigmoid) → output (1, sigmoid), MSE, the seed's weights."""
    net = Network(
        [Dense(3, get_activation("sigmoid")), Dense(1, get_activation("sigmoid"))],
        input_dim=2,
        loss="mse",
        rng=np.random.default_rng(0),
        dtype="float64",
    )
    net.load_state_dict(
        {
            "layers.0.W": np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]),
            "layers.0.b": np.array([0.1, 0.2, 0.3]),
            "layers.1.W": np.array([[0.7, 0.8, 0.9]]),
            "layers.1.b": np.array([0.4]),
        }
    )
    return net


def test_worked_example_forward_backward_and_update() -> None:
    net = seed_network()
    x = np.array([[1.0, 2.0]])
    y = net.prepare_targets(np.array([1.0]))

    loss = net.loss_value(x, y)
    # z1 = W1 x + b1 = [0.1·1 + 0.2·2 + 0.1, 0.3·1 + 0.4·2 + 0.2, 0.5·1 + 0.6·2 + 0.3]
    #    = [0.6, 1.3, 2.0]
    np.testing.assert_allclose(net.layers[0].pre_activation, [[0.6, 1.3, 2.0]], atol=1e-15)
    # a1 = σ(z1): σ(0.6) = 1/(1 + e^−0.6) = 1/1.548811636094026 = 0.645656306225795
    #             σ(1.3) = 1/(1 + 0.272531793034013) = 0.785834983042559
    #             σ(2.0) = 1/(1 + 0.135335283236613) = 0.880797077977882
    a1 = [0.645656306225795, 0.785834983042559, 0.880797077977882]
    np.testing.assert_allclose(net.layers[0].output, [a1], atol=1e-15)
    # z2 = 0.7·a1₁ + 0.8·a1₂ + 0.9·a1₃ + 0.4
    #    = 0.451959414358057 + 0.628667986434047 + 0.792717370180094 + 0.4 = 2.273344770972198
    np.testing.assert_allclose(net.layers[1].pre_activation, [[2.273344770972198]], atol=1e-14)
    # a2 = σ(2.273344770972198) = 1/(1 + 0.102969074005...) = 0.906645273226531
    np.testing.assert_allclose(net.layers[1].output, [[0.906645273226531]], atol=1e-15)
    # L = ½(a2 − y)² = ½(−0.093354726773469)² = ½·0.008715105010949 = 0.004357552505474513
    assert abs(loss - 0.004357552505474513) < 1e-16

    net.backward()
    # δ2 = (a2 − y)·a2(1 − a2) = −0.093354726773469 · 0.084639621762520 = −0.007901508763849790
    # With one sample, ∂L/∂b2 = δ2 and ∂L/∂W2 = δ2·a1ᵀ.
    delta2 = -0.007901508763849790
    np.testing.assert_allclose(net.grad("layers.1.b"), [delta2], atol=1e-17)
    # ∂L/∂W2 = δ2·a1 = [−0.005101658962078007, −0.006209282005450528, −0.006959625830815525]
    np.testing.assert_allclose(
        net.grad("layers.1.W"),
        [[-0.005101658962078007, -0.006209282005450528, -0.006959625830815525]],
        atol=1e-17,
    )
    # δ1 = (W2ᵀ δ2) ⊙ a1(1 − a1), a1(1 − a1) = [0.228784240456657, 0.168298362469060,
    #      0.104993585403507]:
    #    = [0.7·δ2·0.228784240456657, 0.8·δ2·0.168298362469060, 0.9·δ2·0.104993585403507]
    #    = [−0.001265418476699297, −0.001063848788792678, −0.0007466469616924364] = ∂L/∂b1
    delta1 = [-0.001265418476699297, -0.001063848788792678, -0.0007466469616924364]
    np.testing.assert_allclose(net.grad("layers.0.b"), delta1, atol=1e-17)
    # ∂L/∂W1 = δ1 xᵀ: column 1 is δ1·1, column 2 is δ1·2.
    np.testing.assert_allclose(
        net.grad("layers.0.W"),
        [
            [-0.001265418476699297, -0.002530836953398594],
            [-0.001063848788792678, -0.002127697577585357],
            [-0.0007466469616924364, -0.001493293923384873],
        ],
        atol=1e-17,
    )

    # One SGD step with lr 0.1: every parameter moves by −0.1·gradient.
    sgd = SGD()
    sgd.init(net.n_params, net.n_decay, net.dtype)
    sgd.step(net.params, net.grads, 0.1)
    # W2 = [0.7 + 0.0005101658962078007, 0.8 + 0.0006209282005450528, 0.9 + 0.0006959625830815525]
    np.testing.assert_allclose(
        net.param("layers.1.W"),
        [[0.700510165896208, 0.800620928200545, 0.900695962583082]],
        atol=1e-15,
    )
    # b2 = 0.4 + 0.000790150876384979 = 0.400790150876385
    np.testing.assert_allclose(net.param("layers.1.b"), [0.400790150876385], atol=1e-15)
    # W1 = W1 − 0.1·∂L/∂W1, e.g. 0.1 + 0.0001265418476699297 = 0.100126541847670
    np.testing.assert_allclose(
        net.param("layers.0.W"),
        [
            [0.100126541847670, 0.200253083695340],
            [0.300106384878879, 0.400212769757759],
            [0.500074664696169, 0.600149329392338],
        ],
        atol=1e-15,
    )
    # b1 = [0.1 + 0.000126541847670, 0.2 + 0.000106384878879, 0.3 + 0.0000746646961692]
    np.testing.assert_allclose(
        net.param("layers.0.b"),
        [0.100126541847670, 0.200106384878879, 0.300074664696169],
        atol=1e-15,
    )


def test_one_dimensional_descent_on_x_squared() -> None:
    """f(x) = x², f′(x) = 2x, x₀ = 3, lr 0.1: x ← x − 0.1·2x = 0.8x, so x_k = 3·0.8ᵏ."""
    x = np.array([3.0])
    sgd = SGD()
    sgd.init(1, 0, x.dtype)
    for k in range(1, 11):
        sgd.step(x, 2 * x, 0.1)
        assert abs(x[0] - 3 * 0.8**k) < 1e-12
    # After ten steps: 3·0.8¹⁰ = 3·0.1073741824 = 0.3221225472, f(x) = 0.103762935...
    assert abs(x[0] - 0.3221225472) < 1e-12


def test_chain_rule_through_the_engine() -> None:
    """y = (3x + 2)²: a linear unit z = 3x + 2 under MSE with target 0 gives L = ½(3x + 2)² = y/2.

    Chain rule: dy/dx = (dy/dg)(dg/dx) = 2g·3 = 6(3x + 2), so ∂L/∂x = 3(3x + 2) and
    ∂L/∂w = (3x + 2)·x, ∂L/∂b = 3x + 2. At x = 1: y = 25, dy/dx = 30.
    """
    net = Network(
        [Dense(1, get_activation("linear"))], 1, "mse", np.random.default_rng(0), dtype="float64"
    )
    net.load_state_dict({"layers.0.W": np.array([[3.0]]), "layers.0.b": np.array([2.0])})
    for x in (-2.0, -0.5, 0.0, 1.0, 2.5):
        loss = net.loss_value(np.array([[x]]), net.prepare_targets(np.array([0.0])))
        dx = net.backward(input_grad=True)
        assert dx is not None
        assert abs(2 * loss - (3 * x + 2) ** 2) < 1e-12
        assert abs(2 * dx[0, 0] - 6 * (3 * x + 2)) < 1e-12
        assert abs(net.grad("layers.0.W")[0, 0] - (3 * x + 2) * x) < 1e-12
        assert abs(net.grad("layers.0.b")[0] - (3 * x + 2)) < 1e-12
    # The value the seed names: x = 1 → dy/dx = 6·5 = 30.
    net.loss_value(np.array([[1.0]]), net.prepare_targets(np.array([0.0])))
    dx = net.backward(input_grad=True)
    assert dx is not None and 2 * dx[0, 0] == 30.0
