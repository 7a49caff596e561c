"""A training run on disk: the run directory, checkpoints, history and metrics.

`execute` wraps the training loop's events, writing files as they come, and yields the events on
(plus `RunStarted` and `RunFinished`) for the CLI to render.

Run directory:
    config.yaml, steps.csv, history.csv, history.json, metrics.json, loss.png,
    checkpoints/initial.npz, checkpoints/epoch-NNNN.npz, checkpoints/best.npz, checkpoints/last.npz
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ExperimentConfig
from ..core.history import columns
from ..core.losses import is_classification
from ..core.network import Network
from ..core.task import Task
from ..core.training import (
    EpochEnded,
    Event,
    StepDone,
    Stopped,
    TrainData,
    TrainingState,
    evaluate,
    train,
)
from ..core.types import Array
from ..data import Splits, cache, table_source
from ..errors import BpropError, ConfigError
from ..system.atomic import write_text
from ..system.json_values import finite
from .build import (
    build_network,
    build_splits,
    build_train_data,
    build_training_state,
    generators,
)
from .checkpoints import Checkpoint, DataRecord, restore
from .inference import scores
from .layout import BEST, INITIAL, RunLayout, epoch_checkpoint
from .resumption import check_same_config, check_same_data, data_signature
from .run_files import InMemory, RunFiles
from .rundirs import run_of_checkpoint

#: Steps, history, last.npz and best.npz are written at most this often (and always at
#: checkpoint epochs and at the end), so runs of many tiny epochs are not bound by fsync...
FLUSH_SECONDS = 1.0
#: ...nor by rewriting a long steps.csv: between writes at least this many times the last one's
#: duration passes, so writing takes at most about 1/FLUSH_SHARE of the run.
FLUSH_SHARE = 20


@dataclass
class RunStarted:
    run_dir: Path | None  # None: a run that writes nothing
    n_train: int
    n_val: int
    n_test: int
    n_params: int
    resumed_from: int  # epochs already done (0 for a fresh run)
    epochs: int


@dataclass
class RunFinished:
    run_dir: Path | None
    metrics: dict[str, Any]
    status: str  # "completed" | "early_stopping" | "diverged" | "interrupted"
    files: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list, repr=False)


@dataclass
class Prepared:
    """Everything a run needs, built and checked before any file is written."""

    cfg: ExperimentConfig
    splits: Splits
    net: Network
    data: TrainData
    training: TrainingState
    task: Task
    resume: Checkpoint | None = None
    signature: DataRecord = field(default_factory=DataRecord)  # identifies the data
    seconds: float = 0.0  # spent loading data and building

    @property
    def history_columns(self) -> list[str]:
        """The columns this run's history rows will have."""
        cols = columns(self.data.classification)
        if self.data.X_val is None:
            cols = [c for c in cols if not c.startswith("val_")]
        diagnostics = self.training.diagnostics
        return cols + (diagnostics.columns() if diagnostics is not None else [])

    @property
    def source_dir(self) -> Path | None:
        """The run directory that wrote the checkpoint being resumed (None for a checkpoint kept
        outside a run)."""
        return None if self.resume is None else run_of_checkpoint(self.resume.path)


def prepare(cfg: ExperimentConfig, resume: Path | None = None, memory: Any = None) -> Prepared:
    """Load the data (from ``memory``, a table or ``(X, y)`` held in memory, when given), build
    the network and training, and restore a checkpoint to resume from.

    Raises ConfigError, DataError or CheckpointError before anything touches the disk.
    """
    started = time.perf_counter()
    checkpoint = None
    if resume is not None:
        checkpoint = Checkpoint.read(resume)
        check_same_config(checkpoint, cfg)
    streams = generators(cfg.seed)
    splits = build_splits(cfg, streams.data, memory)
    signature = data_signature(splits)
    batching = cfg.training.batching
    rows = len(splits.X_train) if batching.type == "full" else getattr(batching, "size", 1)
    net = build_network(
        cfg, splits.n_features, streams.weights, noise_rng=streams.noise, batch_rows=rows
    )
    data = build_train_data(cfg, net, splits)
    task = task_of_run(cfg, net, splits)
    training = build_training_state(
        cfg, net, streams.shuffle, data.X_val is not None, len(data.X_train)
    )
    if checkpoint is not None:
        check_same_data(checkpoint, signature)
        restore(checkpoint, training)
        if training.epoch > cfg.training.epochs:
            raise ConfigError(
                f"training.epochs: the checkpoint is at epoch {training.epoch}, past the "
                f"{cfg.training.epochs} epochs configured; raise training.epochs to continue"
            )
        training.best_params = _best_params(checkpoint, training)
    elif cfg.model.init_from:
        init = Checkpoint.read(Path(cfg.model.init_from))
        net.load_state_dict(init.params, source=cfg.model.init_from)
    prepared = Prepared(cfg, splits, net, data, training, task, checkpoint, signature)
    prepared.seconds = time.perf_counter() - started
    return prepared


