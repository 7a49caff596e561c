"""Activations, their slopes, and why deep sigmoid networks stop learning."""

from __future__ import annotations

import numpy as np

from ..core.activations import ACTIVATIONS, get_activation
from ..core.layers import Dense
from ..core.network import Network
from .base import Demo, Table


def activations(depth: int = 10, width: int = 32) -> Demo:
    """Each element-wise activation and its derivative at chosen points; the largest slopes of
    sigmoid and tanh; and 0.25ⁿ beside the gradient that reaches the first layer of sigmoid
    networks of n layers, measured by the engine."""
    points = [-3.0, -1.0, 0.0, 1.0, 3.0]
    z = np.array([points])
    shown = [name for name, cls in ACTIVATIONS.items() if not cls.couples_units]
    values: list[list[object]] = []
    slopes: list[list[object]] = []
    for name in shown:
        act = get_activation(name)
        a = act.forward(z)
        values.append([name, *a[0].tolist()])
        slopes.append([name, *act.derivative(z, a)[0].tolist()])
    grid = np.linspace(-6, 6, 1201)[None, :]  # step 0.01, through 0
    peaks = []
    for name in ("sigmoid", "tanh"):
        act = get_activation(name)
        d = act.derivative(grid, act.forward(grid))[0]
        peaks.append([f"{name}′", float(d.max()), float(grid[0, d.argmax()])])
    depths: list[list[object]] = []
    for n in range(1, depth + 1):
        first, weights = _sigmoid_stack_ratios(n, width)
        depths.append([n, 0.25**n, first, weights])
    series = []
    fine = np.linspace(-4, 4, 161)[None, :]
    for name in shown:
        act = get_activation(name)
        a = act.forward(fine)
        d = act.derivative(fine, a)
        rows = [{"z": float(u), "value": float(v), "derivative": float(w)}
                for u, v, w in zip(fine[0], a[0], d[0], strict=True)]  # fmt: skip
        series.append((name, rows))
    columns = ["activation", *[f"z = {p:g}" for p in points]]
    return Demo(
        "Activations and their derivatives; why deep sigmoid networks stop learning",
        [
            "sigmoid σ(z) = 1/(1 + e^(−z)), σ′(z) = σ(z)(1 − σ(z)) ≤ 0.25",
            "tanh′(z) = 1 − tanh²(z) ≤ 1;  relu′(z) = 1 for z > 0, 0 otherwise",
            "leaky_relu, prelu: slope α (0.01; learned from 0.25) for z ≤ 0;  "
            "elu(z) = α(e^z − 1) for z ≤ 0",
            "backward, layer by layer: δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ σ′(z_l), so n sigmoid layers "
            "multiply the error by at most 0.25ⁿ (times the weights)",
        ],
        [
            Table("the value a = f(z)", columns, values),
            Table("the derivative f′(z)", columns, slopes),
            Table(
                "the largest slope (z from −6 to 6 in steps of 0.01)",
                ["derivative", "maximum", "at z"],
                peaks,
            ),
            Table(
                f"n sigmoid layers of {width} units (Xavier initialization, 256 samples)",
                ["n", "0.25ⁿ", "‖∂L/∂z₁‖ / ‖∂L/∂z_out‖", "‖∂L/∂W₁‖ / ‖∂L/∂W_out‖"],
                depths,
            ),
        ],
        [
            "softmax is left out: it couples the units of a row, so it has a Jacobian, not an "
            "element-wise derivative.",
            f"The error that reaches the first layer shrinks like 0.25ⁿ: after 10 layers "
            f"0.25¹⁰ = {0.25**10:.2g} (≈ 10⁻⁶), and the measured ratio is "
            f"{depths[-1][2]:.2g}. The first layers barely learn: vanishing gradients. "
            "ReLU (slope 1), batchnorm, residual connections and careful initialization are "
            "the fixes (configs/lessons/vanishing-*).",
        ],
        series,
        ["value", "derivative"],
        x="z",
    )


def _sigmoid_stack_ratios(n: int, width: int) -> tuple[float, float]:
    """For n sigmoid layers and a linear output on random data: the norm of ∂L/∂z (and of
    ∂L/∂W) at the first layer over that at the output layer."""
    rng = np.random.default_rng(0)
    layers = [Dense(width, get_activation("sigmoid")) for _ in range(n)]
    net = Network([*layers, Dense(1, get_activation("linear"))], 16, "mse", rng, "float64")
    X, y = rng.standard_normal((256, 16)), rng.standard_normal((256, 1))
    net.loss_and_grad(X, y)
    first, out = net.layers[0], net.layers[-1]
    assert isinstance(first, Dense) and isinstance(out, Dense)
    deltas = float(np.linalg.norm(first.delta) / np.linalg.norm(out.delta))
    weights = float(np.linalg.norm(first.dW) / np.linalg.norm(out.dW))
    return deltas, weights
