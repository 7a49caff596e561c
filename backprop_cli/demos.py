"""Walk-throughs of the notes bprop implements, each computed by the engine (`bprop demo`).

Every demo returns a `Demo`: formulas and tables of numbers that the engine produced just now,
for the CLI to render. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .core.activations import ACTIVATIONS, get_activation
from .core.gradcheck import numerical_gradient
from .core.layers import Dense
from .core.network import Network
from .core.optim import SGD, Adam, Momentum, Optimizer, RMSprop
from .core.schedules import SCHEDULES, build_schedule


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[object]]


@dataclass
class Demo:
    title: str
    formulas: list[str]
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: For --plot: series of (label, rows with ``x`` and each metric), a panel per metric.
    series: list[tuple[str, list[dict[str, float]]]] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    x: str = "epoch"


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


def _derivative(f: Callable[[float], float], at: float) -> float:
    """f′(at) by the engine's central differences (ε = 1e-4)."""
    point = np.array([at], dtype=np.float64)
    return float(numerical_gradient(lambda: f(float(point[0])), point, np.arange(1), 1e-4)[0])


def chain_rule(x: float = 1.0) -> Demo:
    """y = (3x + 2)² by the chain rule's product, then z(x(t), y(t)) by its sum over the two
    paths from t to z; every term checked against central differences."""
    g = 3 * x + 2
    dy_dg, dg_dx = 2 * g, 3.0
    numeric = _derivative(lambda u: (3 * u + 2) ** 2, x)
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
        ("∂z/∂x", "y", yt, _derivative(lambda u: u * yt, xt)),
        ("dx/dt", "2t", 2 * t, _derivative(lambda u: u**2, t)),
        ("∂z/∂y", "x", xt, _derivative(lambda u: xt * u, yt)),
        ("dy/dt", "3", 3.0, _derivative(lambda u: 3 * u + 1, t)),
    ]
    total = yt * 2 * t + xt * 3
    direct = _derivative(lambda u: u**2 * (3 * u + 1), t)
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
    net = Network([Dense(1, get_activation("linear"))], 1, "mse", np.random.default_rng(0))
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


def backprop(lr: float = 0.1) -> Demo:
    """The notes' 2-3-1 sigmoid network on x = [1, 2], y = 1: every quantity of one step."""
    net = Network(
        [Dense(3, get_activation("sigmoid")), Dense(1, get_activation("sigmoid"))],
        2, "mse", np.random.default_rng(0),
    )  # fmt: skip
    net.param("layers.0.W")[...] = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    net.param("layers.0.b")[...] = [0.1, 0.2, 0.3]
    net.param("layers.1.W")[...] = [[0.7, 0.8, 0.9]]
    net.param("layers.1.b")[...] = [0.4]
    X, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    loss = net.loss_value(X, y)
    net.backward()
    hidden, output = net.layers
    assert isinstance(hidden, Dense) and isinstance(output, Dense)

    def vec(a: np.ndarray) -> str:
        return "[" + ", ".join(f"{v:.6f}" for v in np.ravel(a)) + "]"

    forward: list[list[object]] = [
        ["z₁ = W₁x + b₁", vec(hidden.pre_activation)],
        ["a₁ = σ(z₁)", vec(hidden.output)],
        ["z₂ = W₂a₁ + b₂", vec(output.pre_activation)],
        ["a₂ = σ(z₂) = ŷ", vec(output.output)],
        ["L = ½(a₂ − y)²", f"{loss:.6f}"],
    ]
    backward: list[list[object]] = [
        ["δ₂ = (a₂ − y) ⊙ σ′(z₂)", vec(output.delta)],
        ["∂L/∂W₂ = δ₂ a₁ᵀ", vec(net.grad("layers.1.W"))],
        ["∂L/∂b₂ = δ₂", vec(net.grad("layers.1.b"))],
        ["δ₁ = (W₂ᵀ δ₂) ⊙ σ′(z₁)", vec(hidden.delta)],
        ["∂L/∂W₁ = δ₁ xᵀ", vec(net.grad("layers.0.W"))],
        ["∂L/∂b₁ = δ₁", vec(net.grad("layers.0.b"))],
    ]
    opt = SGD()
    opt.init(net.n_params, net.n_decay, net.dtype)
    opt.step(net.params, net.grads, lr)
    updated: list[list[object]] = [
        [f"{label} ← {label} − {lr:g}·∂L/∂{label}", vec(net.param(name))]
        for name, label in (
            ("layers.1.W", "W₂"), ("layers.1.b", "b₂"), ("layers.0.W", "W₁"), ("layers.0.b", "b₁")
        )
    ]  # fmt: skip
    after = net.loss_value(X, y)
    return Demo(
        "Backpropagation through the notes' 2-3-1 network",
        [
            "x = [1, 2], y = 1; W₁ = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], b₁ = [0.1, 0.2, 0.3]",
            "W₂ = [[0.7, 0.8, 0.9]], b₂ = [0.4]; sigmoid units, L = ½(ŷ − y)²",
        ],
        [
            Table("forward pass", ["quantity", "value"], forward),
            Table("backward pass", ["quantity", "value"], backward),
            Table(f"one SGD step, lr = {lr:g}", ["update", "new value"], updated),
        ],
        [f"The loss falls from {loss:.6f} to {after:.6f} after the step."],
    )


