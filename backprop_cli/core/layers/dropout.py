"""Inverted dropout: off at evaluation, no rescaling needed there."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..hyper import Hyper
from ..types import Array
from .base import Layer


class Dropout(Layer):
    """Zero each input with probability ``rate`` while training, scaling the rest by 1/(1 − rate).

    Math (training; m_ij = 1 with probability 1 − p, else 0; p = ``rate``):
        out = x ⊙ m / (1 − p),   ∂L/∂x = dout ⊙ m / (1 − p)
    At evaluation out = x. The masks come from the network's noise generator (``noise``), whose
    state checkpoints save, so a resumed run draws the same masks.
    """

    name = "dropout"
    hyper: ClassVar[dict[str, Hyper]] = {
        "rate": Hyper(0.5, "Probability of zeroing each input.", 0, 1, high_open=True)
    }

    def __init__(self, rate: float = 0.5) -> None:
        self.rate: float = self.hyper["rate"].check("dropout rate", rate)
        self.noise: np.random.Generator | None = None
        #: Reuse the last mask instead of drawing a new one (gradient checks need a fixed f).
        self.frozen = False
        self.width = 0
        self._rows = 0
        self._mask: Array = np.empty((0, 0))
        self._out: Array = np.empty((0, 0))
        self._dx: Array = np.empty((0, 0))
        self._n = 0
        self._training = False

    def build(self, fan_in: int) -> int:
        self.width = fan_in
        return fan_in

    def forward(self, x: Array, training: bool = True) -> Array:
        n = x.shape[0]
        self._n, self._training = n, training and self.rate > 0
        if not self._training:
            return x
        if n > self._rows or self._mask.dtype != x.dtype:
            self._rows = max(n, self._rows)
            shape = (self._rows, self.width)
            self._mask, self._out, self._dx = (np.empty(shape, dtype=x.dtype) for _ in range(3))
            self.frozen = False  # no mask of this size to reuse yet
        mask = self._mask[:n]
        if not self.frozen:
            if self.noise is None:
                raise RuntimeError("dropout needs the network's noise generator")
            self.noise.random(out=mask, dtype=mask.dtype)  # uniform in [0, 1)
            np.greater_equal(mask, self.rate, out=mask, casting="unsafe")  # 1 keeps, 0 drops
            mask *= 1.0 / (1.0 - self.rate)
        return np.multiply(x, mask, out=self._out[:n])

    def backward(self, dout: Array) -> Array | None:
        if not self.needs_input_grad:
            return None
        if not self._training:
            return dout
        return np.multiply(dout, self._mask[: self._n], out=self._dx[: self._n])
