"""Finite-difference gradient checks, in float64 with central differences.

Math (the five-point central difference, error O(ε⁴) instead of the three-point O(ε²)):
    numerical ∂f/∂θ_i ≈ [8(f(θ + ε·e_i) − f(θ − ε·e_i)) − (f(θ + 2ε·e_i) − f(θ − 2ε·e_i))] / (12ε)
    relative error = |a − n| / max(|a|, |n|, tiny)     a: analytic, n: numerical

ReLU-family units have a kink at z = 0 where no derivative exists. An entry whose perturbation moves
any such unit across its kink is skipped (and counted) rather than reported as a false failure.

The functions here compute and return results; they never print. `bprop gradcheck` renders them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .activations import ACTIVATIONS, RELU_FAMILY, Activation, get_activation
from .layers import BatchNorm, Dense, Dropout, Layer, Residual
from .network import Network
from .types import Array

#: A compiled whole training step, (X, y) → (outputs, loss, norm), or None for a batch it does
#: not take; it leaves ∂L/∂θ in the network's gradient buffer.
Step = Callable[[Array, NDArray], object]
#: Prepares a network of the battery for the path under check (the fused kernels): installs its
#: kernels and returns its whole step, if it has one.
Fuse = Callable[[Network, int], Step | None]

#: Denominator floor of the relative error: where both gradients are below it, the error is
#: measured in absolute terms (the round-off of a central difference in float64 is ~1e-10).
TINY = 1e-6
DEFAULT_EPS = 1e-4
DEFAULT_TOL = 1e-6


@dataclass(frozen=True)
class TensorCheck:
    """The outcome of checking one tensor's gradient in one case."""

    case: str
    tensor: str
    shape: tuple[int, ...]
    checked: int
    max_rel_error: float
    tol: float
    skipped: int = 0

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_error <= self.tol)


def relative_error(analytic: NDArray, numerical: NDArray, tiny: float = TINY) -> float:
    """max over entries of |a − n| / max(|a|, |n|, tiny); NaN anywhere counts as infinite."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    if a.size == 0:
        return 0.0
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), tiny)
    err = np.abs(a - n) / denom
    if not np.all(np.isfinite(err)):
        return float("inf")
    return float(err.max())


def _pick(size: int, samples: int | None, rng: np.random.Generator) -> NDArray[np.intp]:
    if samples is None or samples >= size:
        return np.arange(size)
    return np.sort(rng.choice(size, size=samples, replace=False))


def numerical_gradient(
    f: Callable[[], float],
    x: Array,
    indices: NDArray[np.intp],
    eps: float,
    signature: Callable[[], bytes] | None = None,
) -> Array:
    """Five-point central differences of ``f`` with respect to the flat entries ``indices`` of x.

    ``x`` is perturbed in place (``f`` must read it) and restored exactly afterwards. When
    ``signature`` is given (the on/off pattern of kinked units after the last ``f``), an entry
    whose perturbations change it gets NaN: the function is not differentiable there.
    """
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs a contiguous array to perturb in place")
    if signature is not None:
        f()
        baseline = signature()
    grads = np.empty(len(indices), dtype=np.float64)
    for k, i in enumerate(indices):
        original = flat[i]
        values = []
        smooth = True
        for step in (eps, -eps, 2 * eps, -2 * eps):
            flat[i] = original + step
            values.append(f())
            if signature is not None and signature() != baseline:
                smooth = False
        flat[i] = original
        plus, minus, plus2, minus2 = values
        grads[k] = (8 * (plus - minus) - (plus2 - minus2)) / (12 * eps) if smooth else np.nan
    return grads


def kink_signature(net: Network) -> Callable[[], bytes]:
    """The on/off pattern (z > 0) of every ReLU-family unit after the network's last forward."""

    def signature() -> bytes:
        return b"".join(np.packbits(z > 0).tobytes() for layer in net.layers for z in layer.kinks())

    return signature


def _compare(
    case: str, tensor: str, shape: tuple[int, ...], exact: NDArray, numeric: Array, tol: float
) -> TensorCheck:
    smooth = ~np.isnan(numeric)
    error = relative_error(exact[smooth], numeric[smooth])
    return TensorCheck(case, tensor, shape, int(smooth.sum()), error, tol, int((~smooth).sum()))


