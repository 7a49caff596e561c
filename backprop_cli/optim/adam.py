"""Adam and AdamW: momentum and RMSprop combined, with bias correction."""

from __future__ import annotations

import math

import numpy as np

from ..types import Array
from .base import Optimizer, check_positive, check_range


class Adam(Optimizer):
    """Adam in the seed's form.

    Math (t = 1 at the first update):
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
        w ← w − lr·m̂ / (√v̂ + ε)
    Defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    """

    name = "adam"
    state_names = ("m", "v")

    def __init__(
        self,
        lr: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.beta1 = check_range("beta1", beta1, 0.0, 1.0, high_open=True)
        self.beta2 = check_range("beta2", beta2, 0.0, 1.0, high_open=True)
        self.eps = check_positive("eps", eps)

    def hyperparams(self) -> dict[str, float]:
        return {
            **super().hyperparams(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
        }

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        # Twelve in-place passes and no scratch: the gradient buffer is consumed (it ends up
        # holding the step). m ← (1 − β₁)·(β₁/(1 − β₁)·m + g) and v ← v + (1 − β₂)·(g² − v) round
        # like the textbook forms (no cancellation, no overflow short of g² itself overflowing).
        m, v = state["m"], state["v"]
        t = self.step_count
        b1, b2 = self.beta1, self.beta2
        m *= b1 / (1.0 - b1)
        m += grads
        m *= 1.0 - b1
        change = np.multiply(grads, grads, out=grads)
        change -= v
        change *= 1.0 - b2
        v += change
        # lr·m̂ / (√v̂ + ε) = m / (√v·c + ε/lr_t) with lr_t = lr/(1 − β₁ᵗ), c = 1/(lr_t·√(1 − β₂ᵗ))
        lr_t = lr / (1.0 - b1**t)
        c = 1.0 / (lr_t * math.sqrt(1.0 - b2**t))
        denom = np.sqrt(v, out=grads)
        denom *= c
        denom += self.eps / lr_t
        params -= np.divide(m, denom, out=denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter).

    Math:
        w ← w − lr·λ·w           (weights W only, from the weights before this step)
        then the Adam update above, with g not including any decay term.
    λ = ``weight_decay`` (default 0.01).
    """

    name = "adamw"

    def __init__(
        self,
        lr: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay)

    def decays_into_gradient(self) -> bool:
        return False
