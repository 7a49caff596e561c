"""A training run on disk: the run directory, checkpoints, history and metrics.

`execute` wraps the training loop's events, writing files as they come, and yields the events on
(plus `RunStarted` and `RunFinished`) for the CLI to render.

Run directory:
    config.yaml, history.csv, history.json, metrics.json, loss.png,
    checkpoints/initial.npz, checkpoints/epoch-NNNN.npz, checkpoints/best.npz, checkpoints/last.npz
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoints
from .atomic import write_text
from .build import (
    build_network,
    build_splits,
    build_train_data,
    build_trainer,
    rngs,
    targets_for,
)
from .config import ExperimentConfig, to_yaml
from .data import Splits
from .errors import ConfigError
from .history import columns
from .network import Network
from .training import EpochEnded, Event, Stopped, TrainData, Trainer, evaluate, train

RUN_MARKERS = ("config.yaml", "history.csv", "checkpoints")

#: History, last.npz and best.npz are written at most this often (and always at checkpoint
#: epochs and at the end), so runs of many tiny epochs are not bound by fsync.
FLUSH_SECONDS = 1.0


@dataclass
class RunStarted:
    run_dir: Path
    n_train: int
    n_val: int
    n_test: int
    n_params: int
    resumed_from: int  # epochs already done (0 for a fresh run)
    epochs: int


@dataclass
class RunFinished:
    run_dir: Path
    metrics: dict[str, Any]
    status: str  # "completed" | "early_stopping" | "diverged"
    files: list[str] = field(default_factory=list)


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def new_run_dir(base: Path, name: str) -> Path:
    """``base/name``, or ``base/name-2``, ``-3``... : never an existing directory (mkdir is atomic,
    so two runs starting at once cannot get the same one)."""
    base.mkdir(parents=True, exist_ok=True)
    for k in range(1, 10_000):
        candidate = base / (name if k == 1 else f"{name}-{k}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise ConfigError(f"output.dir: {base} holds too many runs named {name!r}")


def claim_out_dir(out: Path, resume: bool) -> Path:
    """``--out`` exactly: refused when it already holds a run, unless resuming."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} exists and is not a directory")
    if is_run_dir(out) and not resume:
        raise ConfigError(
            f"--out: {out} already holds a run; choose another directory or pass --resume"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _history_text(rows: list[dict[str, float]], cols: list[str]) -> tuple[str, str]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    return buf.getvalue(), json.dumps(rows, indent=2)


def read_history(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "history.json"
    if not path.exists():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")))


@dataclass
class Prepared:
    """Everything a run needs, built and checked before any file is written."""

    cfg: ExperimentConfig
    splits: Splits
    net: Network
    data: TrainData
    trainer: Trainer
    resume: checkpoints.Checkpoint | None = None


def prepare(cfg: ExperimentConfig, resume: Path | None = None) -> Prepared:
    """Load the data, build the network and trainer, and restore a checkpoint to resume from.

    Raises ConfigError, DataError or CheckpointError before anything touches the disk.
    """
    data_rng, init_rng, shuffle_rng = rngs(cfg.seed)
    splits = build_splits(cfg, data_rng)
    net = build_network(cfg, splits.n_features, init_rng)
    data = build_train_data(cfg, net, splits)
    trainer = build_trainer(cfg, net, shuffle_rng)
    checkpoint = None
    if resume is not None:
        checkpoint = checkpoints.load(resume)
        checkpoints.restore(checkpoint, trainer)
        if trainer.epoch > cfg.training.epochs:
            raise ConfigError(
                f"training.epochs: the checkpoint is at epoch {trainer.epoch}, past the "
                f"{cfg.training.epochs} epochs configured; raise training.epochs to continue"
            )
    elif cfg.model.init_from:
        init = checkpoints.load(Path(cfg.model.init_from))
        net.load_state_dict(init.params(), source=cfg.model.init_from)
    return Prepared(cfg, splits, net, data, trainer, checkpoint)


def execute(
    prepared: Prepared, run_dir: Path, plot: bool = True
) -> Iterator[Event | RunStarted | RunFinished]:
    """Train into ``run_dir``, writing files as events arrive, and yield the events on."""
    started = time.perf_counter()
    cfg, splits, net, data, trainer = (
        prepared.cfg,
        prepared.splits,
        prepared.net,
        prepared.data,
        prepared.trainer,
    )
    resolved = cfg.resolved()
    ckpt_dir = run_dir / "checkpoints"
    history: list[dict[str, float]] = []
    if prepared.resume is not None:
        history = [r for r in read_history(run_dir) if r["epoch"] <= trainer.epoch]
        best = ckpt_dir / "best.npz"
        if best.exists():
            trainer.best_params = net.params.copy()
            current = net.params.copy()
            net.load_state_dict(checkpoints.load(best).params(), source=str(best))
            trainer.best_params[...] = net.params
            net.params[...] = current
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", to_yaml(resolved))

    def save(name: str) -> None:
        checkpoints.save(ckpt_dir / name, trainer, resolved, splits.mean, splits.std)

    if prepared.resume is None:
        save("initial.npz")
    cols = columns(data.classification)
    n_val = 0 if splits.X_val is None else len(splits.X_val)
    n_test = 0 if splits.X_test is None else len(splits.X_test)
    yield RunStarted(
        run_dir, len(splits.X_train), n_val, n_test, net.n_params, trainer.epoch, trainer.epochs
    )

    def save_best() -> None:
        assert trainer.best_params is not None
        current = net.params.copy()
        net.params[...] = trainer.best_params
        save("best.npz")
        net.params[...] = current

    def flush() -> None:
        csv_text, json_text = _history_text(history, cols)
        write_text(run_dir / "history.csv", csv_text)
        write_text(run_dir / "history.json", json_text)
        if np.all(np.isfinite(net.params)):  # never a non-finite last.npz
            save("last.npz")

    stopped = Stopped("completed", trainer.epoch)
    last_flush = time.monotonic()
    best_pending = False
    for event in train(trainer, data):
        if isinstance(event, EpochEnded):
            history.append(event.row)
            best_pending = best_pending or event.improved
            every = cfg.output.checkpoint_every
            periodic = bool(every) and event.epoch % every == 0
            if periodic:
                save(f"epoch-{event.epoch:04d}.npz")
            if periodic or time.monotonic() - last_flush >= FLUSH_SECONDS:
                if best_pending:
                    save_best()
                    best_pending = False
                flush()
                last_flush = time.monotonic()
        elif isinstance(event, Stopped):
            stopped = event
        yield event

    if best_pending and stopped.reason != "diverged":
        save_best()
    if history:
        flush()  # last.npz holds the restored best weights after early stopping, when configured
    metrics = _metrics(history, stopped, trainer, net, splits, data, started)
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    if plot and history:
        from .plotting import plot_history

        plot_history(history, run_dir / "loss.png", title=cfg.name)
    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    yield RunFinished(run_dir, metrics, stopped.reason, files)


def _metrics(
    history: list[dict[str, float]],
    stopped: Stopped,
    trainer: Any,
    net: Any,
    splits: Any,
    data: Any,
    started: float,
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "stop_reason": stopped.reason,
        "stop_detail": stopped.detail,
        "epochs_run": trainer.epoch,
        "steps": trainer.step,
        "total_seconds": time.perf_counter() - started,
        "train_seconds": sum(r["train_seconds"] for r in history),
        "final": history[-1] if history else {},
    }
    if history:
        best = min(history, key=lambda r: r.get(trainer.monitor.monitor, r["train_loss"]))
        metrics["best"] = {"monitor": trainer.monitor.monitor, **best}
    if splits.X_test is not None and stopped.reason != "diverged":
        y_test = targets_for(net, splits.y_test)
        labels = splits.y_test.astype("int64") if data.classification else None
        loss, acc = evaluate(net, splits.X_test, y_test, labels)
        metrics["test"] = {"loss": loss} | ({"accuracy": acc} if acc is not None else {})
    return _finite(metrics)


def _finite(value: Any) -> Any:
    """JSON has no NaN/Inf: write them as null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
