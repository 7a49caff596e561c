"""A run planned before anything touches the disk: its data loaded and split, its network,
loss, optimizer and schedule built, a checkpoint to resume from checked and restored.

`prepare` raises ConfigError, DataError or CheckpointError naming what is wrong; what it
returns (`Plan`) is everything `execute` needs.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import ExperimentConfig
from ...core.history import columns
from ...core.losses import is_classification
from ...core.network import Network
from ...core.split import Split
from ...core.task import Task, class_count
from ...core.training import TrainingState
from ...core.types import Array
from ...data import Dataset, table_source
from ...data.table import cache
from ...errors import BpropError, ConfigError
from ..artifacts.checkpoints import Checkpoint, DataRecord, restore
from ..artifacts.layout import RunLayout
from ..artifacts.rundirs import run_of_checkpoint
from ..trained.seeding import generators
from .build import (
    build_batching,
    build_network,
    build_splits,
    build_train_data,
    build_training_state,
)
from .needs import check_installed
from .resumption import check_same_config, check_same_data, data_signature


@dataclass
class Plan:
    """Everything a run needs, built and checked before any file is written."""

    cfg: ExperimentConfig
    #: The data as loaded, split and standardized.
    dataset: Dataset
    net: Network
    #: The training and validation splits as the training loop reads them (`Split.for_loss`).
    train: Split
    val: Split | None
    training: TrainingState
    task: Task
    resume: Checkpoint | None = None
    signature: DataRecord = field(default_factory=DataRecord)  # identifies the data
    seconds: float = 0.0  # spent loading data and building

    @property
    def history_columns(self) -> list[str]:
        """The columns this run's history rows will have."""
        cols = columns(self.train.labels is not None)
        if self.val is None:
            cols = [c for c in cols if not c.startswith("val_")]
        diagnostics = self.training.diagnostics
        return cols + (diagnostics.columns() if diagnostics is not None else [])

    @property
    def source_dir(self) -> Path | None:
        """The run directory that wrote the checkpoint being resumed (None for a checkpoint kept
        outside a run)."""
        return None if self.resume is None else run_of_checkpoint(self.resume.path)


def prepare(cfg: ExperimentConfig, resume: Path | None = None, memory: Any = None) -> Plan:
    """Load the data (from ``memory``, a table or ``(X, y)`` held in memory, when given), build
    the network and training, and restore a checkpoint to resume from.

    Raises ConfigError, DataError or CheckpointError before anything touches the disk.
    """
    started = time.perf_counter()
    check_installed(cfg)
    checkpoint = None
    if resume is not None:
        checkpoint = Checkpoint.read(resume)
        check_same_config(checkpoint, cfg)
    streams = generators(cfg.seed)
    dataset = build_splits(cfg, streams.data, memory)
    signature = data_signature(dataset)
    n_train = len(dataset.train)
    batching = build_batching(cfg, n_train)
    net = build_network(
        cfg,
        dataset.n_features,
        streams.weights,
        noise_rng=streams.noise,
        batch_rows=batching.batch_size(n_train),
    )
    train, val = build_train_data(cfg, net, dataset)
    task = task_of_run(cfg, net, dataset)
    took = checkpoint.kernels if checkpoint is not None else None
    training = build_training_state(
        cfg, net, batching, streams.shuffle, val is not None, n_train, took
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
    plan = Plan(cfg, dataset, net, train, val, training, task, checkpoint, signature)
    plan.seconds = time.perf_counter() - started
    return plan


def task_of_run(cfg: ExperimentConfig, net: Network, data: Dataset) -> Task:
    """What the run's outputs mean: the loss decides whether they are classes, the data names
    them."""
    classes = data.classes
    names = classes if classes and len(classes) == class_count(net.output_dim) else None
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
