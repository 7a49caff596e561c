"""Per-epoch history rows and early stopping (its state is saved with checkpoints)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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
    ``min_delta`` for ``patience`` epochs (never when ``patience`` is None: it then only tracks).

    Math:
        improved ⇔ value < best − min_delta
        wait ← 0 if improved else wait + 1;  stop ⇔ wait ≥ patience
    """

    monitor: str
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = False
    best: float = math.inf
    best_epoch: int = 0
    wait: int = 0

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
