"""A run trained into its run directory: its plan executed with the directory's sinks (its
files, its checkpoints and its pictures). What `bprop train`, the Python API and the campaigns
call."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from ..config import ExperimentConfig
from ..core.training import EpochEnded, Event
from .train.plan import Plan
from .train.run import RunFinished, RunStarted, execute
from .train.sinks import Checkpoints, RunFiles, Sink


def run_directory(
    plan: Plan,
    run_dir: Path,
    plot: bool = True,
    offline: Collection[str] = (),
    varied: Collection[str] = (),
) -> list[Sink]:
    """The sinks of a run directory: its files, its checkpoints, (with ``plot``) its pictures,
    and the loggers its config asks for (but those in ``offline``); ``varied``: the config keys
    whose values differ among the runs of its campaign."""
    from .reports.pictures import Pictures  # matplotlib, only for a run that draws

    sinks: list[Sink] = [RunFiles(run_dir), Checkpoints(run_dir, plan.cfg.output.checkpoint_every)]
    sinks += [Pictures(run_dir)] if plot else []
    return sinks + loggers(plan.cfg, run_dir, offline, varied)  # after the pictures they show


def loggers(
    cfg: ExperimentConfig,
    run_dir: Path,
    offline: Collection[str] = (),
    varied: Collection[str] = (),
) -> list[Sink]:
    """The sinks of the loggers ``cfg`` asks for (``output.loggers``) but those in ``offline``,
    beside ``run_dir``, each `Guarded` so that its failures never cost the run."""
    from .loggers.guarded import Guarded

    named = [name for name in cfg.output.loggers if name not in offline]
    return [Guarded(name, _logger(name, cfg, run_dir, varied)) for name in named]


def _logger(name: str, cfg: ExperimentConfig, run_dir: Path, varied: Collection[str]) -> Sink:
    if name == "tensorboard":
        from .loggers.tensorboard import TensorBoard

        return TensorBoard(run_dir, cfg.output.tensorboard.every, varied)
    if name == "mlflow":
        from .loggers.tracking import Mlflow

        section = cfg.output.mlflow
        return Mlflow(run_dir, section.uri, section.experiment, section.step_every)
    raise ValueError(f"no logger is called {name!r}")


def train_into(
    plan: Plan,
    run_dir: Path | None,
    plot: bool = True,
    stop: Callable[[], bool] | None = None,
    offline: Collection[str] = (),
    varied: Collection[str] = (),
    judge: Callable[[EpochEnded], str | None] | None = None,
) -> Iterator[Event | RunStarted | RunFinished]:
    """`execute` into the run directory ``run_dir`` (None: nothing is written), without the
    loggers named in ``offline`` (`run_directory`); ``judge`` may prune it after an epoch."""
    sinks = run_directory(plan, run_dir, plot, offline, varied) if run_dir is not None else []
    return execute(plan, sinks, stop, judge)
