"""Adam and AdamW: momentum and RMSprop combined, with bias correction."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..hyper import Hyper
from ..types import Array
from .base import Optimizer
from .transforms import DecoupledWeightDecay, State, Transform


class ScaleByAdam(Transform):
    """Adam's step, learning rate included.

    Math (t = ``count``, 1 at the first update; u arrives as the gradient g):
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
        u ← −lr·m̂ / (√v̂ + ε)
    AMSGrad (``amsgrad``, PyTorch's form) keeps the largest v so far and corrects that:
        v_max ← max(v_max, v),  v̂ = v_max / (1 − β₂ᵗ)
    so the step size of a parameter never grows back when its gradients shrink.

    The code computes the same quantities in a rewritten form, derived step by step:
        β₁·m + (1 − β₁)·g = (1 − β₁)·(β₁/(1 − β₁)·m + g)        factor out (1 − β₁)
        β₂·v + (1 − β₂)·g² = v + (1 − β₂)·(g² − v)              β₂·v = v − (1 − β₂)·v
        lr·m̂ / (√v̂ + ε)
          = lr·(m / (1 − β₁ᵗ)) / (√v / √(1 − β₂ᵗ) + ε)          the definitions of m̂ and v̂
          = lr_t·m / (√v / √(1 − β₂ᵗ) + ε)                      lr_t = lr / (1 − β₁ᵗ)
          = m / (√v / (lr_t·√(1 − β₂ᵗ)) + ε/lr_t)               numerator and denominator ÷ lr_t
          = m / (√v·c + ε/lr_t)                                 c = 1 / (lr_t·√(1 − β₂ᵗ))
        −lr·m̂ / (√v̂ + ε) = m / (√v·(−c) + (−ε/lr_t))             the sign into both scalars
    Each line of ``update`` is one of these steps, in place; the updates buffer ends as the
    step's denominator, then the step. The forms round like the textbook ones: no cancellation,
    and no overflow short of g² itself; and negating both scalars is exact, so ``w + u`` is the
    seed's ``w − m / (√v·c + ε/lr_t)`` bit for bit. The rate sits inside the denominator, so the
    chain has no separate −lr stage after this one.
    """

    name = "scale_by_adam"

    def __init__(self, beta1: float, beta2: float, eps: float, amsgrad: bool) -> None:
        self.beta1, self.beta2, self.eps, self.amsgrad = beta1, beta2, eps, amsgrad
        self.state_names = ("m", "v", "v_max") if amsgrad else ("m", "v")

    def params(self) -> dict[str, Any]:
        extra = {"amsgrad": True} if self.amsgrad else {}
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, **extra}

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        m, v, g = state["m"], state["v"], updates
        b1, b2 = self.beta1, self.beta2
        m *= b1 / (1.0 - b1)  # m ← (1 − β₁)·(β₁/(1 − β₁)·m + g)
        m += g
        m *= 1.0 - b1
        change = np.multiply(g, g, out=g)  # v ← v + (1 − β₂)·(g² − v)
        change -= v
        change *= 1.0 - b2
        v += change
        if self.amsgrad:  # v̂ from v_max ← max(v_max, v)
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        lr_t = lr / (1.0 - b1**count)
        c = 1.0 / (lr_t * math.sqrt(1.0 - b2**count))
        denom = np.sqrt(v, out=g)  # √v·(−c) + (−ε/lr_t)
        denom *= -c
        denom += -(self.eps / lr_t)
        return np.divide(m, denom, out=denom)  # u ← m / (√v·(−c) − ε/lr_t)


class Adam(Optimizer):
    """Adam in the seed's form.

    Math (t = 1 at the first update):
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
        w ← w − lr·m̂ / (√v̂ + ε)
    Defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8; ``amsgrad: true`` takes the running max of v
    (`ScaleByAdam`). The chain: [L2 decay,] `ScaleByAdam` (the rate inside it).
    """

    name = "adam"
    rank = 4

    default_lr = 0.001
    hyper: ClassVar[dict[str, Hyper]] = {
        "beta1": Hyper(0.9, "Decay of the first moment m.", 0.0, 1.0, high_open=True),
        "beta2": Hyper(0.999, "Decay of the second moment v.", 0.0, 1.0, high_open=True),
        "eps": Hyper(1e-8, "Added to √v̂.", 0.0, low_open=True),
        "amsgrad": Hyper(False, "AMSGrad: the running max of v in v̂ (as PyTorch)."),
    }
    beta1: float
    beta2: float
    eps: float
    amsgrad: bool

    def chain(self) -> list[Transform]:
        return [*self.decay(), ScaleByAdam(self.beta1, self.beta2, self.eps, self.amsgrad)]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter).

    Math:
        w ← w − lr·λ·w           (weights W only, from the weights before this step)
        then the Adam update above, with g not including any decay term.
    λ = ``weight_decay`` (default 0.01). The chain: `DecoupledWeightDecay`, `ScaleByAdam`.
    """

    name = "adamw"
    rank = 5

    hyper: ClassVar[dict[str, Hyper]] = {
        "weight_decay": Hyper(0.01, "Decoupled decay λ.", 0.0, 1.0, high_open=True)
    }

    def decay(self) -> list[Transform]:
        return [DecoupledWeightDecay(self.weight_decay)] if self.weight_decay else []
