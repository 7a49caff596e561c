"""Optimizer races: the same experiment trained once per optimizer, and their comparison.

Fairness comes from construction: every contestant is the base config with only its optimizer
replaced, so the data split, the initial weights and the shuffling all come from the same seed.
Contestants run one after another in this process, or in parallel processes through joblib (the
results are identical either way). The race is a generator of events, like the training loop.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import ExperimentConfig, with_optimizer
from .errors import BpropError, ConfigError
from .execution import run_all
from .optim import OPTIMIZERS
from .run import RunFinished, RunStarted, execute, prepare
from .training import EpochEnded, Event

DEFAULT_OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
#: A run's stop reason, as the comparison names it.
STATUS = {
    "completed": "ok",
    "early_stopping": "early-stopped",
    "diverged": "diverged",
    "interrupted": "interrupted",
}
FINISHED = ("ok", "early-stopped")


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
    status: str  # ok | early-stopped | diverged | error
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
    config's ``compare.optimizers``, else sgd, momentum, rmsprop and adam at the base lr."""
    if names:
        for name in names:
            if name not in OPTIMIZERS:
                close = difflib.get_close_matches(name, list(OPTIMIZERS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"--optimizers: unknown optimizer {name!r}{hint} "
                    f"(choose from: {', '.join(OPTIMIZERS)})"
                )
        specs = [{"type": name, "lr": cfg.optimizer.lr} for name in names]
    elif cfg.compare is not None and cfg.compare.optimizers:
        specs = [opt.model_dump() for opt in cfg.compare.optimizers]
    else:
        specs = [{"type": name, "lr": cfg.optimizer.lr} for name in DEFAULT_OPTIMIZERS]
    out: list[Contestant] = []
    for spec in specs:
        config = with_optimizer(cfg, spec, source)
        kind = config.optimizer.type
        count = sum(c.type == kind for c in out)
        out.append(Contestant(kind if count == 0 else f"{kind}-{count + 1}", config))
    return out


def run_contestant(contestant: Contestant, run_dir: Path, target_loss: float | None) -> Result:
    """Train one contestant into ``run_dir`` and summarize it (a joblib worker's whole job)."""
    result: Result | None = None
    for event in _contestant_events(contestant, run_dir, target_loss, 1, 1):
        if isinstance(event, ContestantDone):
            result = event.result
    assert result is not None
    return result


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
        for event in execute(prepare(contestant.config), run_dir, stop=stop):
            if isinstance(event, EpochEnded):
                history.append(event.row)
            elif isinstance(event, RunFinished):
                finished = event
            yield event
    except BpropError as exc:
        result = Result(
            contestant.name, contestant.type, contestant.hyperparameters, "error",
            run_dir=run_dir.name, detail=str(exc), history=history,
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
            if stop is not None and stop():
                return
            run_dir = out_dir / contestant.name
            run_dir.mkdir()
            yield from _contestant_events(contestant, run_dir, target_loss, index, total, stop)
        return

    for index, contestant in enumerate(lineup, start=1):
        (out_dir / contestant.name).mkdir()
        yield ContestantStarted(index, total, contestant)
    tasks = [(c, out_dir / c.name, target_loss) for c in lineup]
    for index, result in run_all(run_contestant, tasks, n_jobs=jobs, dask=dask):
        yield ContestantDone(index + 1, total, result)


def ranked(results: list[Result]) -> tuple[list[Result], str]:
    """Results best first, and the metric that ranks them: best validation loss when every
    finished run has one, else best train loss. Runs that diverged or failed come last."""
    finished = [r for r in results if r.status in FINISHED]
    metric = (
        "best_val_loss"
        if finished and all(r.best_val_loss is not None for r in finished)
        else "best_train_loss"
    )

    def key(r: Result) -> tuple[int, float]:
        value = getattr(r, metric)
        return (r.status not in FINISHED, math.inf if value is None else value)

    return sorted(results, key=key), metric


def verdict(ranking: list[Result], metric: str, target_loss: float | None) -> str:
    """One sentence on results ranked by `ranked`: who won and by how much, who reached the
    target loss first, who diverged."""
    finished = [r for r in ranking if r.status in FINISHED and getattr(r, metric) is not None]
    failed = [r for r in ranking if r.status not in FINISHED]
    words = metric.replace("_", " ")
    if not finished:
        return (
            "no optimizer finished: every run diverged or failed; lower the learning rates "
            "or add training.clip"
        )
    winner = finished[0]
    best = getattr(winner, metric)
    text = f"{winner.optimizer} wins with {words} {best:.4g}"
    if len(finished) > 1:
        second = finished[1]
        other = getattr(second, metric)
        ratio = other / best if best > 0 else math.inf
        margin = f"{(ratio - 1) * 100:.1f}%" if ratio < 2 else f"{ratio:.3g}×"
        text += f", {margin} below {second.optimizer} ({other:.4g})"
    if target_loss is not None:
        reached = [r for r in finished if r.target_epoch is not None]
        if reached:
            first = min(reached, key=lambda r: r.target_epoch or 0)
            text += f"; first to train loss ≤ {target_loss:g}: {first.optimizer} (epoch "
            text += f"{first.target_epoch})"
        else:
            text += f"; none reached train loss ≤ {target_loss:g}"
    if failed:
        text += "; " + ", ".join(
            f"{r.optimizer} {r.status}" + (f" at epoch {r.stop_epoch}" if r.stop_epoch else "")
            for r in failed
        )
    return text + "."


#: Columns of comparison.csv, in order (hyperparameters as one ``k=v`` field).
CSV_COLUMNS = (
    "rank", "optimizer", "type", "hyperparameters", "status", "stop_epoch", "epochs_run",
    "final_train_loss", "best_train_loss", "best_val_loss", "final_val_accuracy", "test_accuracy",
    "target_epoch", "train_seconds", "total_seconds", "run_dir",
)  # fmt: skip


def comparison_files(
    ranking: list[Result], metric: str, target_loss: float | None, config_name: str
) -> tuple[str, str]:
    """The text of comparison.csv and comparison.json for results ranked by `ranked`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = []
    for rank, result in enumerate(ranking, start=1):
        row = {"rank": rank} | result.row()
        rows.append(_finite(row))
        flat = row | {
            "hyperparameters": " ".join(f"{k}={v:g}" for k, v in result.hyperparameters.items())
        }
        writer.writerow({k: "" if flat.get(k) is None else flat[k] for k in CSV_COLUMNS})
    document = {
        "config": config_name,
        "ranked_by": metric,
        "target_loss": target_loss,
        "winner": ranking[0].optimizer if ranking and ranking[0].status in FINISHED else None,
        "verdict": verdict(ranking, metric, target_loss),
        "results": rows,
    }
    return buf.getvalue(), json.dumps(document, indent=2)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or Inf: they become null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
