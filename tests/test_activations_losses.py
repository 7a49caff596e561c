"""Activations, losses and initializers: golden values, stability, pairing rules, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backprop_cli.core.activations import ACTIVATIONS, get_activation
from backprop_cli.core.initializers import INITIALIZERS, default_initializer, initialize
from backprop_cli.core.losses import (
    MeanSquaredError,
    SigmoidBinaryCrossEntropy,
    SoftmaxCrossEntropy,
    build_loss,
)
from backprop_cli.errors import ConfigError, DataError

logits = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 6)),
    elements=st.floats(-50, 50, allow_nan=False),
)


def test_activation_golden_values() -> None:
    z = np.array([[-2.0, 0.0, 1.0]])
    # σ(−2) = 1/(1 + e²) = 1/8.38905609893065 = 0.119202922022118; σ(0) = ½
    # σ(1) = 1/(1 + e^−1) = 0.731058578630005
    np.testing.assert_allclose(
        get_activation("sigmoid").forward(z),
        [[0.119202922022118, 0.5, 0.731058578630005]],
        atol=1e-15,
    )
    # tanh(−2) = −0.964027580075817, tanh(1) = 0.761594155955765
    np.testing.assert_allclose(
        get_activation("tanh").forward(z),
        [[-0.964027580075817, 0.0, 0.761594155955765]],
        atol=1e-15,
    )
    np.testing.assert_array_equal(get_activation("relu").forward(z), [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(get_activation("leaky_relu").forward(z), [[-0.02, 0.0, 1.0]])
    np.testing.assert_allclose(
        get_activation("leaky_relu", alpha=0.2).forward(z), [[-0.4, 0.0, 1.0]]
    )
    np.testing.assert_array_equal(get_activation("linear").forward(z), z)
    # softmax([−2, 0, 1]): e^−2 = 0.135335283236613, e^0 = 1, e^1 = 2.718281828459045,
    #   sum 3.853617111695658 → [0.135335283236613, 1, 2.718281828459045] / 3.853617111695658
    #   = [0.0351190269593397, 0.259496460342419, 0.705384512698241]
    np.testing.assert_allclose(
        get_activation("softmax").forward(z),
        [[0.0351190269593397, 0.259496460342419, 0.705384512698241]],
        atol=1e-15,
    )


def test_derivatives_golden() -> None:
    z = np.array([[-2.0, 0.5, 1.0]])
    # σ′(z) = σ(1 − σ): σ(1) = 0.731058578630005 → 0.196611933241482
    sig = get_activation("sigmoid")
    np.testing.assert_allclose(
        sig.derivative(z, sig.forward(z))[0, 2], 0.196611933241482, atol=1e-15
    )
    # tanh′(1) = 1 − 0.761594155955765² = 0.419974341614026
    tanh = get_activation("tanh")
    np.testing.assert_allclose(
        tanh.derivative(z, tanh.forward(z))[0, 2], 0.419974341614026, atol=1e-15
    )
    relu = get_activation("relu")
    np.testing.assert_array_equal(relu.derivative(z, relu.forward(z)), [[0.0, 1.0, 1.0]])
    leaky = get_activation("leaky_relu")
    np.testing.assert_allclose(leaky.derivative(z, leaky.forward(z)), [[0.01, 1.0, 1.0]])


@given(logits)
def test_softmax_is_a_distribution(z: np.ndarray) -> None:
    p = get_activation("softmax").forward(z)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@given(logits, st.floats(-1e3, 1e3))
def test_softmax_is_shift_invariant(z: np.ndarray, shift: float) -> None:
    softmax = get_activation("softmax")
    np.testing.assert_allclose(softmax.forward(z + shift), softmax.forward(z), atol=1e-9)


@given(logits)
def test_sigmoid_is_stable_and_bounded(z: np.ndarray) -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = get_activation("sigmoid").forward(z * 20)  # up to ±1000: e^1000 would overflow
    assert np.all((a >= 0) & (a <= 1))


@given(logits, st.data())
def test_losses_are_non_negative(z: np.ndarray, data: st.DataObject) -> None:
    n, k = z.shape
    labels = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    ce = SoftmaxCrossEntropy()
    assert ce.forward(z, ce.prepare_targets(labels, k, z.dtype)) >= 0
    bits = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n * k, max_size=n * k)))
    bce = SigmoidBinaryCrossEntropy()
    assert bce.forward(z, bce.prepare_targets(bits.reshape(n, k).astype(float), k, z.dtype)) >= 0
    mse = MeanSquaredError()
    assert mse.forward(z, mse.prepare_targets(z[::-1], k, z.dtype)) >= 0


def test_cross_entropy_golden_and_fused_gradient() -> None:
    # logits [0, ln 3] → softmax [1/4, 3/4]; label 1: L = −ln(3/4) = 0.287682072451781
    # ∂L/∂z = (ŷ − y)/N = [1/4, 3/4 − 1] = [0.25, −0.25]
    ce = SoftmaxCrossEntropy()
    z = np.array([[0.0, math.log(3.0)]])
    assert ce.forward(z, ce.prepare_targets(np.array([1]), 2, z.dtype)) == pytest.approx(
        0.287682072451781, abs=1e-15
    )
    np.testing.assert_allclose(ce.backward(), [[0.25, -0.25]], atol=1e-15)


def test_cross_entropy_survives_huge_logits() -> None:
    # z = [1000, 0], label 0: L = −log softmax = log(1 + e^−1000) ≈ 0; label 1: L = 1000
    ce = SoftmaxCrossEntropy()
    z = np.array([[1000.0, 0.0], [1000.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = ce.forward(z, ce.prepare_targets(np.array([0, 1]), 2, z.dtype))
    assert loss == pytest.approx((0.0 + 1000.0) / 2)
    np.testing.assert_allclose(ce.backward(), [[0.0, 0.0], [0.5, -0.5]], atol=1e-15)


def test_binary_cross_entropy_golden_and_stable() -> None:
    # z = 0, y = 1: ŷ = ½, L = −ln ½ = 0.693147180559945, ∂L/∂z = ½ − 1 = −½
    bce = SigmoidBinaryCrossEntropy()
    z = np.array([[0.0]])
    assert bce.forward(z, bce.prepare_targets(np.array([1.0]), 1, z.dtype)) == pytest.approx(
        0.693147180559945, abs=1e-15
    )
    np.testing.assert_allclose(bce.backward(), [[-0.5]])
    # z = −800, y = 1: L = max(z, 0) − y·z + log(1 + e^−|z|) = 0 + 800 + ~0 = 800, no overflow
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert bce.forward(np.array([[-800.0]]), np.array([[1.0]])) == pytest.approx(800.0)


def test_mse_golden() -> None:
    # ŷ = [[1, 2], [3, 5]], y = [[0, 2], [3, 3]]: per sample ½(1² + 0) = 0.5 and ½(0 + 2²) = 2;
    # mean 1.25; ∂L/∂ŷ = (ŷ − y)/2 = [[0.5, 0], [0, 1]]
    mse = MeanSquaredError()
    y = mse.prepare_targets(np.array([[0.0, 2.0], [3.0, 3.0]]), 2, np.dtype("float64"))
    assert mse.forward(np.array([[1.0, 2.0], [3.0, 5.0]]), y) == 1.25
    np.testing.assert_array_equal(mse.backward(), [[0.5, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("loss", "activation"),
    [
        ("cross_entropy", "sigmoid"),
        ("cross_entropy", "relu"),
        ("binary_cross_entropy", "softmax"),
        ("binary_cross_entropy", "linear"),
        ("hinge", "linear"),
    ],
)
def test_wrong_pairings_are_config_errors(loss: str, activation: str) -> None:
    with pytest.raises(ConfigError, match="loss"):
        build_loss(loss, get_activation(activation))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mse_accepts_every_output(activation: str) -> None:
    assert isinstance(build_loss("mse", get_activation(activation)), MeanSquaredError)


def test_bad_targets_are_data_errors() -> None:
    ce = SoftmaxCrossEntropy()
    with pytest.raises(DataError, match=r"\[0, 2\]"):
        ce.prepare_targets(np.array([0, 3]), 3, np.dtype("float64"))
    with pytest.raises(DataError, match="shape"):
        MeanSquaredError().prepare_targets(np.zeros((4, 2)), 3, np.dtype("float64"))
    with pytest.raises(DataError, match=r"\[0, 2\] for 3 output units"):
        MeanSquaredError().prepare_targets(np.array([0, 3]), 3, np.dtype("float64"))


def test_integer_labels_for_mse_and_bce() -> None:
    # Several output units: one-hot rows; one unit: the label itself as 0/1.
    f64 = np.dtype("float64")
    onehot = MeanSquaredError().prepare_targets(np.array([2, 0]), 3, f64)
    np.testing.assert_array_equal(onehot, [[0, 0, 1], [1, 0, 0]])
    single = SigmoidBinaryCrossEntropy().prepare_targets(np.array([1, 0, 1]), 1, f64)
    np.testing.assert_array_equal(single, [[1.0], [0.0], [1.0]])
    assert single.dtype == np.float64
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        SigmoidBinaryCrossEntropy().prepare_targets(np.array([0.0, 2.0]), 1, np.dtype("float64"))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_keep_float32(name: str) -> None:
    z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    act = get_activation(name)
    a = act.forward(z)
    assert a.dtype == np.float32
    assert act.backward(np.ones_like(z), z, a).dtype == np.float32


def test_initializers_statistics_and_determinism() -> None:
    fan_in, fan_out = 400, 300
    for name in INITIALIZERS:
        w1 = initialize(name, np.random.default_rng(7), fan_in, fan_out, np.dtype("float64"))
        w2 = initialize(name, np.random.default_rng(7), fan_in, fan_out, np.dtype("float64"))
        assert w1.shape == (fan_out, fan_in)
        np.testing.assert_array_equal(w1, w2)
    # Var(U(−l, l)) = l²/3: Xavier uniform l² = 6/(fan_in + fan_out) → Var = 2/(fan_in + fan_out)
    rng = np.random.default_rng(0)
    for name, var in [
        ("xavier_uniform", 2 / 700),
        ("xavier_normal", 2 / 700),
        ("he_uniform", 2 / 400),
        ("he_normal", 2 / 400),
    ]:
        w = initialize(name, rng, fan_in, fan_out, np.dtype("float64"))
        assert w.var() == pytest.approx(var, rel=0.03), name
        assert abs(w.mean()) < 0.01
    w = initialize("normal", rng, fan_in, fan_out, np.dtype("float32"), std=0.5)
    assert w.dtype == np.float32 and w.std() == pytest.approx(0.5, rel=0.03)
    assert not initialize("zeros", rng, 3, 2, np.dtype("float64")).any()


def test_default_initializer_follows_the_activation() -> None:
    assert default_initializer("relu") == "he_normal"
    assert default_initializer("leaky_relu") == "he_normal"
    for name in ("sigmoid", "tanh", "softmax", "linear"):
        assert default_initializer(name) == "xavier_uniform"


def test_weighted_binary_cross_entropy_with_one_unit_golden() -> None:
    # Class weights w₀ = 1, w₁ = 3; targets y = (1, 0); logits z = (0, ln 3), so ŷ = (½, ¾).
    # ω = w₀ + (w₁ − w₀)·y = (3, 1), Σω = 4.
    # ℓ₁ = max(0, 0) − 1·0 + log(1 + e⁰) = ln 2
    # ℓ₂ = ln 3 − 0 + log(1 + e^(−ln 3)) = ln 3 + ln(4/3) = ln 4 = 2 ln 2
    # L = (3·ln 2 + 1·2 ln 2) / 4 = 5 ln 2 / 4
    # ∂L/∂z = ω(ŷ − y)/Σω = (3·(½ − 1)/4, 1·(¾ − 0)/4) = (−0.375, 0.1875)
    loss = SigmoidBinaryCrossEntropy()
    loss.set_class_weights(np.array([1.0, 3.0]))
    z = np.array([[0.0], [math.log(3.0)]])
    y = loss.prepare_targets(np.array([1, 0]), 1, np.dtype(np.float64))
    assert loss.forward(z, y) == pytest.approx(5 * math.log(2) / 4, rel=1e-12)
    assert loss.weight_sum == 4.0
    np.testing.assert_allclose(loss.backward(), [[-0.375], [0.1875]], rtol=1e-12)


def test_weighted_cross_entropy_golden_and_a_batch_of_weight_zero() -> None:
    # Two classes weighted (1, 3); logits (0, 0) for both samples, so ŷ = (½, ½) and ℓ = ln 2.
    # Labels (1, 0): ω = (3, 1), Σω = 4, L = ln 2; ∂L/∂z_n = ω_n(ŷ_n − y_n)/4:
    # sample 1: 3·(½, −½)/4 = (0.375, −0.375); sample 2: 1·(−½, ½)/4 = (−0.125, 0.125).
    loss = SoftmaxCrossEntropy()
    loss.set_class_weights(np.array([1.0, 3.0]))
    z = np.zeros((2, 2))
    assert loss.forward(z, np.array([1, 0])) == pytest.approx(math.log(2), rel=1e-12)
    assert loss.weight_sum == 4.0
    np.testing.assert_allclose(loss.backward(), [[0.375, -0.375], [-0.125, 0.125]], rtol=1e-12)
    # A batch whose classes all weigh 0 adds nothing: loss 0, gradient 0.
    loss.set_class_weights(np.array([0.0, 3.0]))
    assert loss.forward(z, np.array([0, 0])) == 0.0
    assert loss.weight_sum == 0.0
    assert not np.any(loss.backward())


@given(
    shape=st.tuples(st.integers(1, 300), st.integers(1, 40)),
    column=st.integers(0, 39),
    seed=st.integers(0, 2**16),
)
def test_the_row_max_is_numpys_for_every_shape(
    shape: tuple[int, int], column: int, seed: int
) -> None:
    from backprop_cli.core.losses import _row_max

    x = np.random.default_rng(seed).standard_normal(shape)
    x[:, column % shape[1]] += 100.0  # the maximum in a chosen column, the first one included
    out = np.empty((shape[0], 1))
    assert np.array_equal(_row_max(x, out), x.max(axis=1, keepdims=True))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_every_initializer_draws_in_the_asked_dtype(name: str) -> None:
    for dtype in (np.float32, np.float64):
        w = initialize(name, np.random.default_rng(1), 4, 3, np.dtype(dtype))
        assert w.dtype == dtype and w.shape == (3, 4)


def test_normal_init_defaults_to_a_std_of_one_hundredth() -> None:
    w = initialize("normal", np.random.default_rng(0), 500, 400, np.dtype("float64"))
    assert w.std() == pytest.approx(0.01, rel=0.03)


def test_hyperparameter_errors_name_the_layer_or_activation() -> None:
    from backprop_cli.core.layers import BatchNorm, Dropout, Residual

    for build, message in (
        (lambda: BatchNorm(momentum=1.0), "batchnorm momentum must lie in [0, 1)"),
        (lambda: Dropout(rate=1.0), "dropout rate must lie in [0, 1)"),
        (lambda: get_activation("leaky_relu", alpha=1.0), "alpha must lie in [0, 1)"),
    ):
        with pytest.raises(ConfigError) as caught:
            build()
        assert str(caught.value).startswith(message)
    with pytest.raises(ValueError, match=r"^a residual block needs at least one layer$"):
        Residual([])


def test_targets_take_the_training_dtype_and_errors_name_the_loss() -> None:
    f32 = np.dtype(np.float32)
    rows = np.array([[0.2, 0.8], [1.0, 0.0]])
    for loss in (MeanSquaredError(), SoftmaxCrossEntropy(), SigmoidBinaryCrossEntropy()):
        assert loss.prepare_targets(rows, 2, f32).dtype == f32
        with pytest.raises(DataError) as caught:
            loss.prepare_targets(np.zeros((3, 3)), 2, f32)
        assert str(caught.value).startswith(f"{loss.name} needs targets of shape (N, 2)")
    labels = SoftmaxCrossEntropy().prepare_targets(np.array([1, 0]), 2, f32)
    assert labels.dtype == np.intp and list(labels) == [1, 0]


def test_weighted_binary_cross_entropy_with_several_units_golden() -> None:
    # Two units with one-hot rows: ω_n = Σ_k y_nk w_k. Weights (1, 3); rows (0, 1) and (1, 0):
    # ω = (3, 1), Σω = 4. Logits 0 everywhere: every entry's loss is ln 2, a row's is 2 ln 2.
    # L = Σ_n ω_n ℓ_n / Σω = (3 + 1)·2 ln 2 / 4 = 2 ln 2
    # ∂L/∂z_n = ω_n (ŷ_n − y_n)/Σω: row 1: 3·(½, −½)/4; row 2: 1·(−½, ½)/4.
    loss = SigmoidBinaryCrossEntropy()
    loss.set_class_weights(np.array([1.0, 3.0]))
    y = loss.prepare_targets(np.array([[0.0, 1.0], [1.0, 0.0]]), 2, np.dtype(np.float64))
    assert loss.forward(np.zeros((2, 2)), y) == pytest.approx(2 * math.log(2), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), [[0.375, -0.375], [-0.125, 0.125]], rtol=1e-12)
    # Rows of a class weighing 0 only: nothing to learn from.
    loss.set_class_weights(np.array([0.0, 3.0]))
    y0 = loss.prepare_targets(np.array([[1.0, 0.0]]), 2, np.dtype(np.float64))
    assert loss.forward(np.zeros((1, 2)), y0) == 0.0 and loss.weight_sum == 0.0
    assert not np.any(loss.backward())


def test_activations_describe_themselves() -> None:
    leaky = get_activation("leaky_relu", alpha=0.2)
    assert leaky.params() == {"alpha": 0.2} and repr(leaky) == "LeakyReLU(alpha=0.2)"
    assert get_activation("tanh").params() == {} and repr(get_activation("tanh")) == "Tanh()"


def test_the_elementwise_derivatives_that_backward_bypasses() -> None:
    z = np.array([[-1.0, 0.0, 2.0]])
    linear = get_activation("linear")
    assert np.array_equal(linear.derivative(z, z), np.ones_like(z))
    out = np.empty_like(z)
    assert linear.derivative(z, z, out=out) is out and np.array_equal(out, np.ones_like(z))
    with pytest.raises(TypeError, match="softmax has a full Jacobian"):
        get_activation("softmax").derivative(z, z)


def test_bce_predicts_probabilities_from_logits() -> None:
    probs = SigmoidBinaryCrossEntropy().predict(np.array([[0.0], [math.log(3.0)]]))
    np.testing.assert_allclose(probs, [[0.5], [0.75]], rtol=1e-12)


def test_softmax_of_rows_on_different_scales() -> None:
    # Each row is shifted by its own maximum: a row far below another stays finite.
    probs = get_activation("softmax").forward(np.array([[1000.0, 999.0], [-1000.0, -999.0]]))
    e = math.exp(-1)
    np.testing.assert_allclose(probs, [[1 / (1 + e), e / (1 + e)], [e / (1 + e), 1 / (1 + e)]])


def test_constructor_defaults_are_the_declared_ones() -> None:
    from backprop_cli.core.activations import LeakyReLU
    from backprop_cli.core.layers import BatchNorm, Dense, Dropout

    assert LeakyReLU().alpha == LeakyReLU.hyper["alpha"].default == 0.01
    assert (BatchNorm().momentum, BatchNorm().eps) == (0.9, 1e-5)
    assert Dropout().rate == 0.5
    assert Dense(2, get_activation("tanh")).initial_bias == 0.0
    with pytest.raises(ConfigError, match=r"^leaky_relu alpha must lie in \[0, 1\)"):
        LeakyReLU(1.0)


def test_weighted_cross_entropy_with_weights_summing_below_one() -> None:
    # Weights (0.25, 0.25): Σω = 0.5 for two samples, and the weighted mean is the plain mean.
    loss = SoftmaxCrossEntropy()
    loss.set_class_weights(np.array([0.25, 0.25]))
    assert loss.forward(np.zeros((2, 2)), np.array([0, 1])) == pytest.approx(math.log(2))
    assert loss.weight_sum == 0.5


@pytest.mark.parametrize("n", [999, 3001])
def test_float32_losses_are_summed_in_float64(n: int) -> None:
    """Every sample's loss is the same float32 number v, so a float64 sum is n·v exactly and
    the mean is v exactly (n·v needs at most 24 + 12 bits); a float32 sum would round."""
    f32 = np.float32
    zeros3 = np.zeros((n, 3), dtype=f32)  # softmax of equal logits: ℓ = log 3 for every label
    labels = np.zeros(n, dtype=np.intp)
    log3 = float(np.log(f32(3)))
    assert SoftmaxCrossEntropy().forward(zeros3, labels) == log3
    one_hot = np.eye(3, dtype=f32)[labels]  # rows of probabilities: the same loss
    assert SoftmaxCrossEntropy().forward(zeros3, one_hot) == log3
    # BCE of z = 0: ℓ = max(0, 0) − y·0 + log(1 + e⁰) = log 2 per entry, mean over the rows.
    bce = SigmoidBinaryCrossEntropy().forward(np.zeros((n, 2), dtype=f32), np.ones((n, 2), f32))
    assert bce == 2 * float(np.log1p(f32(1)))
    # MSE of a constant error 0.1: ½·(0.1)², with (0.1)² rounded once in float32.
    square = float(f32(0.1) * f32(0.1))
    assert (
        MeanSquaredError().forward(np.full((n, 1), 0.1, f32), np.zeros((n, 1), f32)) == 0.5 * square
    )


def test_cross_entropy_of_rows_of_probabilities_by_hand() -> None:
    # z = (0, ln 3): softmax = (1/4, 3/4). y = (1/2, 1/2):
    # ℓ = −½ ln ¼ − ½ ln ¾ = ½ (ln 4 + ln 4 − ln 3) = ln 4 − ½ ln 3 = 0.8369882167858358
    loss = SoftmaxCrossEntropy()
    z = np.array([[0.0, math.log(3)], [0.0, math.log(3)], [0.0, math.log(3)]])
    y = np.full((3, 2), 0.5)
    assert loss.forward(z, y) == pytest.approx(math.log(4) - 0.5 * math.log(3), rel=1e-14)
    assert loss.weight_sum == 3.0
    # ∂L/∂z = (ŷ − y)/N = (−1/4, 1/4)/3 per row
    np.testing.assert_allclose(loss.backward(), np.tile([-1 / 12, 1 / 12], (3, 1)), rtol=1e-14)


def test_the_weight_of_a_batch_is_its_number_of_rows() -> None:
    bce = SigmoidBinaryCrossEntropy()
    bce.forward(np.zeros((5, 2)), np.ones((5, 2)))
    assert bce.weight_sum == 5.0
    mse = MeanSquaredError()
    mse.forward(np.zeros((4, 3)), np.ones((4, 3)))
    assert mse.weight_sum == 4.0
    ce = SoftmaxCrossEntropy()
    ce.forward(np.zeros((6, 3)), np.array([0, 1, 2, 0, 1, 2]))
    assert ce.weight_sum == 6.0


def test_class_weights_on_a_regression_loss_are_refused_with_the_reason() -> None:
    with pytest.raises(
        ConfigError, match=r"^class weights apply to classification losses, not mse$"
    ):
        MeanSquaredError().set_class_weights(np.ones(2))


def test_the_output_dtype_of_one_hot_targets_follows_the_network() -> None:
    loss = SigmoidBinaryCrossEntropy()
    for k, labels in [(3, [0, 2, 1]), (2, [1, 0, 1])]:
        y = loss.prepare_targets(np.array(labels), k, np.dtype("float32"))
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, np.eye(k)[labels])


def test_elu_golden_values() -> None:
    z = np.array([[-2.0, 0.0, 1.0]])
    # α = 1: elu(−2) = e⁻² − 1 = 0.1353352832366127 − 1 = −0.8646647167633873; elu(0) = e⁰ − 1 = 0
    # elu′(−2) = α·e⁻² = 0.1353352832366127, elu′(0) = α·e⁰ = 1 (no kink at α = 1), elu′(1) = 1
    elu = get_activation("elu")
    a = elu.forward(z)
    np.testing.assert_allclose(a, [[-0.8646647167633873, 0.0, 1.0]], rtol=1e-15)
    np.testing.assert_allclose(elu.derivative(z, a), [[0.1353352832366127, 1.0, 1.0]], rtol=1e-15)
    # α = 0.5: elu(−2) = 0.5·(e⁻² − 1) = −0.43233235838169365
    #          elu′(−2) = 0.5·e⁻² = 0.06766764161830635
    half = get_activation("elu", alpha=0.5)
    a = half.forward(z)
    assert a[0, 0] == pytest.approx(-0.43233235838169365, rel=1e-15)
    assert half.derivative(z, a)[0, 0] == pytest.approx(0.06766764161830635, rel=1e-15)
    assert half.forward(np.array([[-50.0]], dtype=np.float32)).dtype == np.float32  # → −α
    with pytest.raises(ConfigError, match=r"alpha must lie in \(0, ∞\)"):
        get_activation("elu", alpha=0.0)


def test_prelu_golden_values_and_slope_gradient() -> None:
    # On its own every slope is 0.25: prelu(−2) = −0.5, prelu(0) = 0, prelu(3) = 3.
    alone = get_activation("prelu")
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(alone.forward(z), [[-0.5, 0.0, 3.0]])
    np.testing.assert_array_equal(alone.derivative(z, alone.forward(z)), [[0.25, 0.25, 1.0]])
    # Bound, one slope per unit α = (0.1, 0.5); z = [[−1, 2], [3, −4]]:
    #   a = [[−0.1, 2], [3, −2]];  with dout = [[1, 2], [3, 4]]: ∂L/∂z = [[0.1, 2], [3, 2]]
    #   ∂L/∂α_0 = 1·min(−1, 0) + 3·min(3, 0) = −1;  ∂L/∂α_1 = 2·0 + 4·(−4) = −16
    prelu = get_activation("prelu")
    assert prelu.param_shapes(2) == {"alpha": (2,)}
    np.testing.assert_array_equal(prelu.initial_params(2, np.dtype("f8"))["alpha"], [0.25, 0.25])
    alpha, dalpha = np.array([0.1, 0.5]), np.full(2, np.nan)
    prelu.bind({"alpha": alpha}, {"alpha": dalpha})
    z = np.array([[-1.0, 2.0], [3.0, -4.0]])
    a = prelu.forward(z)
    np.testing.assert_allclose(a, [[-0.1, 2.0], [3.0, -2.0]], rtol=1e-15)
    dz = prelu.backward(np.array([[1.0, 2.0], [3.0, 4.0]]), z, a)
    np.testing.assert_allclose(dz, [[0.1, 2.0], [3.0, 2.0]], rtol=1e-15)
    np.testing.assert_array_equal(dalpha, [-1.0, -16.0])  # overwritten, not accumulated
