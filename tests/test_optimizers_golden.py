"""Golden two-step values for every optimizer, with and without weight decay.

The problem, shared by every case: a flat buffer θ = [w₀, w₁, b] whose first two entries are weights
(decayed) and the last a bias (never decayed); θ⁰ = [1, −2, 0.5], lr = 0.1, and the fixed gradients
g¹ = [0.5, −1, 0.25] and g² = [−0.25, 0.5, 1]. With L2 decay λ = 0.1 the gradient the rule sees is
g + λ·[w₀, w₁, 0]. Every expected value below is derived by hand in the comments (exact decimals
where the arithmetic is rational; square roots worked to 15 digits).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from backprop_cli.core.optim import build_optimizer

THETA0 = [1.0, -2.0, 0.5]
GRADS = [[0.5, -1.0, 0.25], [-0.25, 0.5, 1.0]]
LR = 0.1

CASES = {
    # SGD: w ← w − lr·g
    #   step 1: [1 − 0.05, −2 + 0.1, 0.5 − 0.025] = [0.95, −1.9, 0.475]
    #   step 2: [0.95 + 0.025, −1.9 − 0.05, 0.475 − 0.1] = [0.975, −1.95, 0.375]
    ("sgd", 0.0): ([0.95, -1.9, 0.475], [0.975, -1.95, 0.375]),
    # SGD + L2: g¹' = [0.5 + 0.1, −1 − 0.2, 0.25] = [0.6, −1.2, 0.25] → θ¹ = [0.94, −1.88, 0.475]
    #   g²' = [−0.25 + 0.094, 0.5 − 0.188, 1] = [−0.156, 0.312, 1]
    #   θ² = [0.94 + 0.0156, −1.88 − 0.0312, 0.475 − 0.1] = [0.9556, −1.9112, 0.375]
    ("sgd", 0.1): ([0.94, -1.88, 0.475], [0.9556, -1.9112, 0.375]),
    # Momentum (μ = 0.9): v ← μv − lr·g; w ← w + v
    #   v¹ = [−0.05, 0.1, −0.025], θ¹ = [0.95, −1.9, 0.475]
    #   v² = [−0.045 + 0.025, 0.09 − 0.05, −0.0225 − 0.1] = [−0.02, 0.04, −0.1225]
    #   θ² = [0.93, −1.86, 0.3525]
    ("momentum", 0.0): ([0.95, -1.9, 0.475], [0.93, -1.86, 0.3525]),
    # Momentum + L2: g¹' = [0.6, −1.2, 0.25]: v¹ = [−0.06, 0.12, −0.025], θ¹ = [0.94, −1.88, 0.475]
    #   g²' = [−0.25 + 0.094, 0.5 − 0.188, 1] = [−0.156, 0.312, 1]
    #   v² = [−0.054 + 0.0156, 0.108 − 0.0312, −0.0225 − 0.1] = [−0.0384, 0.0768, −0.1225]
    #   θ² = [0.9016, −1.8032, 0.3525]
    ("momentum", 0.1): ([0.94, -1.88, 0.475], [0.9016, -1.8032, 0.3525]),
    # Nesterov: v ← μv − lr·g; w ← w + μv − lr·g
    #   v¹ = [−0.05, 0.1, −0.025]; θ¹ = θ⁰ + [−0.045 − 0.05, 0.09 + 0.1, −0.0225 − 0.025]
    #      = [0.905, −1.81, 0.4525]
    #   v² = [−0.02, 0.04, −0.1225]; θ² = θ¹ + [−0.018 + 0.025, 0.036 − 0.05, −0.11025 − 0.1]
    #      = [0.912, −1.824, 0.24225]
    ("nesterov", 0.0): ([0.905, -1.81, 0.4525], [0.912, -1.824, 0.24225]),
    # Nesterov + L2: g¹' = [0.6, −1.2, 0.25]: v¹ = [−0.06, 0.12, −0.025]
    #   θ¹ = θ⁰ + [−0.054 − 0.06, 0.108 + 0.12, −0.0225 − 0.025] = [0.886, −1.772, 0.4525]
    #   g²' = [−0.25 + 0.0886, 0.5 − 0.1772, 1] = [−0.1614, 0.3228, 1]
    #   v² = [−0.054 + 0.01614, 0.108 − 0.03228, −0.1225] = [−0.03786, 0.07572, −0.1225]
    #   θ² = θ¹ + [−0.034074 + 0.01614, 0.068148 − 0.03228, −0.11025 − 0.1]
    #      = [0.868066, −1.736132, 0.24225]
    ("nesterov", 0.1): ([0.886, -1.772, 0.4525], [0.868066, -1.736132, 0.24225]),
    # RMSprop (ρ = 0.9, ε = 1e-8): c ← ρc + (1 − ρ)g²; w ← w − lr·g/(√c + ε)
    #   c¹ = 0.1·g¹² = [0.025, 0.1, 0.00625]; √c¹ = 0.1·√10·|g¹| so each step is lr·√10·sign(g)
    #   less the ε term: 0.1·0.5/(0.158113883008419 + 1e-8) = 0.316227746016839, and alike:
    #   θ¹ = [0.683772253983161, −1.683772243983162, 0.183772273983157]
    #   c² = 0.9c¹ + 0.1g²² = [0.0225 + 0.00625, 0.09 + 0.025, 0.005625 + 0.1]
    #      = [0.02875, 0.115, 0.105625]; √c² = [0.169558249578, 0.339116499156, 0.325]
    #   steps 0.1·g²/(√c² + ε) = [−0.147441947459, 0.147441951807, 0.307692298225]
    #   θ² = [0.831214201442406, −1.831214195790233, −0.123920024241695]
    ("rmsprop", 0.0): (
        [0.683772253983161, -1.683772243983162, 0.183772273983157],
        [0.831214201442406, -1.831214195790233, -0.123920024241695],
    ),
    # RMSprop + L2: g¹' = [0.6, −1.2, 0.25]; c¹ = [0.036, 0.144, 0.00625]
    #   θ¹ = [1 − 0.06/(0.189736659610 + ε), −2 + 0.12/(0.379473319220 + ε), 0.183772273983157]
    #      = [0.683772250649828, −1.683772242316495, 0.183772273983157]
    #   g²' = [−0.25 + 0.0683772250649828, 0.5 − 0.1683772242316495, 1]
    #   c² = 0.9c¹ + 0.1g²'² = [0.0356986832375, 0.140597366541, 0.105625]
    #   θ² = [0.779898984249564, −1.772213670163514, −0.123920024241695]
    ("rmsprop", 0.1): (
        [0.683772250649828, -1.683772242316495, 0.183772273983157],
        [0.779898984249564, -1.772213670163514, -0.123920024241695],
    ),
    # Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8):
    #   t = 1: m = 0.1g, v = 0.001g², m̂ = g, v̂ = g²: step = lr·g/(|g| + ε)
    #     = [0.1·0.5/0.50000001, ...] → θ¹ = [0.900000002, −1.900000001, 0.400000004]
    #   t = 2: m = 0.09g¹ + 0.1g² = [0.02, −0.04, 0.1225]; m̂ = m/0.19
    #     = [0.105263157895, −0.210526315789, 0.644736842105]
    #     v = 0.000999g¹² + 0.001g²² = [0.00031225, 0.001249, 0.0010624375]; v̂ = v/0.001999
    #     = [0.156203101551, 0.624812406203, 0.531484492246]
    #     θ² = θ¹ − 0.1·m̂/(√v̂ + ε) = [0.873366298707846, −1.873366297370903, 0.311562356155487]
    ("adam", 0.0): (
        [0.900000002, -1.900000001, 0.400000004],
        [0.873366298707846, -1.873366297370903, 0.311562356155487],
    ),
    # Adam + L2: g¹' = [0.6, −1.2, 0.25] → θ¹ = [1 − 0.1·0.6/0.60000001, ...]
    #     = [0.900000001666667, −1.900000000833333, 0.400000004]
    #   g²' = [−0.25 + 0.0900000001666667, 0.5 − 0.1900000000833333, 1]
    #   m = 0.09g¹' + 0.1g²' = [0.0380000000167, −0.0770000000083, 0.1225]
    #   v = 0.000999g¹'² + 0.001g²'² = [0.000385239999947, 0.00153465999995, 0.0010624375]
    #   θ² = θ¹ − 0.1·(m/0.19)/(√(v/0.001999) + ε)
    #      = [0.854441367461762, −1.853747264642761, 0.311562356155487]
    ("adam", 0.1): (
        [0.900000001666667, -1.900000000833333, 0.400000004],
        [0.854441367461762, -1.853747264642761, 0.311562356155487],
    ),
    # AdamW (λ = 0.1, decoupled): w ← w − lr·λ·w on the weights, then the plain Adam step.
    #   t = 1: [1, −2] → [0.99, −1.98]; minus Adam's step 1 → θ¹ = [0.890000002, −1.880000001,
    #     0.400000004] (the bias is never decayed)
    #   t = 2: [0.890000002·0.99, −1.880000001·0.99] = [0.88110000198, −1.86120000099]; minus
    #     Adam's step 2 (same m̂, v̂ as plain Adam: the gradient has no decay term)
    #     = [0.854466298687846, −1.834566297360903, 0.311562356155487]
    ("adamw", 0.1): (
        [0.890000002, -1.880000001, 0.400000004],
        [0.854466298687846, -1.834566297360903, 0.311562356155487],
    ),
}


#: The update paths: the NumPy reference, and the fused kernels when numba is installed.
PATHS = ["numpy", pytest.param("fused", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="the fused path needs numba"))]  # fmt: skip


def run_two_steps(
    name: str, weight_decay: float, dtype: str = "float64", path: str = "numpy"
) -> list[np.ndarray]:
    fuse = None
    if path == "fused":
        from backprop_cli.kernels import fuse_chain as fuse
    opt = build_optimizer(name, fuse, weight_decay=weight_decay)
    if path == "fused" and not opt.fused:  # an optimizer may come without a kernel
        pytest.skip(f"{name} has no fused kernel")  # (test_kernels lists them)
    params = np.array(THETA0, dtype=dtype)
    opt.init(params.size, n_decay=2, dtype=params.dtype)
    out = []
    for g in GRADS:
        opt.step(params, np.array(g, dtype=dtype), LR)
        out.append(params.copy())
    return out


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "weight_decay"), list(CASES))
def test_two_steps_match_hand_derivation(name: str, weight_decay: float, path: str) -> None:
    first, second = run_two_steps(name, weight_decay, path=path)
    want1, want2 = CASES[(name, weight_decay)]
    np.testing.assert_allclose(first, want1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(second, want2, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "weight_decay"), list(CASES))
def test_float32_updates_stay_float32_and_agree(name: str, weight_decay: float, path: str) -> None:
    first, second = run_two_steps(name, weight_decay, dtype="float32", path=path)
    assert first.dtype == np.float32 and second.dtype == np.float32
    np.testing.assert_allclose(second, CASES[(name, weight_decay)][1], rtol=0, atol=1e-6)


def test_every_optimizer_is_covered() -> None:
    from backprop_cli.core.optim import OPTIMIZERS

    assert {name for name, _ in CASES} == set(OPTIMIZERS)
    assert {name for name, decay in CASES if decay} == set(OPTIMIZERS)


def test_adamw_without_decay_is_adam() -> None:
    a = run_two_steps("adam", 0.0)[1]
    b = run_two_steps("adamw", 0.0)[1]
    np.testing.assert_array_equal(a, b)


def test_state_round_trip_continues_exactly() -> None:
    """Saving the state after one step and restoring it into a fresh optimizer gives the same
    second step, bit for bit."""
    for name in ("momentum", "nesterov", "rmsprop", "adam", "adamw"):
        reference = run_two_steps(name, 0.1)[1]
        opt = build_optimizer(name, weight_decay=0.1)
        params = np.array(THETA0)
        opt.init(3, n_decay=2, dtype=params.dtype)
        opt.step(params, np.array(GRADS[0]), LR)
        saved = opt.state_dict()
        fresh = build_optimizer(name, weight_decay=0.1)
        fresh.init(3, n_decay=2, dtype=params.dtype)
        fresh.load_state_dict(saved)
        fresh.step(params, np.array(GRADS[1]), LR)
        np.testing.assert_array_equal(params, reference)


def test_amsgrad_keeps_the_largest_second_moment() -> None:
    """AMSGrad (PyTorch's form) on one bias, lr = 0.1, β₁ = 0.9, β₂ = 0.999, ε = 1e-8; the
    gradient falls from 1 to 0.01, so v falls and v_max keeps its earlier value.

    t = 1, g = 1:    m = 0.1, v = 0.001, v_max = 0.001; m̂ = 0.1/0.1 = 1, v̂ = 0.001/0.001 = 1
                     w = 1 − 0.1·1/(1 + ε)
    t = 2, g = 0.01: m = 0.9·0.1 + 0.1·0.01 = 0.091;  v = 0.999·0.001 + 0.001·0.0001 = 0.0009991
                     v_max = max(0.001, 0.0009991) = 0.001
                     m̂ = 0.091/(1 − 0.9²) = 0.091/0.19;  v̂ = 0.001/(1 − 0.999²) = 0.001/0.001999
                     w −= 0.1·m̂/(√v̂ + ε)
    Plain Adam takes v̂ = 0.0009991/0.001999 instead, a step larger by about 3e-5.
    """
    import math

    first = 1 - 0.1 * 1 / (1 + 1e-8)
    m_hat = 0.091 / 0.19
    amsgrad = first - 0.1 * m_hat / (math.sqrt(0.001 / 0.001999) + 1e-8)
    adam = first - 0.1 * m_hat / (math.sqrt(0.0009991 / 0.001999) + 1e-8)
    assert adam < amsgrad - 1e-5  # the two really differ here
    for flag, expected in ((True, amsgrad), (False, adam)):
        opt = build_optimizer("adam", amsgrad=flag)
        params = np.array([1.0])
        opt.init(1, 0, params.dtype)
        for g in (1.0, 0.01):
            opt.step(params, np.array([g]), 0.1)
        assert params[0] == pytest.approx(expected, rel=1e-13, abs=0)
    assert opt.state_names == ("m", "v")
    kept = build_optimizer("adam", amsgrad=True)
    kept.init(1, 0, np.dtype(np.float64))
    kept.step(np.array([1.0]), np.array([1.0]), 0.1)
    kept.step(np.array([1.0]), np.array([0.01]), 0.1)
    assert kept.state_dict()["v_max"].tolist() == [pytest.approx(0.001, rel=1e-15)]


def test_amsgrad_is_a_config_key_of_adam_and_adamw() -> None:
    from backprop_cli.config.models import OPTIMIZER_CONFIGS

    assert OPTIMIZER_CONFIGS["adam"].model_validate({"type": "adam"}).amsgrad is False
    assert OPTIMIZER_CONFIGS["adamw"].model_validate({"type": "adamw", "amsgrad": True}).amsgrad
    assert "amsgrad" not in OPTIMIZER_CONFIGS["sgd"].model_fields


def test_loading_optimizer_state_names_what_is_wrong() -> None:
    from backprop_cli.errors import CheckpointError

    opt = build_optimizer("adam")
    opt.init(4, 2, np.dtype(np.float64))
    with pytest.raises(CheckpointError) as caught:
        opt.load_state_dict({"m": np.zeros(4), "step_count": np.array(1)}, source="c.npz")
    assert str(caught.value) == "c.npz: optimizer adam state lacks 'v'"
    state = {"m": np.zeros(3), "v": np.zeros(4), "step_count": np.array(1)}
    with pytest.raises(CheckpointError) as caught:
        opt.load_state_dict(state, source="c.npz")
    assert str(caught.value) == ("c.npz: optimizer state 'm' has shape (3,), the model needs (4,)")


def test_resolved_hyperparameters_for_tables() -> None:
    assert build_optimizer("momentum", momentum=0.8).hyperparams() == {
        "weight_decay": 0.0,
        "momentum": 0.8,
    }
    assert build_optimizer("adamw").hyperparams()["weight_decay"] == 0.01
