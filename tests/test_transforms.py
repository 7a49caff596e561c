"""The transforms an optimizer is a chain of: one golden step each (derived by hand below), the
chains equal to the seed's formulas bit for bit, and clipping's bound inside a chain.

The shared problem: a flat buffer θ = [w₀, w₁, b] whose first two entries are weights (n_decay = 2)
and the last a bias; θ = [1, −2, 0.5], the updates u = g = [0.5, −1, 0.25], lr = 0.1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backprop_cli.core.clipping import global_norm
from backprop_cli.core.optim import (
    AddDecayedWeights,
    ClipByGlobalNorm,
    ClipByValue,
    DecoupledWeightDecay,
    NesterovTrace,
    ScaleByAdam,
    ScaleByLearningRate,
    ScaleByRms,
    Trace,
    Transform,
    build_optimizer,
)
from backprop_cli.core.optim.sgd import SGD

THETA = [1.0, -2.0, 0.5]
G = [0.5, -1.0, 0.25]
LR = 0.1


def one_update(
    transform: Transform, state: dict[str, list[float]] | None = None, count: int = 1
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(the returned updates, θ after, the state after, the updates buffer given) of one update
    of the shared problem, from ``state`` (zeros where not given)."""
    params, updates = np.array(THETA), np.array(G)
    held = transform.init(3, 2, params.dtype)
    for name, values in (state or {}).items():
        held[name][...] = values
    out = transform.update(updates, held, params, np.empty(3), LR, count)
    return out, params, held, updates


