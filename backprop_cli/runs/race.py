"""Optimizer races: the same experiment trained once per optimizer (`comparison` ranks them).

Fairness comes from construction: every contestant is the base config with only its optimizer
replaced, so the data split, the initial weights and the shuffling all come from the same seed.
Contestants run one after another in this process, or in parallel processes through joblib (the
results are identical either way). The race is a generator of events, like the training loop.
"""

from __future__ import annotations

import difflib
import math
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, with_optimizer
from ..core.optim import DEFAULT_RACE, OPTIMIZERS
from ..core.training import EpochEnded, Event
from ..errors import BpropError, ConfigError, argument
from ..system.locking import hold
from .execution import run_all
from .outcomes import STATUS
from .plan import prepare, warm_data_cache
from .run import RunFinished, RunStarted, train_into


@dataclass(frozen=True)
class Contestant:
    """One optimizer in the race: its run name and the base config with that optimizer."""

    name: str
    config: ExperimentConfig

    @property
    def type(self) -> str:
        return self.config.optimizer.type

    @property
    def hyperparameters(self) -> dict[str, float]:
        return {k: v for k, v in self.config.optimizer.model_dump().items() if k != "type"}

    @property
    def label(self) -> str:
        """The name and every resolved hyperparameter, for legends and tables."""
        hp = ", ".join(f"{k}={v:g}" for k, v in self.hyperparameters.items())
        return f"{self.name} ({hp})"


@dataclass
class Result:
    """One row of the comparison (``comparison.csv`` and ``comparison.json``)."""

    optimizer: str
    type: str
    hyperparameters: dict[str, float]
    status: str  # ok | early-stopped | diverged | interrupted | cancelled | error
    stop_epoch: int | None = None  # epoch of divergence or early stop
    epochs_run: int = 0
    final_train_loss: float | None = None
    best_train_loss: float | None = None
    best_val_loss: float | None = None
    final_val_accuracy: float | None = None
    test_accuracy: float | None = None
    target_epoch: int | None = None  # first epoch with train_loss ≤ target_loss
    train_seconds: float = 0.0  # in training steps
    total_seconds: float = 0.0  # the whole run: data, steps, evaluation, files
    run_dir: str = ""  # relative to the comparison directory
    detail: str = ""
    history: list[dict[str, float]] = field(default_factory=list, repr=False)

    def row(self) -> dict[str, Any]:
        """The result without its history, as plain data."""
        data = asdict(self)
        del data["history"]
        return data


@dataclass
class ContestantStarted:
    index: int  # 1-based
    total: int
    contestant: Contestant


@dataclass
class ContestantDone:
    index: int
    total: int
    result: Result


RaceEvent = ContestantStarted | ContestantDone | RunStarted | RunFinished | Event