def check_network(
    net: Network,
    X: NDArray,
    y: NDArray,
    case: str = "network",
    eps: float = DEFAULT_EPS,
    tol: float = DEFAULT_TOL,
    samples: int | None = None,
    rng: np.random.Generator | None = None,
    step: Step | None = None,
) -> list[TensorCheck]:
    """Check ∂L/∂θ for every parameter tensor of ``net`` and ∂L/∂X for the input.

    ``net`` must be float64; ``y`` is in the form ``net.prepare_targets`` returns. With ``step``
    (a compiled whole step, `backprop_cli.kernels.step`), the parameter gradients checked are
    the ones it leaves in ``net.grads`` (where it takes the batch).
    """
    if net.dtype != np.float64:
        raise ValueError("gradient checks run in float64; build the network with dtype float64")
    rng = rng or np.random.default_rng(0)
    X = np.array(X, dtype=np.float64, copy=True)
    net.freeze_noise(False)
    net.loss_value(X, y)
    net.freeze_noise(True)  # every evaluation below sees the same dropout masks
    dX = net.backward(input_grad=True)
    assert dX is not None
    analytic_input = dX.copy()
    analytic = net.grads.copy()
    if step is not None:
        net.grads[...] = np.nan  # every entry must be the step's
        if step(X, y) is not None:
            analytic = net.grads.copy()
        else:  # a batch it does not take: the layers' own backward, already done
            net.grads[...] = analytic

    def loss() -> float:
        return net.loss_value(X, y)

    signature = kink_signature(net)
    results = []
    for name, slot in net.slots.items():
        if not slot.trainable:  # batchnorm's running averages: no gradient by design
            continue
        idx = _pick(slot.size, samples, rng)
        numeric = numerical_gradient(loss, net.param(name), idx, eps, signature)
        exact = analytic[slot.offset : slot.offset + slot.size][idx]
        results.append(_compare(case, name, slot.shape, exact, numeric, tol))
    idx = _pick(X.size, samples, rng)
    numeric = numerical_gradient(loss, X, idx, eps, signature)
    results.append(_compare(case, "input", X.shape, analytic_input.reshape(-1)[idx], numeric, tol))
    net.freeze_noise(False)
    return results


def check_activation(
    activation: Activation,
    z: NDArray,
    case: str | None = None,
    eps: float = DEFAULT_EPS,
    tol: float = DEFAULT_TOL,
    rng: np.random.Generator | None = None,
) -> TensorCheck:
    """Check ``activation.backward`` against central differences of f(z) = Σ dout ⊙ σ(z)."""
    rng = rng or np.random.default_rng(0)
    z = np.array(z, dtype=np.float64, copy=True)
    dout = rng.standard_normal(z.shape)
    a = activation.forward(z)
    analytic = activation.backward(dout, z, a)

    def f() -> float:
        return float(np.sum(dout * activation.forward(z)))

    numeric = numerical_gradient(f, z, np.arange(z.size), eps)
    err = relative_error(analytic.reshape(-1), numeric)
    return TensorCheck(case or f"activation {activation.name}", "z", z.shape, z.size, err, tol)


# ------------------------------------------------------------------ battery
def _away_from_kinks(z: Array, margin: float = 1e-3) -> Array:
    """Move entries off the ReLU kink at 0, where a central difference is not a derivative."""
    return np.where(np.abs(z) < margin, np.copysign(margin, z) + z, z)


def _battery_network(
    widths: list[int], activations: list[str], loss: str, rng: np.random.Generator
) -> Network:
    layers = [
        Dense(units, get_activation(act))
        for units, act in zip(widths[1:], activations, strict=True)
    ]
    net = Network(layers, widths[0], loss, rng, dtype="float64")
    # Non-zero biases so that their gradients are exercised away from a symmetric start.
    net.params[net.n_decay :] = rng.normal(0.0, 0.1, size=net.params.size - net.n_decay)
    return net


