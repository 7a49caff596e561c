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
    rank = 0

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        params -= np.multiply(grads, lr, out=grads)  # the gradient buffer is scratch
