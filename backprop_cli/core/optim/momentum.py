"""Momentum and Nesterov momentum: gradient descent with a velocity."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..hyper import Hyper
from ..types import Array
from .base import Optimizer
from .transforms import ScaleByLearningRate, State, Transform


class Trace(Transform):
    """The velocity: a running sum of the steps, each decayed by μ per update.

    Math (u arrives as the step −lr·g, `ScaleByLearningRate` coming first):
        v ← μ·v + u
        u ← v
    so v ← μ·v − lr·g, the seed's form: the velocity holds steps at the rate of the epoch that
    took them. The velocity itself is returned as the updates (no copy), so it ends the chain.
    """

    name = "trace"
    state_names = ("velocity",)
    ends_chain = True

    def __init__(self, momentum: float) -> None:
        self.momentum = momentum

    def params(self) -> dict[str, Any]:
        return {"momentum": self.momentum}

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        velocity = state["velocity"]
        velocity *= self.momentum  # v ← μ·v + u
        velocity += updates
        return velocity


class NesterovTrace(Trace):
    """Nesterov's velocity, in the form that needs no look-ahead evaluation.

    Math (u arrives as the step −lr·g):
        v ← μ·v + u
        w ← w + u        (the gradient half, applied here, first, as the seed orders it)
        u ← μ·v          (the look-ahead, which the chain then adds)
    so w ← (w − lr·g) + μ·v.
    """

    name = "nesterov_trace"
    ends_chain = False

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        velocity = super().update(updates, state, params, scratch, lr, count)  # v ← μ·v + u
        params += updates  # w ← w + u (u is −lr·g) ...
        return np.multiply(velocity, self.momentum, out=updates)  # ... then + μ·v


class Momentum(Optimizer):
    """Classical momentum in the seed's form.

    Math:
        v ← μ·v − lr·g
        w ← w + v
    μ = ``momentum`` (default 0.9); v starts at zero. The chain: [L2 decay,] −lr, `Trace`.
    """

    name = "momentum"
    rank = 1

    hyper: ClassVar[dict[str, Hyper]] = {
        "momentum": Hyper(0.9, "μ in v ← μv − lr·g.", 0.0, 1.0, high_open=True)
    }
    momentum: float
    trace: ClassVar[type[Trace]] = Trace

    def chain(self) -> list[Transform]:
        return [*self.decay(), ScaleByLearningRate(), self.trace(self.momentum)]


class Nesterov(Momentum):
    """Nesterov accelerated gradient, in the form that needs no look-ahead evaluation.

    Math:
        v ← μ·v − lr·g
        w ← w + μ·v − lr·g
    The chain: [L2 decay,] −lr, `NesterovTrace`.
    """

    name = "nesterov"
    rank = 2
    trace = NesterovTrace