def _targets(loss: str, n: int, width: int, rng: np.random.Generator, soft: bool) -> NDArray:
    if loss == "cross_entropy":
        if soft:
            raw = rng.random((n, width)) + 0.1
            return raw / raw.sum(axis=1, keepdims=True)
        return rng.integers(0, width, size=n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, size=(n, width)).astype(np.float64)
    return rng.standard_normal((n, width))


def battery_cases() -> Iterator[tuple[str, list[int], list[str], str, bool]]:
    """(case name, widths, activations, loss, soft labels) for every built-in network case."""
    yield "seed 2-3-1 sigmoid / mse", [2, 3, 1], ["sigmoid", "sigmoid"], "mse", False
    for act in ACTIVATIONS:
        yield f"1 layer {act} / mse", [4, 3], [act], "mse", False
    yield "1 layer softmax / cross_entropy", [4, 3], ["softmax"], "cross_entropy", False
    yield (
        "1 layer softmax / cross_entropy (soft labels)",
        [4, 3],
        ["softmax"],
        "cross_entropy",
        True,
    )
    yield (
        "1 layer sigmoid / binary_cross_entropy",
        [4, 2],
        ["sigmoid"],
        "binary_cross_entropy",
        False,
    )
    for act in ACTIVATIONS:
        yield (
            f"2 layers {act} → softmax / cross_entropy",
            [4, 5, 3],
            [act, "softmax"],
            "cross_entropy",
            False,
        )
    yield (
        "2 layers tanh → sigmoid / binary_cross_entropy",
        [3, 4, 1],
        ["tanh", "sigmoid"],
        "binary_cross_entropy",
        False,
    )
    yield (
        "3 layers relu → tanh → linear / mse",
        [4, 6, 5, 2],
        ["relu", "tanh", "linear"],
        "mse",
        False,
    )
    yield (
        "3 layers leaky_relu → sigmoid → softmax / cross_entropy",
        [5, 6, 4, 3],
        ["leaky_relu", "sigmoid", "softmax"],
        "cross_entropy",
        False,
    )
    yield (
        "3 layers tanh → relu → sigmoid / binary_cross_entropy",
        [4, 5, 6, 2],
        ["tanh", "relu", "sigmoid"],
        "binary_cross_entropy",
        False,
    )


def weighted_cases() -> Iterator[tuple[str, list[int], list[str], str, bool]]:
    """The classification losses with class weights (training.class_weight)."""
    yield (
        "2 layers tanh → softmax / cross_entropy, class weights",
        [4, 5, 3], ["tanh", "softmax"], "cross_entropy", False,
    )  # fmt: skip
    yield (
        "1 layer softmax / cross_entropy (soft labels), class weights",
        [4, 3], ["softmax"], "cross_entropy", True,
    )  # fmt: skip
    yield (
        "2 layers tanh → sigmoid (1 unit) / binary_cross_entropy, class weights",
        [3, 4, 1], ["tanh", "sigmoid"], "binary_cross_entropy", False,
    )  # fmt: skip
    yield (
        "1 layer sigmoid (3 units) / binary_cross_entropy, class weights",
        [4, 3], ["sigmoid"], "binary_cross_entropy", False,
    )  # fmt: skip


