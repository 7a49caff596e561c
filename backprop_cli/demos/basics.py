"""Gradient descent, the chain rule and a computational graph."""

from __future__ import annotations

import numpy as np

from ..core.activations import get_activation
from ..core.layers import Dense
from ..core.network import Network
from ..core.optim import SGD
from .base import Demo, Table, derivative


def descent(x0: float = 3.0, lr: float = 0.1, steps: int = 10, big_lr: float = 1.1) -> Demo:
    """Gradient descent on f(x) = x², with bprop's SGD optimizer doing each update."""

    def run(rate: float) -> Table:
        x = np.array([x0])
        opt = SGD()
        opt.init(1, 1, x.dtype)
        rows: list[list[object]] = [[0, x0, 2 * x0, x0**2]]
        for i in range(1, steps + 1):
            opt.step(x, 2 * x, rate)  # f′(x) = 2x
            rows.append([i, float(x[0]), float(2 * x[0]), float(x[0] ** 2)])
        return Table(f"lr = {rate:g}", ["step", "x", "f′(x) = 2x", "f(x) = x²"], rows)

    good, bad = run(lr), run(big_lr)
    return Demo(
        "Gradient descent on f(x) = x²",
        ["x ← x − η·f′(x),  f′(x) = 2x", f"start x = {x0:g}; each step multiplies x by 1 − 2η"],
        [good, bad],
        [
            f"With η = {lr:g}, x shrinks by 1 − 2η = {1 - 2 * lr:g} per step towards "
            "the minimum 0.",
            f"With η = {big_lr:g}, 1 − 2η = {1 - 2 * big_lr:g}: every step overshoots the minimum "
            "by more than it started, so x flips sign and grows: the run diverges.",
        ],
    )


def chain_rule(x: float = 1.0) -> Demo:
    """y = (3x + 2)² by the chain rule's product, then z(x(t), y(t)) by its sum over the two
    paths from t to z; every term checked against central differences."""
    g = 3 * x + 2
    dy_dg, dg_dx = 2 * g, 3.0
    numeric = derivative(lambda u: (3 * u + 2) ** 2, x)
    rows: list[list[object]] = [
        ["g = 3x + 2", g],
        ["y = g²", g**2],
        ["dy/dg = 2g", dy_dg],
        ["dg/dx = 3", dg_dx],
        ["dy/dx = (dy/dg)·(dg/dx)", dy_dg * dg_dx],
        ["6(3x + 2)", 6 * g],
        ["central difference (ε = 1e-4)", numeric],
    ]
    # Two variables: z = x·y with x = t², y = 3t + 1; t = the same point.
    t = x
    xt, yt = t**2, 3 * t + 1
    terms = [  # (term, formula, value, central difference of its own function)
        ("∂z/∂x", "y", yt, derivative(lambda u: u * yt, xt)),
        ("dx/dt", "2t", 2 * t, derivative(lambda u: u**2, t)),
        ("∂z/∂y", "x", xt, derivative(lambda u: xt * u, yt)),
        ("dy/dt", "3", 3.0, derivative(lambda u: 3 * u + 1, t)),
    ]
    total = yt * 2 * t + xt * 3
    direct = derivative(lambda u: u**2 * (3 * u + 1), t)
    multi: list[list[object]] = [[name, f, value, check] for name, f, value, check in terms]
    multi += [
        ["dz/dt = ∂z/∂x·dx/dt + ∂z/∂y·dy/dt", "2ty + 3x", total, direct],
        ["d/dt of z = 3t³ + t²", "9t² + 2t", 9 * t**2 + 2 * t, direct],
    ]
    return Demo(
        "The chain rule on y = (3x + 2)², and over two paths for z = x·y",
        [
            "y = f(g(x)) ⇒ dy/dx = (dy/dg)·(dg/dx)",
            "g = 3x + 2, y = g² ⇒ dy/dx = 2g·3 = 6(3x + 2)",
            "z = f(x, y) with x(t), y(t) ⇒ dz/dt = (∂z/∂x)·(dx/dt) + (∂z/∂y)·(dy/dt)",
            "z = x·y, x = t², y = 3t + 1 ⇒ dz/dt = y·2t + x·3",
        ],
        [
            Table(f"one variable, at x = {x:g}", ["quantity", "value"], rows),
            Table(
                f"two variables, at t = {t:g} (x = {xt:g}, y = {yt:g})",
                ["term", "formula", "value", "central difference"],
                multi,
            ),
        ],
        [
            f"The product {dy_dg * dg_dx:g} matches 6(3x + 2) = {6 * g:g} and the numerical "
            f"derivative {numeric:.10g}.",
            f"t reaches z along two paths, through x and through y: their products add up to "
            f"{total:g}, the derivative of z written out in t (3t³ + t²), and the central "
            f"difference of z(t) gives {direct:.10g}. Backpropagation sums over paths the same "
            "way: a unit that feeds several others collects a gradient from each.",
        ],
    )


def graph(w: float = 2.0, x: float = 3.0, b: float = 1.0) -> Demo:
    """L = (wx + b)² as a computational graph: a one-unit linear Dense layer computes wx + b
    and its gradients; the graph's nodes are read off the engine."""
    net = Network(
        [Dense(1, get_activation("linear"))], 1, "mse", np.random.default_rng(0), dtype="float64"
    )
    net.param("layers.0.W")[...] = w
    net.param("layers.0.b")[...] = b
    X, y = np.array([[x]]), np.zeros((1, 1))
    half = net.loss_value(X, y)  # mse = ½(wx + b − 0)²; L = 2·mse
    dX = net.backward(input_grad=True)
    assert dX is not None
    layer = net.layers[0]
    assert isinstance(layer, Dense)
    u, v = w * x, float(layer.output[0, 0])
    dL_dv = 2 * v
    forward: list[list[object]] = [
        ["x", x, "input"],
        ["w", w, "parameter"],
        ["b", b, "parameter"],
        ["u = w·x", u, "×w"],
        ["v = u + b", v, "+b"],
        ["L = v²", 2 * half, "²"],
    ]
    backward: list[list[object]] = [
        ["∂L/∂L", 1.0, "start"],
        ["∂L/∂v = 2v", dL_dv, "² node"],
        ["∂L/∂u = ∂L/∂v · 1", dL_dv, "+b node passes it on"],
        ["∂L/∂b = ∂L/∂v · 1", 2 * float(net.grad("layers.0.b")[0]), "+b node"],
        ["∂L/∂w = ∂L/∂u · x", 2 * float(net.grad("layers.0.W")[0, 0]), "×w node"],
        ["∂L/∂x = ∂L/∂u · w", 2 * float(dX[0, 0]), "×w node"],
    ]
    return Demo(
        "The computational graph of L = (wx + b)²",
        ["x → [×w] → u → [+b] → v → [²] → L", "forward: left to right; backward: right to left"],
        [
            Table("forward (values)", ["node", "value", "operation"], forward),
            Table("backward (gradients, chain rule)", ["gradient", "value", "from"], backward),
        ],
        [
            "The engine's dense layer computed v = wx + b and, through its ½-mean-squared-error "
            "loss (doubled here), the gradients ∂L/∂w, ∂L/∂b and ∂L/∂x shown."
        ],
    )