def task_of_run(cfg: ExperimentConfig, net: Network, splits: Splits) -> Task:
    """What the run's outputs mean: the loss decides whether they are classes, the data names
    them."""
    names = (
        splits.classes if splits.classes and len(splits.classes) == max(net.output_dim, 2) else None
    )
    return Task.of(is_classification(cfg.loss), net.output_dim, names)


def warm_data_cache(configs: Iterable[ExperimentConfig]) -> None:
    """Prepare each distinct table among ``configs`` once, in this process, so that the worker
    processes that train them read it from the cache instead of each parsing the file (and
    share one memory-mapped copy). Errors are left for each run to report."""
    seen = set()
    for cfg in configs:
        if table_source(cfg.data) is None or not cache.enabled():
            continue
        key = json.dumps([cfg.data.model_dump(mode="json"), cfg.seed, cfg.dtype, cfg.loss])
        if key not in seen:
            seen.add(key)
            with contextlib.suppress(BpropError):
                build_splits(cfg, generators(cfg.seed).data)


def _best_params(checkpoint: Checkpoint, training: TrainingState) -> Array | None:
    """The weights of the best epoch so far (``training.monitor.best_epoch``, restored from the
    checkpoint), from whichever file of its run holds exactly that epoch's weights (its
    ``params_epoch``): the checkpoint itself, best.npz, or that epoch's periodic checkpoint.
    None when none does (or nothing improved yet)."""
    wanted = training.monitor.best_epoch
    if wanted < 1:
        return None
    if checkpoint.weights_epoch == wanted:
        return training.net.pack(checkpoint.params, source=str(checkpoint.path))
    run = run_of_checkpoint(checkpoint.path)
    if run is None:
        return None
    layout = RunLayout(run)
    for path in (layout.best, layout.at_epoch(wanted)):
        if not path.is_file():
            continue
        candidate = Checkpoint.read(path)
        if candidate.weights_epoch == wanted:
            return training.net.pack(candidate.params, source=str(path))
    return None