def layered_cases() -> Iterator[tuple[str, int, Callable[[], list[Layer]], str]]:
    """(case name, input width, layers, loss) for the layers beyond dense: batchnorm, dropout
    and residual blocks, alone and combined."""
    act = get_activation
    yield (
        # Each batchnorm follows a non-linear layer: after a linear one, the bias before it would
        # have a gradient of exactly zero (the normalization removes it) and nothing to check.
        "dense sigmoid → batchnorm → softmax / cross_entropy", 4,
        lambda: [Dense(5, act("sigmoid")), BatchNorm(), Dense(3, act("softmax"))],
        "cross_entropy",
    )  # fmt: skip
    yield (
        "dense tanh → batchnorm(relu) → tanh → linear / mse", 3,
        lambda: [Dense(6, act("tanh")), BatchNorm(activation=act("relu")),
                 Dense(4, act("tanh")), Dense(2, act("linear"))],
        "mse",
    )  # fmt: skip
    yield (
        "dense → dropout 0.3 → softmax / cross_entropy", 4,
        lambda: [Dense(6, act("tanh")), Dropout(0.3), Dense(3, act("softmax"))],
        "cross_entropy",
    )  # fmt: skip
    yield (
        "residual [tanh, linear] → sigmoid / binary_cross_entropy", 4,
        lambda: [Residual([Dense(5, act("tanh")), Dense(4, act("linear"))]),
                 Dense(2, act("sigmoid"))],
        "binary_cross_entropy",
    )  # fmt: skip
    yield (
        "dense → residual [relu, batchnorm, dropout] × 2 → softmax / cross_entropy", 3,
        lambda: [Dense(5, act("tanh")),
                 Residual([Dense(6, act("relu")), Dense(5, act("tanh")), BatchNorm()]),
                 Residual([Dense(5, act("sigmoid")), Dropout(0.2)]),
                 Dense(3, act("softmax"))],
        "cross_entropy",
    )  # fmt: skip
    yield (
        # prelu's learned slopes in a dense layer, after batchnorm and inside a residual block.
        "dense prelu → batchnorm(prelu) → residual [elu, prelu] → softmax / cross_entropy", 3,
        lambda: [Dense(5, act("prelu")), BatchNorm(activation=act("prelu")),
                 Residual([Dense(4, act("elu")), Dense(5, act("prelu"))]),
                 Dense(3, act("softmax"))],
        "cross_entropy",
    )  # fmt: skip


def run_battery(
    eps: float = DEFAULT_EPS,
    tol: float = DEFAULT_TOL,
    seed: int = 0,
    samples: int | None = None,
    n_samples: int = 6,
    fuse: Fuse | None = None,
) -> Iterator[TensorCheck]:
    """The built-in battery: every activation alone, then networks of one to three layers with
    every loss and each output activation it accepts; every parameter tensor and the input.
    Each case draws from its own generator (the seed and the case's name), so adding a case
    changes no other case's numbers. With ``fuse``, every network runs the path it prepares
    (`backprop_cli.kernels.fuse_network`: the fused kernels and whole compiled steps)."""
    for name in ACTIVATIONS:
        rng = _case_rng(seed, f"activation {name}")
        act = get_activation(name)
        z: Array = rng.standard_normal((n_samples, 4)) * 2
        if name in RELU_FAMILY:
            z = _away_from_kinks(z)
        yield check_activation(act, z, eps=eps, tol=tol, rng=rng)
    for weighted, cases in ((False, battery_cases()), (True, weighted_cases())):
        for case, widths, acts, loss, soft in cases:
            rng = _case_rng(seed, case)
            net = _battery_network(widths, acts, loss, rng)
            if weighted:
                net.loss.set_class_weights(rng.uniform(0.2, 3.0, size=max(widths[-1], 2)))
            X = rng.standard_normal((n_samples, widths[0]))
            y = net.prepare_targets(_targets(loss, n_samples, widths[-1], rng, soft))
            step = fuse(net, n_samples) if fuse is not None else None
            yield from check_network(net, X, y, case, eps, tol, samples, rng, step)
    for case, width, layers, loss in layered_cases():
        rng = _case_rng(seed, case)
        net = Network(layers(), width, loss, rng, dtype="float64")
        trained = [s for s in net.slots.values() if s.trainable and not s.decay]
        for slot in trained:  # biases, scales and shifts away from their symmetric start
            net.params[slot.offset : slot.offset + slot.size] += rng.normal(0.0, 0.1, slot.size)
        X = rng.standard_normal((n_samples, width))
        y = net.prepare_targets(_targets(loss, n_samples, net.output_dim, rng, False))
        step = fuse(net, n_samples) if fuse is not None else None
        yield from check_network(net, X, y, case, eps, tol, samples, rng, step)


def _case_rng(seed: int, case: str) -> np.random.Generator:
    """The generator of one case of the battery: the seed and a checksum of the case's name."""
    return np.random.default_rng([seed, zlib.crc32(case.encode())])
