"""One split of a data set (training, validation or test): its rows' features and targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .network import Network

#: The splits a run's data is cut into, in order.
NAMES = ("train", "val", "test")


def are_labels(y: NDArray[Any]) -> bool:
    """Whether targets ``y`` are class indices (0 … K−1, class k being output unit k): the one
    rule, integer targets are classes, any other targets are numbers."""
    return bool(np.issubdtype(np.asarray(y).dtype, np.integer))


@dataclass(frozen=True)
class Split:
    """Features ``X`` (one row per sample) and targets ``y``; for the training loop, ``y`` in the
    loss's form and each row's class index in ``labels`` (None when the targets are not
    classes)."""

    X: NDArray[Any]
    y: NDArray[Any]
    labels: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return len(self.X)

    def for_loss(self, net: Network, labelled: bool) -> Split:
        """This split as the training loop reads it: ``y`` in ``net``'s loss's form (checked once
        here, not per step) and, when ``labelled``, the class indices beside it."""
        labels = self.y.astype(np.int64) if labelled else None
        return Split(self.X, net.prepare_targets(self.y), labels)
