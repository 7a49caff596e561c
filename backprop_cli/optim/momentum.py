"""Momentum and Nesterov momentum: gradient descent with a velocity."""

from __future__ import annotations

import numpy as np

from ..types import Array
from .base import Optimizer, check_range


class Momentum(Optimizer):
    """Classical momentum in the seed's form.

    Math:
        v ← μ·v − lr·g
        w ← w + v
    μ = ``momentum`` (default 0.9); v starts at zero.
    """

    name = "momentum"
    state_names = ("velocity",)

    def __init__(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.momentum = check_range("momentum", momentum, 0.0, 1.0, high_open=True)

    def hyperparams(self) -> dict[str, float]:
        return {**super().hyperparams(), "momentum": self.momentum}

    def _velocity_step(self, grads: Array, velocity: Array, tmp: Array, lr: float) -> None:
        """v ← μ·v − lr·g, leaving lr·g in ``tmp``."""
        velocity *= self.momentum
        velocity -= np.multiply(grads, lr, out=tmp)

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        self._velocity_step(grads, state["velocity"], tmp, lr)
        params += state["velocity"]


class Nesterov(Momentum):
    """Nesterov accelerated gradient, in the form that needs no look-ahead evaluation.

    Math:
        v ← μ·v − lr·g
        w ← w + μ·v − lr·g
    """

    name = "nesterov"

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        velocity = state["velocity"]
        self._velocity_step(grads, velocity, tmp, lr)
        params -= tmp  # lr·g
        params += np.multiply(velocity, self.momentum, out=tmp)
