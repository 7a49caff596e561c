"""How the runs of an optimizer race or a sweep ended, in the words of their result files, and the
outcome of the whole multi-run command."""

from __future__ import annotations

from collections.abc import Iterable

#: A run's stop reason, as comparison and sweep files name it.
STATUS = {
    "completed": "ok",
    "early_stopping": "early-stopped",
    "diverged": "diverged",
    "interrupted": "interrupted",
}
#: The statuses of runs that trained to their end.
FINISHED = ("ok", "early-stopped")

#: What a race or a sweep came to: at least one run finished (`SUCCEEDED`); none did and one
#: diverged (`DIVERGED`); none finished and none diverged: every run failed, was invalid or was
#: cancelled (`FAILED`).
SUCCEEDED, DIVERGED, FAILED = "succeeded", "diverged", "failed"


def outcome(statuses: Iterable[str]) -> str:
    """`SUCCEEDED`, `DIVERGED` or `FAILED` for runs with these statuses."""
    seen = set(statuses)
    if seen & set(FINISHED):
        return SUCCEEDED
    return DIVERGED if "diverged" in seen else FAILED


def outcome_of_all(statuses: Iterable[str]) -> str:
    """`SUCCEEDED` only when every run finished (a cross-validation needs all its folds), else
    the outcome of the runs that did not."""
    unfinished = [s for s in statuses if s not in FINISHED]
    return outcome(unfinished) if unfinished else SUCCEEDED
