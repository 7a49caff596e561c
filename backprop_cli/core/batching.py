"""The seed's three batch strategies as index plans for one epoch.

- ``full``: one step over every sample (batch gradient descent);
- ``sgd``: one step per sample;
- ``minibatch``: steps of ``size`` samples, the last partial batch kept.

With shuffling, each epoch draws a fresh permutation from the run's generator; without it, batches
follow file order. Every epoch's batches partition the training set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: A minibatch's samples when none are given (``training.batching.size``'s default too).
DEFAULT_SIZE = 32


@dataclass(frozen=True)
class Batching:
    """How an epoch is cut into steps (a minibatch of more than the ``n`` samples there are is
    one batch of all of them)."""

    strategy: str  # "full" | "sgd" | "minibatch"
    size: int = DEFAULT_SIZE

    def batch_size(self, n: int) -> int:
        if self.strategy == "full":
            return n
        if self.strategy == "sgd":
            return 1
        return min(self.size, n)

    def steps_per_epoch(self, n: int) -> int:
        b = self.batch_size(n)
        return -(-n // b)

    def order(self, n: int, shuffle: bool, rng: np.random.Generator) -> NDArray[np.intp]:
        """The order in which one epoch visits the samples: a fresh permutation when shuffled
        (drawn as `epoch` draws it), else file order; step k takes entries k·b to (k+1)·b."""
        if shuffle and self.strategy != "full":
            return rng.permutation(n).astype(np.intp, copy=False)
        return np.arange(n, dtype=np.intp)

    def epoch(
        self, n: int, shuffle: bool, rng: np.random.Generator
    ) -> Iterator[NDArray[np.intp] | slice]:
        """The batches of one epoch: index arrays when shuffled (one-row slices for single
        samples), slices in file order."""
        b = self.batch_size(n)
        if shuffle and self.strategy != "full":
            order = self.order(n, shuffle, rng)
            if b == 1:  # one sample per step: a one-row slice is a view, not a gather
                for i in order.tolist():
                    yield slice(i, i + 1)
                return
            for start in range(0, n, b):
                yield order[start : start + b]
        else:
            for start in range(0, n, b):
                yield slice(start, min(start + b, n))
