"""Per-epoch history rows and early stopping (its state is saved with checkpoints)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

from .hyper import Hyper

#: Columns every history row has, in order (accuracy columns only for classification).
BASE_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "grad_norm", "train_seconds")
ACCURACY_COLUMNS = ("train_accuracy", "val_accuracy")


def columns(classification: bool) -> list[str]:
    cols = list(BASE_COLUMNS)
    if classification:
        cols[4:4] = ACCURACY_COLUMNS
    return cols


def monitor_problem(monitor: str, has_validation: bool) -> str | None:
    """Why early stopping or an adaptive schedule cannot watch ``monitor`` (val_loss without
    validation data), or None."""
    if monitor == "val_loss" and not has_validation:
        return (
            "val_loss needs validation data, and the data set has none (data.validation_split "
            "is 0); set a validation_split or monitor train_loss"
        )
    return None


@dataclass
class EarlyStopping:
    """Track the best ``monitor`` value; stop when it has not improved by more than
    ``min_delta`` for ``patience`` epochs (never when ``patience`` is None: it then only tracks,
    see `tracker`).

    Math:
        improved ⇔ value < best − min_delta
        wait ← 0 if improved else wait + 1;  stop ⇔ wait ≥ patience
    """

    #: The settings of ``training.early_stopping``, their defaults those of the fields below.
    hyper: ClassVar[dict[str, Hyper]] = {
        "patience": Hyper(10, "Epochs without improvement before stopping.", 1, integer=True),
        "min_delta": Hyper(0.0, "The least change that counts.", 0.0),
        "restore_best": Hyper(True, "End with the best epoch's weights."),
    }

    monitor: str
    patience: int | None = hyper["patience"].default  # type: ignore[assignment]
    min_delta: float = hyper["min_delta"].default  # type: ignore[assignment]
    restore_best: bool = hyper["restore_best"].default  # type: ignore[assignment]
    best: float = math.inf
    best_epoch: int = 0
    wait: int = 0

    @classmethod
    def tracker(cls, monitor: str) -> EarlyStopping:
        """A tracker of the best epoch that never stops a run nor restores its weights (a run
        without early stopping still knows its best epoch, for best.npz)."""
        return cls(monitor, patience=None, restore_best=False)

    def update(self, epoch: int, value: float) -> bool:
        """Record ``value`` for ``epoch``; True when it is a new best."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.wait >= self.patience

    def state(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k in ("best", "best_epoch", "wait")}

    def load(self, state: dict[str, float]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
