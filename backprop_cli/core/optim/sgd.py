"""Plain stochastic gradient descent."""

from __future__ import annotations

from .base import Optimizer
from .transforms import ScaleByLearningRate, Transform


class SGD(Optimizer):
    """Gradient descent, the seed's update rule.

    Math:
        w ← w − lr·g
    The chain: [L2 decay,] −lr (`ScaleByLearningRate`); the rule is the gradient itself.
    """

    name = "sgd"
    rank = 0

    def chain(self) -> list[Transform]:
        return [*self.decay(), ScaleByLearningRate()]
