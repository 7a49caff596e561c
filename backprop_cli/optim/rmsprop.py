"""RMSprop: a per-parameter learning rate from a running mean of squared gradients."""

from __future__ import annotations

import numpy as np

from ..types import Array
from .base import Optimizer, check_positive, check_range


class RMSprop(Optimizer):
    """RMSprop in the seed's form.

    Math:
        c ← ρ·c + (1 − ρ)·g²
        w ← w − lr·g / (√c + ε)
    ρ = ``rho`` (default 0.9), ε = ``eps`` (default 1e-8); the cache c starts at zero.
    """

    name = "rmsprop"
    state_names = ("cache",)

    def __init__(
        self, lr: float, rho: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr, weight_decay)
        self.rho = check_range("rho", rho, 0.0, 1.0, high_open=True)
        self.eps = check_positive("eps", eps)

    def hyperparams(self) -> dict[str, float]:
        return {**super().hyperparams(), "rho": self.rho, "eps": self.eps}

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        cache = state["cache"]
        cache *= self.rho
        np.multiply(grads, grads, out=tmp)
        tmp *= 1.0 - self.rho
        cache += tmp
        np.sqrt(cache, out=tmp)
        tmp += self.eps
        np.divide(grads, tmp, out=tmp)
        tmp *= lr
        params -= tmp
