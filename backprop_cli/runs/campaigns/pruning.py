"""A guided search's judge of one trial: shown each epoch's end where the trial runs (here, in a
worker process or on Dask), it reports the monitored metric to the trial's study and answers
why the study's pruner stops the trial, if it does."""

from __future__ import annotations

import math
from typing import Any

from ...core.training import EpochEnded
from .study import StudySpec


class TrialJudge:
    """The pruning judge of the study trial ``trial_id``, by the history column ``metric``."""

    def __init__(self, spec: StudySpec, trial_id: int, metric: str) -> None:
        self.spec, self.trial_id, self.metric = spec, trial_id, metric
        self._trial: Any = None  # opened where the trial runs, on its first epoch

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "trial_id": self.trial_id, "metric": self.metric}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["trial_id"], state["metric"])  # type: ignore[misc]

    def __call__(self, event: EpochEnded) -> str | None:
        value = event.row.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        if self._trial is None:
            import optuna

            self._trial = optuna.Trial(self.spec.load(), self.trial_id)
        self._trial.report(float(value), event.epoch)
        if not self._trial.should_prune():
            return None
        kind = (self.spec.pruner or {}).get("type", "")
        return f"pruned by the {kind} pruner after epoch {event.epoch} ({self.metric} {value:.4g})"
