"""RMSprop: a per-parameter learning rate from a running mean of squared gradients."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..hyper import Hyper
from ..types import Array
from .base import Optimizer


class RMSprop(Optimizer):
    """RMSprop in the seed's form.

    Math:
        c ← ρ·c + (1 − ρ)·g²
        w ← w − lr·g / (√c + ε)
    ρ = ``rho`` (default 0.9), ε = ``eps`` (default 1e-8); the cache c starts at zero.
    """

    name = "rmsprop"
    rank = 3
    state_names = ("cache",)

    default_lr = 0.001
    hyper: ClassVar[dict[str, Hyper]] = {
        "rho": Hyper(0.9, "Decay of the squared-gradient cache.", 0.0, 1.0, True, True),
        "eps": Hyper(1e-8, "Added to √cache.", 0.0, low_open=True),
    }
    rho: float
    eps: float

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        cache = state["cache"]
        cache *= self.rho  # c ← ρ·c + (1 − ρ)·g²
        np.multiply(grads, grads, out=tmp)
        tmp *= 1.0 - self.rho
        cache += tmp
        np.sqrt(cache, out=tmp)  # w ← w − lr·g / (√c + ε)
        tmp += self.eps
        np.divide(grads, tmp, out=tmp)
        tmp *= lr
        params -= tmp
