"""The bookkeeping of one training epoch, kept out of the loop so that it reads top to bottom:
gathering each batch into reused buffers, and counting right answers for the train accuracy."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .network import Network
from .task import decide
from .types import Array

#: What `batching.Batching.epoch` yields for a step: a contiguous range, or sample indices.
Index = slice | NDArray[np.intp]


class BatchGatherer:
    """Each step's rows of X and y: a view for a contiguous range, otherwise a copy into buffers
    sized for the largest batch (no allocation per step)."""

    def __init__(self, X: Array, y: NDArray, batch_size: int) -> None:
        self.X, self.y = X, y
        self._X = np.empty((batch_size, *X.shape[1:]), dtype=X.dtype)
        self._y = np.empty((batch_size, *y.shape[1:]), dtype=y.dtype)

    def gather(self, idx: Index) -> tuple[Array, NDArray]:
        if isinstance(idx, slice):
            return self.X[idx], self.y[idx]
        # mode="clip" (the indices are in range) lets take write straight into the buffer; the
        # default mode="raise" copies through a temporary.
        n = len(idx)
        Xb = self.X.take(idx, axis=0, out=self._X[:n], mode="clip")
        yb = self.y.take(idx, axis=0, out=self._y[:n], mode="clip")
        return Xb, yb


def correct_count(net: Network, out: Array, labels: NDArray[np.int64]) -> int:
    """How many samples the outputs classify right (`task.decide`: the argmax, or one unit's
    threshold, on its logit when the loss takes logits)."""
    return int(np.count_nonzero(decide(out, net.loss.takes_logits) == labels))


class AccuracyTally:
    """Right answers over one epoch's steps (nothing for regression, ``labels`` None).

    With several output units, each step's predicted classes and its sample indices are stored,
    and compared with the labels once at the end of the epoch (one pass instead of one per step);
    with one unit each step is counted as it comes.
    """

    def __init__(self, net: Network, labels: NDArray[np.int64] | None, n: int) -> None:
        self.net, self.labels = net, labels
        self.argmax = labels is not None and net.output_dim > 1
        self._predicted = np.empty(n if self.argmax else 0, dtype=np.intp)
        self._order = np.empty(n if self.argmax else 0, dtype=np.intp)
        self._seen = 0
        self._correct = 0

    def start(self) -> None:
        self._seen, self._correct = 0, 0

    def add(self, out: Array, idx: Index) -> None:
        size, seen = len(out), self._seen
        if self.argmax:
            decide(out, out=self._predicted[seen : seen + size])
            if not isinstance(idx, slice):
                self._order[seen : seen + size] = idx
            elif size == 1:
                self._order[seen] = idx.start
            else:
                self._order[seen : seen + size] = np.arange(idx.start, idx.stop)
        elif self.labels is not None:
            self._correct += correct_count(self.net, out, self.labels[idx])
        self._seen += size

    def add_classes(self, classes: NDArray[np.intp], rows: NDArray[np.intp]) -> None:
        """The predicted classes of the samples ``rows`` (a compiled step's, which decides as
        `correct_count` does)."""
        size, seen = len(rows), self._seen
        if self.argmax:
            self._predicted[seen : seen + size] = classes
            self._order[seen : seen + size] = rows
        elif self.labels is not None:
            self._correct += int(np.count_nonzero(classes == self.labels[rows]))
        self._seen += size

    def correct(self) -> int:
        if self.argmax:
            assert self.labels is not None
            return int(np.count_nonzero(self._predicted == self.labels[self._order]))
        return self._correct
