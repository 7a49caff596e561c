"""Momentum and Nesterov momentum: gradient descent with a velocity."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..hyper import Hyper
from ..types import Array
from .base import Optimizer


class Momentum(Optimizer):
    """Classical momentum in the seed's form.

    Math:
        v ← μ·v − lr·g
        w ← w + v
    μ = ``momentum`` (default 0.9); v starts at zero.
    """

    name = "momentum"
    rank = 1
    state_names = ("velocity",)

    hyper: ClassVar[dict[str, Hyper]] = {
        "momentum": Hyper(0.9, "μ in v ← μv − lr·g.", 0.0, 1.0, high_open=True)
    }
    momentum: float

    def _velocity_step(self, grads: Array, velocity: Array, tmp: Array, lr: float) -> None:
        """v ← μ·v − lr·g, leaving lr·g in ``tmp``."""
        velocity *= self.momentum
        velocity -= np.multiply(grads, lr, out=tmp)

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        self._velocity_step(grads, state["velocity"], tmp, lr)  # v ← μ·v − lr·g
        params += state["velocity"]  # w ← w + v


class Nesterov(Momentum):
    """Nesterov accelerated gradient, in the form that needs no look-ahead evaluation.

    Math:
        v ← μ·v − lr·g
        w ← w + μ·v − lr·g
    """

    name = "nesterov"
    rank = 2

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        velocity = state["velocity"]
        self._velocity_step(grads, velocity, tmp, lr)  # v ← μ·v − lr·g
        params -= tmp  # w ← w − lr·g (tmp holds lr·g) ...
        params += np.multiply(velocity, self.momentum, out=tmp)  # ... + μ·v