def contestants(
    cfg: ExperimentConfig, names: Sequence[str] | None, source: str
) -> list[Contestant]:
    """The contestants: ``names`` (each with its defaults and the base config's lr), else the
    config's ``compare.optimizers``, else `DEFAULT_RACE` at the base lr."""
    if names:
        for name in names:
            if name not in OPTIMIZERS:
                close = difflib.get_close_matches(name, list(OPTIMIZERS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{argument('optimizers')}: unknown optimizer {name!r}{hint} "
                    f"(choose from: {', '.join(OPTIMIZERS)})"
                )
        specs = [{"type": name, "lr": cfg.optimizer.lr} for name in names]
    elif cfg.compare is not None and cfg.compare.optimizers:
        specs = [opt.model_dump() for opt in cfg.compare.optimizers]
    else:
        specs = [{"type": name, "lr": cfg.optimizer.lr} for name in DEFAULT_RACE]
    out: list[Contestant] = []
    for spec in specs:
        config = with_optimizer(cfg, spec, source)
        kind = config.optimizer.type
        count = sum(c.type == kind for c in out)
        out.append(Contestant(kind if count == 0 else f"{kind}-{count + 1}", config))
    return out


def run_contestant(
    contestant: Contestant,
    run_dir: Path,
    target_loss: float | None,
    stop: Callable[[], bool] | None = None,
) -> Result:
    """Train one contestant into ``run_dir`` and summarize it (a joblib worker's whole job); never
    raises. Once ``stop`` says so it stops after its current step, or does not start."""
    if stop is not None and stop():
        return cancelled(contestant, run_dir)
    result: Result | None = None
    for event in _contestant_events(contestant, run_dir, target_loss, 1, 1, stop):
        if isinstance(event, ContestantDone):
            result = event.result
    assert result is not None
    return result


def cancelled(contestant: Contestant, run_dir: Path) -> Result:
    return Result(
        contestant.name, contestant.type, contestant.hyperparameters, "cancelled",
        run_dir=run_dir.name, detail="not started: the comparison was stopped",
    )  # fmt: skip


def _contestant_events(
    contestant: Contestant,
    run_dir: Path,
    target_loss: float | None,
    index: int,
    total: int,
    stop: Callable[[], bool] | None = None,
) -> Iterator[RaceEvent]:
    yield ContestantStarted(index, total, contestant)
    history: list[dict[str, float]] = []
    finished: RunFinished | None = None
    try:
        with hold(run_dir):  # a run directory like any other: one writer at a time
            for event in train_into(prepare(contestant.config), run_dir, stop=stop):
                if isinstance(event, EpochEnded):
                    history.append(event.row)
                elif isinstance(event, RunFinished):
                    finished = event
                yield event
    except Exception as exc:  # any failure is this contestant's result; the others go on
        detail = (
            str(exc)
            if isinstance(exc, BpropError)
            else (traceback.format_exception_only(exc)[-1].strip())
        )
        result = Result(
            contestant.name, contestant.type, contestant.hyperparameters, "error",
            run_dir=run_dir.name, detail=detail, history=history,
        )  # fmt: skip
    else:
        assert finished is not None
        result = summarize(contestant, run_dir, finished.metrics, history, target_loss)
    yield ContestantDone(index, total, result)


def summarize(
    contestant: Contestant,
    run_dir: Path,
    metrics: dict[str, Any],
    history: list[dict[str, float]],
    target_loss: float | None,
) -> Result:
    """A contestant's row, from its run's metrics and history."""

    def best(key: str) -> float | None:
        values = [v for r in history if (v := r.get(key)) is not None and math.isfinite(v)]
        return min(values) if values else None

    final = history[-1] if history else {}
    reached = [
        int(r["epoch"])
        for r in history
        if target_loss is not None and r["train_loss"] <= target_loss
    ]
    status = STATUS.get(metrics["stop_reason"], metrics["stop_reason"])
    return Result(
        optimizer=contestant.name,
        type=contestant.type,
        hyperparameters=contestant.hyperparameters,
        status=status,
        stop_epoch=metrics["stop_epoch"] if status != "ok" else None,
        epochs_run=metrics["epochs_run"],
        final_train_loss=final.get("train_loss"),
        best_train_loss=best("train_loss"),
        best_val_loss=best("val_loss"),
        final_val_accuracy=final.get("val_accuracy"),
        test_accuracy=(metrics.get("test") or {}).get("accuracy"),
        target_epoch=reached[0] if reached else None,
        train_seconds=metrics["train_seconds"],
        total_seconds=metrics["total_seconds"],
        run_dir=run_dir.name,
        detail=metrics.get("stop_detail", ""),
        history=history,
    )


def race(
    lineup: list[Contestant],
    out_dir: Path,
    target_loss: float | None,
    jobs: int = 1,
    stop: Callable[[], bool] | None = None,
    dask: str | None = None,
) -> Iterator[RaceEvent]:
    """Run every contestant into ``out_dir/<name>``. Serially, every training event is passed on,
    and ``stop`` (asked after every step) ends the race after saving the current run; with
    ``jobs`` > 1 the contestants run in joblib worker processes and only their start and end are
    reported (ends in completion order); ``dask`` sends them to a Dask scheduler instead."""
    total = len(lineup)
    if dask is None and (jobs <= 1 or total == 1):
        for index, contestant in enumerate(lineup, start=1):
            run_dir = out_dir / contestant.name
            if stop is not None and stop():
                yield ContestantDone(index, total, cancelled(contestant, run_dir))
                continue
            run_dir.mkdir()
            yield from _contestant_events(contestant, run_dir, target_loss, index, total, stop)
        return

    warm_data_cache(c.config for c in lineup)  # the workers share one parse of a table
    for index, contestant in enumerate(lineup, start=1):
        (out_dir / contestant.name).mkdir()
        yield ContestantStarted(index, total, contestant)
    tasks = [(c, out_dir / c.name, target_loss, stop) for c in lineup]
    for index, result in run_all(run_contestant, tasks, n_jobs=jobs, dask=dask):
        yield ContestantDone(index + 1, total, result)
