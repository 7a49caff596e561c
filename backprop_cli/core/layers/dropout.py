"""Inverted dropout: off at evaluation, no rescaling needed there."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..hyper import Hyper
from ..scratch import Buffer, Scratch, forward_first
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

    def __init__(self, rate: float | None = None) -> None:
        self.rate: float = self.hyper["rate"].take("dropout rate", rate)
        self.noise: np.random.Generator | None = None
        #: Reuse the last mask instead of drawing a new one (gradient checks need a fixed f).
        self.frozen = False
        self.width = 0
        self._scratch = Scratch()
        self._training: bool | None = None  # None: no forward pass yet

    def build(self, fan_in: int) -> int:
        self.width = fan_in
        row = Buffer((fan_in,))
        self._scratch = Scratch(mask=row, out=row, dx=row)
        return fan_in

    def forward(self, x: Array, training: bool = True) -> Array:
        self._training = training and self.rate > 0
        if not self._training:
            return x
        made = self._scratch.allocations
        v = self._scratch.forward(x.shape[0], x.dtype)
        if self._scratch.allocations != made:
            self.frozen = False  # no mask of this size to reuse yet
        mask = v.mask
        if not self.frozen:
            if self.noise is None:
                raise RuntimeError("dropout needs the network's noise generator")
            self.noise.random(out=mask, dtype=mask.dtype)  # uniform in [0, 1)
            np.greater_equal(mask, self.rate, out=mask, casting="unsafe")  # 1 keeps, 0 drops
            mask *= 1.0 / (1.0 - self.rate)
        return np.multiply(x, mask, out=v.out)

    def backward(self, dout: Array) -> Array | None:
        if not forward_first(self._training, "dropout"):
            return dout if self.needs_input_grad else None
        v = self._scratch.backward("dropout")
        if not self.needs_input_grad:
            return None
        return np.multiply(dout, v.mask, out=v.dx)
