"""Optimizers on the same gradients, and the learning-rate schedules."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.optim import SGD, Adam, Momentum, Optimizer, RMSprop
from ..core.schedules import SCHEDULES, build_schedule
from .base import Demo, Table


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
