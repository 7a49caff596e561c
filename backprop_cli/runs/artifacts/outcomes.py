"""How the runs of a campaign ended: each run's `RunSummary` and its one `RunStatus`, in the
words of the campaign's files (comparison, sweep and cv), and the outcome of the whole campaign.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """How one run of a campaign ended, as comparison.csv, sweep.csv and cv.csv spell it (a
    `str`, so it is written, compared and shown as its value)."""

    OK = "ok"  # trained every epoch
    EARLY_STOPPED = "early-stopped"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"  # stopped after a step on request; resumable
    PRUNED = "pruned"  # a sweep's trial stopped after an epoch as poor
    CANCELLED = "cancelled"  # stopped before it started, or at once by a second Ctrl-C
    ERROR = "error"  # failed; its detail says why
    INVALID = "invalid"  # a sweep's trial whose config is not valid: never run

    @classmethod
    def of_stop(cls, reason: str) -> RunStatus:
        """The status of a run that stopped for ``reason``, in the run's own words (metrics.json's
        stop_reason: completed, early_stopping, diverged, interrupted or pruned)."""
        return STOP_REASONS.get(reason, cls.ERROR)

    @property
    def finished(self) -> bool:
        """The run trained to its end (every epoch, or until early stopping)."""
        return self in FINISHED

    @property
    def trained(self) -> bool:
        """The run ended by itself or on request, its files complete (metrics.json too)."""
        return self in STOP_REASONS.values()


#: metrics.json's stop reasons (`core.training.StopReason`) → the campaign files' statuses:
#: the one place the two meet.
STOP_REASONS = {
    "completed": RunStatus.OK,
    "early_stopping": RunStatus.EARLY_STOPPED,
    "diverged": RunStatus.DIVERGED,
    "interrupted": RunStatus.INTERRUPTED,
    "pruned": RunStatus.PRUNED,
}
#: The statuses of runs that trained to their end.
FINISHED = (RunStatus.OK, RunStatus.EARLY_STOPPED)


@dataclass
class RunSummary:
    """One run of a campaign: how it ended and the figures the campaign's tables and files show
    (None where the run has none: no validation data, or it never trained)."""

    name: str  # its run directory, relative to the campaign's
    status: RunStatus
    stop_epoch: int | None = None  # the epoch it diverged, stopped early or was interrupted
    epochs: int = 0  # epochs trained
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    best_train_loss: float | None = None  # the lowest finite value over the epochs
    best_val_loss: float | None = None
    final_val_accuracy: float | None = None
    score: float | None = None  # the best value of the campaign's metric (a sweep's)
    train_seconds: float = 0.0  # in training steps
    seconds: float = 0.0  # the whole run: data, steps, evaluation, files
    detail: str = ""  # why it stopped, failed or did not run
    history: list[dict[str, float]] = field(default_factory=list, repr=False)
    test: dict[str, Any] = field(default_factory=dict, repr=False)  # metrics.json's test figures
    warnings: list[str] = field(default_factory=list, repr=False)  # what the run warned about

    @property
    def test_accuracy(self) -> float | None:
        return self.test.get("accuracy")


def summarize(
    name: str,
    metrics: dict[str, Any],
    history: list[dict[str, float]],
    metric: str | None = None,
    mode: str = "min",
) -> RunSummary:
    """The summary of a run that ended, from its metrics.json and history; scored by ``metric``
    (its best value over the epochs: lowest or highest by ``mode``) when given."""

    def best(key: str) -> float | None:
        values = [v for r in history if (v := r.get(key)) is not None and math.isfinite(v)]
        return min(values) if values else None

    final = history[-1] if history else {}
    status = RunStatus.of_stop(metrics["stop_reason"])
    return RunSummary(
        name,
        status,
        stop_epoch=metrics["stop_epoch"] if status is not RunStatus.OK else None,
        epochs=metrics["epochs_run"],
        final_train_loss=final.get("train_loss"),
        final_val_loss=final.get("val_loss"),
        best_train_loss=best("train_loss"),
        best_val_loss=best("val_loss"),
        final_val_accuracy=final.get("val_accuracy"),
        score=score_of(history, metric, mode) if metric is not None else None,
        train_seconds=metrics.get("train_seconds", 0.0),
        seconds=metrics["total_seconds"],
        detail=metrics.get("stop_detail", ""),
        history=history,
        test=metrics.get("test") or {},
    )


def score_of(history: list[dict[str, Any]], metric: str, mode: str) -> float | None:
    """The best finite value of the history column ``metric``: lowest (``mode`` min) or
    highest (max)."""
    values = [v for r in history if (v := r.get(metric)) is not None and math.isfinite(v)]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


#: What a campaign came to: at least one run finished (`SUCCEEDED`); none did and one diverged
#: (`DIVERGED`); none finished and none diverged: every run failed, was invalid or was
#: cancelled (`FAILED`).
SUCCEEDED, DIVERGED, FAILED = "succeeded", "diverged", "failed"


def outcome(statuses: Iterable[str]) -> str:
    """`SUCCEEDED`, `DIVERGED` or `FAILED` for runs with these statuses."""
    seen = set(statuses)
    if seen & set(FINISHED):
        return SUCCEEDED
    return DIVERGED if RunStatus.DIVERGED in seen else FAILED


def outcome_of_all(statuses: Iterable[str]) -> str:
    """`SUCCEEDED` only when every run finished (a cross-validation needs all its folds), else
    the outcome of the runs that did not."""
    unfinished = [s for s in statuses if s not in FINISHED]
    return outcome(unfinished) if unfinished else SUCCEEDED