def execute(
    prepared: Prepared,
    run_dir: Path | None,
    plot: bool = True,
    stop: Callable[[], bool] | None = None,
) -> Iterator[Event | RunStarted | RunFinished]:
    """Train into ``run_dir``, writing files as events arrive, and yield the events on (with
    ``run_dir`` None nothing is written: the history and metrics come with the events).

    ``stop`` (asked after every step) ends the run early as "interrupted". Whatever ends a run,
    ``last.npz`` holds the state at the end of the last completed epoch, so ``--resume`` from it
    redoes an unfinished epoch exactly as an uninterrupted run would have done it; that holds
    too when the caller stops iterating (closes the generator or drops it).
    """
    started = time.perf_counter() - prepared.seconds
    cfg, splits, net, training = prepared.cfg, prepared.splits, prepared.net, prepared.training
    files = RunFiles(prepared, run_dir) if run_dir is not None else InMemory(prepared)
    if prepared.resume is None:
        files.write_checkpoint(INITIAL, files.epoch_end)
    n_val = 0 if splits.X_val is None else len(splits.X_val)
    n_test = 0 if splits.X_test is None else len(splits.X_test)
    yield RunStarted(
        run_dir, len(splits.X_train), n_val, n_test, net.n_params, training.epoch, training.epochs
    )

    stopped = Stopped("completed", training.epoch)
    last_flush, flush_cost = time.monotonic(), 0.0
    best_pending = False
    for event in train(training, prepared.data, stop):
        if isinstance(event, StepDone):
            files.steps.add(event.update, event.epoch, event.loss, event.lr, event.grad_norm)
        elif isinstance(event, EpochEnded):
            files.end_epoch(event.row)
            best_pending = best_pending or event.improved
            every = cfg.output.checkpoint_every
            periodic = bool(every) and event.epoch % every == 0
            if periodic:
                files.write_checkpoint(epoch_checkpoint(event.epoch), files.epoch_end)
            waited = time.monotonic() - last_flush
            if periodic or waited >= max(FLUSH_SECONDS, FLUSH_SHARE * flush_cost):
                flush_started = time.monotonic()
                if best_pending:
                    files.write_checkpoint(BEST, files.capture(training.best_params))
                    best_pending = False
                files.flush()
                last_flush = time.monotonic()
                flush_cost = last_flush - flush_started
        elif isinstance(event, Stopped):
            stopped = event
        try:
            yield event
        except GeneratorExit:  # the caller left mid-run (closed or dropped the events)
            files.flush()
            raise

    if best_pending:
        files.write_checkpoint(BEST, files.capture(training.best_params))
    monitor = training.monitor
    finished = stopped.reason in ("completed", "early_stopping")
    if finished and monitor.restore_best and training.best_params is not None:
        # the run ends with the restored best weights, however it finished
        last = files.epoch_end
        final = files.capture(params_epoch=monitor.best_epoch)
        files.epoch_end = final.resumable_from(last)
    # After divergence or an interruption the live weights are mid-epoch (or non-finite), and
    # last.npz keeps the last completed epoch.
    files.flush()
    history = files.history
    ended = files.epoch_end
    metrics = _metrics(
        prepared, history, stopped, started, ended.step or 0, ended.weights_epoch or 0
    )
    if run_dir is None:
        yield RunFinished(run_dir, metrics, stopped.reason, [], history)
        return
    layout = RunLayout(run_dir)
    write_text(layout.metrics, json.dumps(metrics, indent=2))
    if plot and history:
        from .plotting import plot_history

        plot_history(history, layout.loss_plot, title=cfg.name)
        if stopped.reason in ("completed", "early_stopping"):  # the final weights' boundary
            from .pictures import at_the_end

            at_the_end(prepared, run_dir)
    written = sorted(
        str(p.relative_to(run_dir))
        for p in run_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    yield RunFinished(run_dir, metrics, stopped.reason, written, history)


def _metrics(
    prepared: Prepared,
    history: list[dict[str, float]],
    stopped: Stopped,
    started: float,
    steps: int,
    weights_epoch: int,
) -> dict[str, Any]:
    training, splits, net = prepared.training, prepared.splits, prepared.net
    metrics: dict[str, Any] = {
        "stop_reason": stopped.reason,
        "stop_detail": stopped.detail,
        "stop_epoch": stopped.epoch,
        "epochs_run": training.epoch,
        "steps": steps,  # as of the last completed epoch (what last.npz holds)
        # the epoch whose end the final model's weights (last.npz's) are from
        "weights_epoch": weights_epoch,
        "total_seconds": time.perf_counter() - started,
        "train_seconds": sum(r["train_seconds"] for r in history),
        "final": history[-1] if history else {},
        "kernels": training.kernels,
        "samples": {
            "train": len(splits.X_train),
            "validation": 0 if splits.X_val is None else len(splits.X_val),
            "test": 0 if splits.X_test is None else len(splits.X_test),
        },
    }
    monitor = training.monitor
    best = next((r for r in history if r["epoch"] == monitor.best_epoch), None)
    if best is not None:
        metrics["best"] = {"monitor": monitor.monitor, **best}
    finished = stopped.reason in ("completed", "early_stopping")
    if splits.X_test is not None and splits.y_test is not None and finished:
        labels = splits.y_test.astype(np.int64) if prepared.data.classification else None
        loss, _ = evaluate(net, splits.X_test, net.prepare_targets(splits.y_test), labels)
        # the figures as `bprop evaluate` computes them: a regression's in the target's units
        outputs, truth, scale = net.predict(splits.X_test), splits.y_test, splits.target_scale
        if scale is not None:
            outputs, truth = scale.unscale(outputs), scale.original(truth)
        metrics["test"] = {"loss": loss} | scores(prepared.task, outputs, truth)
    return finite(metrics)  # JSON has no NaN/Inf: they are written as null
