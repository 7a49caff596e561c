"""The network: flat buffers and their views, state round trips, dtype discipline, training."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli.core.activations import get_activation
from backprop_cli.core.clipping import clip_by_norm
from backprop_cli.core.layers import Dense
from backprop_cli.core.network import Network
from backprop_cli.core.optim import build_optimizer
from backprop_cli.errors import CheckpointError, ConfigError


def make_net(dtype: str = "float64", seed: int = 0, loss: str = "cross_entropy") -> Network:
    out = "softmax" if loss == "cross_entropy" else "sigmoid"
    layers = [
        Dense(8, get_activation("relu")),
        Dense(6, get_activation("tanh")),
        Dense(3, get_activation(out)),
    ]
    return Network(layers, 4, loss, np.random.default_rng(seed), dtype=dtype)


def test_layout_weights_first_and_views_share_memory() -> None:
    net = make_net()
    assert list(net.slots) == [
        "layers.0.W",
        "layers.1.W",
        "layers.2.W",
        "layers.0.b",
        "layers.1.b",
        "layers.2.b",
    ]
    assert net.n_decay == 8 * 4 + 6 * 8 + 3 * 6
    assert net.n_params == net.n_decay + 8 + 6 + 3
    dense = net.layers[1]
    assert isinstance(dense, Dense)
    assert dense.W.shape == (6, 8) and dense.b.shape == (6,)
    assert np.shares_memory(dense.W, net.params) and np.shares_memory(dense.dW, net.grads)
    net.params[:] = np.arange(net.n_params)
    assert dense.W[0, 0] == net.slots["layers.1.W"].offset


def test_views_stay_in_sync_after_updates_and_loading() -> None:
    net = make_net()
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 4)), net.prepare_targets(rng.integers(0, 3, 10))
    opt = build_optimizer("adam")
    opt.init(net.n_params, net.n_decay, net.dtype)
    for _ in range(3):
        net.loss_and_grad(X, y)
        opt.step(net.params, net.grads, 0.01)
    for i, layer in enumerate(net.layers):
        assert isinstance(layer, Dense)
        np.testing.assert_array_equal(layer.W, net.param(f"layers.{i}.W"))
        assert np.shares_memory(layer.W, net.params)
    other = make_net(seed=5)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other.params, net.params)
    np.testing.assert_array_equal(other.layers[2].W, net.layers[2].W)  # type: ignore[attr-defined]


def test_initial_weights_follow_the_seed_and_biases_are_zero() -> None:
    a, b, c = make_net(seed=3), make_net(seed=3), make_net(seed=4)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    assert not a.params[a.n_decay :].any()


def test_float32_step_stays_float32() -> None:
    net = make_net("float32")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4)).astype(np.float32)
    y = net.prepare_targets(rng.integers(0, 3, 16))
    opt = build_optimizer("adam")
    opt.init(net.n_params, net.n_decay, net.dtype)
    net.loss_and_grad(X, y)
    clip_by_norm(net.grads, 1.0)
    opt.step(net.params, net.grads, 1e-3)
    assert net.params.dtype == np.float32 and net.grads.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state.values())
    assert net.predict(X).dtype == np.float32


def test_float32_and_float64_agree() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4))
    labels = rng.integers(0, 3, 16)
    losses = []
    grads = []
    for dtype in ("float32", "float64"):
        net = make_net(dtype)
        losses.append(net.loss_and_grad(X.astype(dtype), net.prepare_targets(labels)))
        grads.append(net.grads.astype(np.float64))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5)


def test_buffers_are_reused_across_steps() -> None:
    net = make_net()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 4)), net.prepare_targets(rng.integers(0, 3, 10))
    net.loss_and_grad(X, y)
    first = net.layers[0].pre_activation.ctypes.data
    params, grads = net.params, net.grads
    net.loss_and_grad(X[:7], y[:7])  # a smaller batch reuses the leading rows
    assert net.layers[0].pre_activation.ctypes.data == first
    assert net.params is params and net.grads is grads


def test_gradients_are_overwritten_not_accumulated() -> None:
    net = make_net()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 4)), net.prepare_targets(rng.integers(0, 3, 10))
    net.loss_and_grad(X, y)
    once = net.grads.copy()
    net.loss_and_grad(X, y)
    np.testing.assert_array_equal(net.grads, once)


def test_training_reduces_the_loss() -> None:
    net = make_net()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    y = net.prepare_targets(labels)
    opt = build_optimizer("momentum")
    opt.init(net.n_params, net.n_decay, net.dtype)
    start = net.loss_value(X, y)
    for _ in range(200):
        net.loss_and_grad(X, y)
        opt.step(net.params, net.grads, 0.1)
    assert net.loss_value(X, y) < 0.3 * start
    accuracy = (net.predict(X).argmax(axis=1) == labels).mean()
    assert accuracy > 0.9


def test_load_state_dict_names_the_problem() -> None:
    net = make_net()
    state = net.state_dict()
    state["layers.1.W"] = np.zeros((2, 2))
    del state["layers.2.b"]
    with pytest.raises(CheckpointError) as info:
        net.load_state_dict(state, source="ckpt.npz")
    message = str(info.value)
    assert "ckpt.npz: layers.1.W has shape (2, 2), the model needs (6, 8)" in message
    assert "missing parameter 'layers.2.b'" in message


def test_bad_network_descriptions_are_config_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="needs a softmax output"):
        Network([Dense(3, get_activation("sigmoid"))], 4, "cross_entropy", rng, dtype="float64")
    with pytest.raises(ConfigError, match="dtype"):
        Network([Dense(3, get_activation("softmax"))], 4, "cross_entropy", rng, dtype="float16")
    with pytest.raises(ConfigError, match="at least one layer"):
        Network([], 4, "mse", rng, dtype="float64")


def test_wrong_input_width_is_reported() -> None:
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        make_net().forward(np.zeros((2, 5)))


def test_a_state_of_the_wrong_kind_names_every_problem() -> None:
    layers = [Dense(3, get_activation("tanh")), Dense(2, get_activation("softmax"))]
    net = Network(layers, 2, "cross_entropy", np.random.default_rng(0), dtype="float64")
    state = dict(net.state_dict())
    del state["layers.0.W"]
    state["layers.1.W"] = np.zeros((2, 2))
    state["layers.1.b"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(CheckpointError) as caught:
        net.load_state_dict(state, source="c.npz")
    assert sorted(str(caught.value).splitlines()) == [
        "c.npz: layers.1.W has shape (2, 2), the model needs (2, 3)",
        "c.npz: layers.1.b has dtype int64, not a float",
        "c.npz: missing parameter 'layers.0.W' of shape (3, 2)",
    ]


def test_predict_returns_a_copy_of_a_regression_output() -> None:
    net = Network(
        [Dense(2, get_activation("linear"))], 2, "mse", np.random.default_rng(0), dtype="float64"
    )
    X = np.ones((3, 2), dtype=np.float32)
    first = net.predict(X)
    first[...] = 7
    assert not np.array_equal(net.predict(X), first)


def test_the_messages_for_an_empty_network_and_an_input_without_features() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match=r"^a network needs at least one layer$"):
        Network([], 4, "mse", rng, dtype="float64")
    with pytest.raises(ConfigError, match=r"^the input needs at least one feature. Received: 0$"):
        Network([Dense(1, get_activation("linear"))], 0, "mse", rng, dtype="float64")
    expected = r"^the last layer must be dense \(it gives the outputs\), received dropout$"
    from backprop_cli.core.layers import Dropout

    with pytest.raises(ConfigError, match=expected):
        Network([Dense(2, get_activation("linear")), Dropout(0.5)], 1, "mse", rng, dtype="float64")


def test_the_input_gradient_is_computed_only_when_asked() -> None:
    net = make_net()
    X = np.random.default_rng(1).standard_normal((5, 4))
    net.loss_value(X, np.array([0, 1, 2, 0, 1]))
    assert net.backward() is None
    dX = net.backward(input_grad=True)
    assert dX is not None and dX.shape == (5, 4)
    assert net.backward() is None  # asking once does not keep it on


def test_dropout_masks_follow_the_seed_when_no_noise_generator_is_given() -> None:
    from backprop_cli.core.layers import Dropout

    def masks(seed: int) -> np.ndarray:
        layers = [
            Dense(64, get_activation("linear")),
            Dropout(0.5),
            Dense(1, get_activation("linear")),
        ]
        net = Network(layers, 1, "mse", np.random.default_rng(seed), dtype="float64")
        net.layers[0].W[...] = 1.0
        net.layers[0].b[...] = 0.0
        return net.layers[1].forward(net.layers[0].forward(np.ones((1, 1))), training=True)

    assert np.array_equal(masks(3), masks(3))  # the same seed, the same masks
    assert not np.array_equal(masks(3), masks(4))  # another seed, other masks
