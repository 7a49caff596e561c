"""Plain stochastic gradient descent."""

from __future__ import annotations

import numpy as np

from ..types import Array
from .base import Optimizer


class SGD(Optimizer):
    """Gradient descent, the seed's update rule.

    Math:
        w ← w − lr·g
    """

    name = "sgd"

    def update(self, params: Array, grads: Array, lr: float) -> None:
        step = np.multiply(grads, lr, out=self._scratch)
        params -= step
