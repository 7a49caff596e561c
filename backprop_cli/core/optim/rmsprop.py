"""RMSprop: a per-parameter learning rate from a running mean of squared gradients."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..hyper import Hyper
from ..types import Array
from .base import Optimizer
from .transforms import ScaleByLearningRate, State, Transform


class ScaleByRms(Transform):
    """The gradient divided by the root of its running mean square.

    Math:
        c ← ρ·c + (1 − ρ)·u²
        u ← u / (√c + ε)
    the cache c starts at zero.
    """

    name = "scale_by_rms"
    state_names = ("cache",)

    def __init__(self, rho: float, eps: float) -> None:
        self.rho, self.eps = rho, eps

    def params(self) -> dict[str, Any]:
        return {"rho": self.rho, "eps": self.eps}

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        cache = state["cache"]
        cache *= self.rho  # c ← ρ·c + (1 − ρ)·u²
        np.multiply(updates, updates, out=scratch)
        scratch *= 1.0 - self.rho
        cache += scratch
        np.sqrt(cache, out=scratch)  # u ← u / (√c + ε)
        scratch += self.eps
        return np.divide(updates, scratch, out=updates)


class RMSprop(Optimizer):
    """RMSprop in the seed's form.

    Math:
        c ← ρ·c + (1 − ρ)·g²
        w ← w − lr·g / (√c + ε)
    ρ = ``rho`` (default 0.9), ε = ``eps`` (default 1e-8); the cache c starts at zero.
    The chain: [L2 decay,] `ScaleByRms`, −lr.
    """

    name = "rmsprop"
    rank = 3

    default_lr = 0.001
    hyper: ClassVar[dict[str, Hyper]] = {
        "rho": Hyper(0.9, "Decay of the squared-gradient cache.", 0.0, 1.0, True, True),
        "eps": Hyper(1e-8, "Added to √cache.", 0.0, low_open=True),
    }
    rho: float
    eps: float

    def chain(self) -> list[Transform]:
        return [*self.decay(), ScaleByRms(self.rho, self.eps), ScaleByLearningRate()]