def test_add_decayed_weights_golden() -> None:
    """λ = 0.1: u + λ·[w₀, w₁, 0] = [0.5 + 0.1, −1 − 0.2, 0.25] = [0.6, −1.2, 0.25]; the bias's
    entry and θ are untouched."""
    out, params, _, updates = one_update(AddDecayedWeights(0.1))
    assert out is updates
    np.testing.assert_allclose(out, [0.6, -1.2, 0.25], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(params, THETA)


def test_decoupled_weight_decay_golden() -> None:
    """λ = 0.1, lr = 0.1: the weights times 1 − lr·λ = 0.99 → θ = [0.99, −1.98, 0.5] (the bias
    is never decayed); the updates are untouched."""
    out, params, _, _ = one_update(DecoupledWeightDecay(0.1))
    np.testing.assert_array_equal(out, G)
    np.testing.assert_allclose(params, [0.99, -1.98, 0.5], rtol=0, atol=1e-15)


def test_scale_by_learning_rate_golden() -> None:
    """−lr·u = −0.1·[0.5, −1, 0.25] = [−0.05, 0.1, −0.025]."""
    out, params, _, _ = one_update(ScaleByLearningRate())
    np.testing.assert_allclose(out, [-0.05, 0.1, -0.025], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(params, THETA)


def test_trace_golden() -> None:
    """μ = 0.9 from v = [0.2, 0, −0.1]: μ·v + u = [0.18 + 0.5, −1, −0.09 + 0.25]
    = [0.68, −1, 0.16]; the velocity itself is returned as the updates."""
    out, params, state, _ = one_update(Trace(0.9), {"velocity": [0.2, 0.0, -0.1]})
    assert out is state["velocity"]
    np.testing.assert_allclose(out, [0.68, -1.0, 0.16], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(params, THETA)


def test_nesterov_trace_golden() -> None:
    """μ = 0.9 from v = [0.2, 0, −0.1]: v = μ·v + u = [0.68, −1, 0.16] as in `Trace`; θ takes the
    gradient half, θ + u = [1.5, −3, 0.75]; the updates are the look-ahead μ·v
    = [0.612, −0.9, 0.144]."""
    out, params, state, updates = one_update(NesterovTrace(0.9), {"velocity": [0.2, 0.0, -0.1]})
    assert out is updates
    np.testing.assert_allclose(state["velocity"], [0.68, -1.0, 0.16], rtol=0, atol=1e-15)
    np.testing.assert_allclose(params, [1.5, -3.0, 0.75], rtol=0, atol=1e-15)
    np.testing.assert_allclose(out, [0.612, -0.9, 0.144], rtol=0, atol=1e-15)


def test_scale_by_rms_golden() -> None:
    """ρ = 0.9, ε = 1e-8, c = 0: c = 0.1·u² = [0.025, 0.1, 0.00625];
    √c = [0.158113883008419, 0.316227766016838, 0.0790569415042095];
    u / (√c + ε) = [3.16227746016839, −3.16227756016838, 3.16227726016843] (each ≈ √10·sign(u)
    less the ε term)."""
    out, _, state, _ = one_update(ScaleByRms(0.9, 1e-8))
    np.testing.assert_allclose(state["cache"], [0.025, 0.1, 0.00625], rtol=1e-15, atol=0)
    want = [3.16227746016839, -3.16227756016838, 3.16227726016843]
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-13)


def test_scale_by_adam_golden() -> None:
    """β₁ = 0.9, β₂ = 0.999, ε = 1e-8, t = 1: m = 0.1·u, v = 0.001·u², so m̂ = u, v̂ = u², and
    the step −lr·m̂/(√v̂ + ε) = −0.1·u/(|u| + ε) = [−0.05/0.50000001, 0.1/1.00000001,
    −0.025/0.25000001] = [−0.099999998, 0.099999999, −0.099999996]."""
    out, _, state, _ = one_update(ScaleByAdam(0.9, 0.999, 1e-8, amsgrad=False))
    np.testing.assert_allclose(state["m"], [0.05, -0.1, 0.025], rtol=0, atol=1e-16)
    np.testing.assert_allclose(state["v"], [0.00025, 0.001, 0.0000625], rtol=0, atol=1e-18)
    np.testing.assert_allclose(out, [-0.099999998, 0.099999999, -0.099999996], rtol=0, atol=1e-15)


def test_clip_transforms_golden() -> None:
    """By norm, max_norm 2.5: u = [3, 4] has ‖u‖ = 5 > 2.5 → u·2.5/5 = [1.5, 2]; called on the
    gradient it returns 5, the norm before clipping. By value, c = 3.5: [3, 4, −7] →
    [3, 3.5, −3.5], returning √(9 + 16 + 49) = √74."""
    by_norm, g = ClipByGlobalNorm(2.5), np.array([3.0, 4.0])
    assert by_norm(g) == 5.0
    np.testing.assert_allclose(g, [1.5, 2.0], rtol=0, atol=1e-15)
    g = np.array([3.0, 4.0])
    assert by_norm.update(g, {}, np.zeros(2), np.empty(2), LR, 1) is g
    np.testing.assert_allclose(g, [1.5, 2.0], rtol=0, atol=1e-15)
    by_value, g = ClipByValue(3.5), np.array([3.0, 4.0, -7.0])
    assert by_value(g) == pytest.approx(math.sqrt(74), abs=1e-15)
    np.testing.assert_array_equal(g, [3.0, 3.5, -3.5])


def test_an_optimizer_reads_as_its_chain() -> None:
    assert repr(build_optimizer("sgd")) == "SGD(scale_by_learning_rate())"
    assert repr(build_optimizer("nesterov", weight_decay=0.1)) == (
        "Nesterov(add_decayed_weights(weight_decay=0.1) → scale_by_learning_rate() → "
        "nesterov_trace(momentum=0.9))"
    )
    assert repr(build_optimizer("rmsprop")) == (
        "RMSprop(scale_by_rms(rho=0.9, eps=1e-08) → scale_by_learning_rate())"
    )
    assert repr(build_optimizer("adamw", amsgrad=True)) == (
        "AdamW(decoupled_weight_decay(weight_decay=0.01) → "
        "scale_by_adam(beta1=0.9, beta2=0.999, eps=1e-08, amsgrad=True))"
    )
    assert repr(ClipByGlobalNorm(5.0)) == "clip_by_global_norm(max_norm=5.0)"


def test_a_chain_refuses_a_stage_after_one_that_must_end_it() -> None:
    class Coasting(SGD):  # the velocity returned as the updates, then scaled in place: refused
        def chain(self) -> list[Transform]:
            return [Trace(0.9), ScaleByLearningRate()]

    with pytest.raises(ValueError, match=r"trace\(momentum=0.9\) must end its chain"):
        Coasting()


# ------------------------------------------------ the chains against the seed's formulas
def seed_step(
    name: str, w: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], lr: float, t: int,
    n: int, h: dict[str, Any],
) -> None:  # fmt: skip
    """One step as bprop wrote it before its optimizers were chains (decay, then the rule), line
    for line."""
    tmp = np.empty_like(w)
    lam = h.get("weight_decay", 0.0)
    if lam and n:
        if name == "adamw":
            w[:n] *= 1.0 - lr * lam
        else:
            g[:n] += np.multiply(w[:n], lam, out=tmp[:n])
    if name == "sgd":
        w -= np.multiply(g, lr, out=g)
    elif name in ("momentum", "nesterov"):
        v, mu = s["velocity"], h["momentum"]
        v *= mu
        v -= np.multiply(g, lr, out=tmp)
        if name == "momentum":
            w += v
        else:
            w -= tmp
            w += np.multiply(v, mu, out=tmp)
    elif name == "rmsprop":
        c, rho = s["cache"], h["rho"]
        c *= rho
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - rho
        c += tmp
        np.sqrt(c, out=tmp)
        tmp += h["eps"]
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        w -= tmp
    else:
        m, v, b1, b2 = s["m"], s["v"], h["beta1"], h["beta2"]
        m *= b1 / (1.0 - b1)
        m += g
        m *= 1.0 - b1
        change = np.multiply(g, g, out=g)
        change -= v
        change *= 1.0 - b2
        v += change
        if h["amsgrad"]:
            v = np.maximum(s["v_max"], v, out=s["v_max"])
        lr_t = lr / (1.0 - b1**t)
        c = 1.0 / (lr_t * math.sqrt(1.0 - b2**t))
        denom = np.sqrt(v, out=g)
        denom *= c
        denom += h["eps"] / lr_t
        w -= np.divide(m, denom, out=denom)


HYPER = {
    "sgd": {},
    "momentum": {"momentum": st.floats(0.0, 0.99)},
    "nesterov": {"momentum": st.floats(0.0, 0.99)},
    "rmsprop": {"rho": st.floats(0.01, 0.99), "eps": st.floats(1e-10, 1e-3)},
    "adam": {"beta1": st.floats(0.0, 0.99), "beta2": st.floats(0.5, 0.9999),
             "eps": st.floats(1e-10, 1e-3), "amsgrad": st.booleans()},
}  # fmt: skip
HYPER["adamw"] = HYPER["adam"]


@st.composite
def problems(draw: st.DrawFn) -> tuple[str, dict[str, Any], str, int]:
    name = draw(st.sampled_from(sorted(HYPER)))
    hyper = {key: draw(strategy) for key, strategy in HYPER[name].items()}
    hyper["weight_decay"] = draw(st.sampled_from([0.0, 1e-4, 0.1]))
    return name, hyper, draw(st.sampled_from(["float32", "float64"])), draw(st.integers(0, 8))


@given(problems(), st.integers(0, 2**32 - 1), st.lists(st.floats(1e-4, 1.0), min_size=1,
       max_size=4))  # fmt: skip
def test_each_chain_is_the_seed_formula_bit_for_bit(
    problem: tuple[str, dict[str, Any], str, int], seed: int, rates: list[float]
) -> None:
    """Decay, the rule and −lr as a chain give the very bits of the seed's formulas, step after
    step, in float32 and float64, with the rate changing between steps (as a schedule does)."""
    name, hyper, dtype, n_decay = problem
    rng = np.random.default_rng(seed)
    opt = build_optimizer(name, **hyper)
    opt.init(8, n_decay, np.dtype(dtype))
    w = rng.standard_normal(8).astype(dtype)
    w_seed, state = w.copy(), {key: array.copy() for key, array in opt.state.items()}
    for t, lr in enumerate(rates, 1):
        g = (rng.standard_normal(8) * 10.0 ** rng.integers(-4, 3)).astype(dtype)
        opt.step(w, g.copy(), lr)
        seed_step(name, w_seed, g.copy(), state, lr, t, n_decay, hyper)
        assert w.tobytes() == w_seed.tobytes()
        assert all(opt.state[key].tobytes() == state[key].tobytes() for key in state)
    assert w.dtype == np.dtype(dtype)


finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(arrays(np.float64, st.integers(1, 50), elements=finite), st.floats(1e-3, 1e3),
       st.floats(1e-3, 1.0))  # fmt: skip
def test_clipping_leads_a_chain_and_bounds_its_step(
    g: np.ndarray, max_norm: float, lr: float
) -> None:
    """[clip_by_global_norm, −lr]: the step moves θ by at most lr·max_norm."""

    class Clipped(SGD):
        def chain(self) -> list[Transform]:
            return [ClipByGlobalNorm(max_norm), ScaleByLearningRate()]

    opt = Clipped()
    opt.init(g.size, 0, g.dtype)
    w = np.zeros_like(g)
    opt.step(w, g.copy(), lr)
    assert global_norm(w) <= lr * max_norm * (1 + 1e-9)
