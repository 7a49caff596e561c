"""Running a sweep's trials: each an ordinary training run in its own directory, here, in local
processes or on a Dask cluster; stopped together on request; resumed where they stopped.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..config import read_yaml
from ..errors import BpropError
from ..system.locking import check_free, hold
from .execution import StopRequest, run_all
from .layout import CONFIG, METRICS
from .outcomes import STATUS
from .resumption import differences
from .rundirs import holds_only_run_files, is_empty, read_history
from .sweep import Trial
from .sweep_results import TrialResult, score_of


def summarize(trial: Trial, run_dir: Path, metric: str, mode: str) -> TrialResult:
    """A trial's row from its run directory (it wrote metrics.json)."""
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    history = read_history(run_dir)
    final = history[-1] if history else {}
    val = [r["val_loss"] for r in history if r.get("val_loss") is not None]
    return TrialResult(
        trial.id, trial.name, trial.params,
        STATUS.get(metrics["stop_reason"], metrics["stop_reason"]),
        score_of(history, metric, mode),
        final.get("train_loss"), final.get("val_loss"), min(val) if val else None,
        metrics["epochs_run"], metrics["total_seconds"], metrics.get("stop_detail", ""),
    )  # fmt: skip


def run_trial(
    trial: Trial, run_dir: Path, metric: str, mode: str, stop: StopRequest | None = None
) -> TrialResult:
    """Train one trial into ``run_dir`` (a worker's whole job); never raises: a failure is the
    trial's status and detail. Once ``stop`` is requested the trial stops after its current step
    ("interrupted"), or does not start ("cancelled")."""
    from .plan import prepare
    from .run import train_into

    if stop is not None and stop():
        return TrialResult(trial.id, trial.name, trial.params, "cancelled", detail="not started")
    try:
        assert trial.config is not None
        run_dir.mkdir(parents=True, exist_ok=True)
        with hold(run_dir):  # a run directory like any other: one writer at a time
            for _ in train_into(prepare(trial.config), run_dir, plot=False, stop=stop):
                pass
            return summarize(trial, run_dir, metric, mode)
    except BpropError as exc:
        return TrialResult(trial.id, trial.name, trial.params, "error", detail=str(exc))
    except Exception as exc:
        where = traceback.format_exception_only(exc)[-1].strip()
        return TrialResult(trial.id, trial.name, trial.params, "error", detail=where)


def run_trials(
    todo: list[Trial],
    out_dir: Path,
    metric: str,
    mode: str,
    stop: StopRequest,
    jobs: int = 1,
    dask: str | None = None,
) -> Iterator[TrialResult]:
    """Each trial's result as it finishes. After ``stop.request()`` the running trials stop after
    their current step and the queued ones return "cancelled" at once, so this ends soon."""
    tasks = [(t, out_dir / t.name, metric, mode, stop) for t in todo]
    if dask is not None or (jobs > 1 and len(todo) > 1):
        from .plan import warm_data_cache

        configs = [t.config for t in todo if t.config is not None]
        warm_data_cache(configs)  # the workers share one parse of a table
    for _, result in run_all(run_trial, tasks, n_jobs=jobs, dask=dask):
        yield result


def is_finished(run_dir: Path) -> bool:
    """True when ``run_dir`` holds a run that ended by itself (completed, early-stopped or
    diverged), not one that was interrupted."""
    try:
        metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and metrics.get("stop_reason") != "interrupted"


@dataclass
class ResumePlan:
    """What `sweep --resume` does with each trial."""

    finished: list[Trial] = field(default_factory=list)  # kept as they are
    todo: list[Trial] = field(default_factory=list)  # new, unfinished or changed: run
    changed: dict[str, list[str]] = field(default_factory=dict)  # trial name → keys that differ
    moved: dict[str, Path] = field(default_factory=dict)  # trial name → where its old run went
    dropped: list[str] = field(default_factory=list)  # earlier trials not in the space any more


def plan_resume(trials: list[Trial], out_dir: Path) -> ResumePlan:
    """Compare the trials with the runs ``out_dir`` holds. A trial whose run has the same config
    and ended is kept; one whose config changed (the base config or the space) is rerun, its old
    run moved to ``superseded/`` so the two never mix; the rest run, in their folder when it holds
    nothing or a bprop run (its config.yaml) with nothing but a run's files, else after that
    folder is moved to ``superseded/`` too (nothing of anyone's is written over). A folder
    another process holds (a `bprop train --resume` there) raises `DirectoryInUseError`."""
    plan = ResumePlan()
    names = {t.name.split("/")[0] for t in trials}  # a cross-validated trial's folds: TRIAL/fold-k
    for trial in trials:
        assert trial.config is not None
        run_dir = out_dir / trial.name
        saved = _saved_config(run_dir)
        if saved is None:  # no run of bprop's: anything there is moved aside, never written over
            if run_dir.exists() and not is_empty(run_dir):
                plan.moved[trial.name] = _supersede(run_dir, out_dir)
            plan.todo.append(trial)
            continue
        changed = differences(saved, trial.config.resolved())
        if changed:
            plan.changed[trial.name] = changed
            plan.moved[trial.name] = _supersede(run_dir, out_dir)
            plan.todo.append(trial)
        elif is_finished(run_dir):
            plan.finished.append(trial)
        else:  # rerun in its folder, unless other files lie among the run's
            if not holds_only_run_files(run_dir):
                plan.moved[trial.name] = _supersede(run_dir, out_dir)
            plan.todo.append(trial)
    plan.dropped = sorted(
        p.name for p in out_dir.glob("t[0-9][0-9][0-9]*") if p.is_dir() and p.name not in names
    )
    return plan


def _saved_config(run_dir: Path) -> dict[str, object] | None:
    path = run_dir / CONFIG
    if not path.is_file():
        return None
    try:
        saved = read_yaml(path)
    except BpropError:
        return None
    return saved if isinstance(saved, dict) else None


def _supersede(run_dir: Path, out_dir: Path) -> Path:
    """Move a trial's old run to ``out_dir/superseded/`` under the same relative path (a
    cross-validated trial's fold keeps its trial folder), with a new name where that is taken."""
    check_free(run_dir)
    base = out_dir / "superseded" / run_dir.relative_to(out_dir)
    base.parent.mkdir(parents=True, exist_ok=True)
    target, k = base, 1
    while target.exists():
        k += 1
        target = base.with_name(f"{base.name}-{k}")
    run_dir.rename(target)
    return target