def optimizers(steps: int = 3) -> Demo:
    """SGD, momentum, RMSprop and Adam from the same weights, on the same gradients."""
    w0 = np.array([1.0, -2.0, 0.5])
    grads = [np.array([0.3, -0.1, 2.0]), np.array([0.3, -0.1, 2.0]), np.array([0.2, 0.1, 1.5])]
    makers: list[tuple[str, Callable[[], Optimizer]]] = [
        ("sgd (lr 0.1)", lambda: SGD()),
        ("momentum (lr 0.1, μ 0.9)", lambda: Momentum()),
        ("rmsprop (lr 0.1, ρ 0.9)", lambda: RMSprop()),
        ("adam (lr 0.1, β 0.9, 0.999)", lambda: Adam()),
    ]
    rows: list[list[object]] = []
    for label, make in makers:
        opt = make()
        w = w0.copy()
        opt.init(3, 3, w.dtype)
        cells: list[object] = [label]
        for g in grads[:steps]:
            opt.step(w, g.copy(), 0.1)
            cells.append(" ".join(f"{v:+.3f}" for v in w))
        rows.append(cells)
    return Demo(
        "One optimizer step after another, on the same gradients",
        [
            "sgd: w ← w − lr·g",
            "momentum: v ← μv − lr·g, w ← w + v",
            "rmsprop: c ← ρc + (1 − ρ)g², w ← w − lr·g/(√c + ε)",
            "adam: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², w ← w − lr·m̂/(√v̂ + ε)",
            "start w = [1, −2, 0.5]; gradients [0.3, −0.1, 2], the same again, "
            "then [0.2, 0.1, 1.5]",
        ],
        [
            Table(
                "weights after each step",
                ["optimizer", *[f"step {k}" for k in range(1, steps + 1)]],
                rows,
            )
        ],
        [
            "SGD moves each weight in proportion to its gradient; momentum's first step is SGD's, "
            "then it gathers speed. RMSprop and Adam divide by the gradient's running size, so "
            "every weight moves by about the same amount whatever its gradient's scale: Adam's "
            "first step is exactly lr·sign(g), RMSprop's lr·sign(g)/√(1 − ρ) ≈ 3.16·lr.",
        ],
    )


def schedules(lr0: float = 0.1, epochs: int = 20) -> Demo:
    """The schedules over an example run, from bprop's own schedule functions; plateau reacts to
    an example monitored loss that falls by 0.1 an epoch to 0.5 and then stalls."""
    params: dict[str, dict[str, float | str]] = {
        "constant": {}, "step": {"decay_rate": 0.5, "step_size": 5},
        "exponential": {"decay_rate": 0.1}, "cosine": {"min_lr": 0.0},
        "plateau": {"monitor": "val_loss", "factor": 0.5, "patience": 3},
    }  # fmt: skip
    built = {name: build_schedule(name, lr0, epochs, 0, **params[name]) for name in SCHEDULES}
    monitored = [round(max(1.0 - 0.1 * e, 0.5), 10) for e in range(epochs)]
    rates: dict[str, list[float]] = {name: [] for name in SCHEDULES}
    for e in range(epochs):
        for name, schedule in built.items():
            rates[name].append(schedule(e))
            schedule.end_epoch({"val_loss": monitored[e]})
    rows: list[list[object]] = [
        [e, *[f"{rates[name][e]:.5f}" for name in SCHEDULES], f"{monitored[e]:.1f}"]
        for e in range(epochs)
    ]
    series = [
        (name, [{"epoch": e, "lr": rates[name][e]} for e in range(epochs)]) for name in SCHEDULES
    ]
    return Demo(
        f"Learning-rate schedules from lr₀ = {lr0:g} over {epochs} epochs",
        [
            "constant: lr = lr₀",
            "step: lr = lr₀·0.5^⌊e/5⌋",
            "exponential: lr = lr₀·e^(−0.1·e)",
            f"cosine: lr = ½·lr₀·(1 + cos(π·e/{epochs}))",
            "plateau: lr ← lr·0.5 after 3 epochs in which val_loss did not improve by 10⁻⁴ "
            "(decided at each epoch's end, for the next epoch)",
        ],
        [Table("lr by epoch (0-based)", ["epoch", *SCHEDULES, "val_loss"], rows)],
        [
            "Set one with schedule: {type: cosine} (add warmup_epochs: N for a linear warm-up).",
            "val_loss is the example metric plateau watches: it stops improving after epoch 5, "
            "so the rate halves for epochs 9, 12, 15 and 18.",
        ],
        series,
        ["lr"],
    )


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


#: The demos that --plot can draw.
DRAWN = ("schedules", "activations")

#: Topic name → (one-line description, demo function).
TOPICS: dict[str, tuple[str, Callable[[], Demo]]] = {
    "descent": ("gradient descent on f(x) = x² from x = 3, and a too-large lr", descent),
    "chain-rule": (
        "the chain rule on y = (3x + 2)² and over two paths for z = x·y, checked numerically",
        chain_rule,
    ),
    "graph": ("the computational graph of L = (wx + b)², forward and backward", graph),
    "backprop": ("the notes' 2-3-1 network: every δ, gradient and updated weight", backprop),
    "optimizers": ("SGD, momentum, RMSprop and Adam on the same gradients", optimizers),
    "schedules": ("the learning-rate schedules over an example run (--plot)", schedules),
    "activations": (
        "each activation and its derivative, σ′ ≤ 0.25 and 0.25ⁿ in deep sigmoid networks (--plot)",
        activations,
    ),
}

#: Topics computed at a point x of the user's choosing (--x).
POINTED: dict[str, Callable[[float], Demo]] = {
    "chain-rule": lambda x: chain_rule(x=x),
    "graph": lambda x: graph(x=x),
}

__all__ = ["DRAWN", "POINTED", "TOPICS", "Demo", "Table"]
