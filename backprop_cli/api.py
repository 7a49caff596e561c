"""bprop as a library, for notebooks and scripts: ``import backprop_cli as bp``.

    cfg = bp.load_config("configs/iris.yaml", overrides=["training.epochs=50"])
    result = bp.train(cfg)                    # nothing written; bp.train(cfg, out="runs/x") writes
    result.history[-1]["val_accuracy"], result.metrics["test"]
    result.model.predict(X)                   # class names (or values), preprocessing applied

    for event in bp.training_events(cfg):     # per-step and per-epoch events, as the CLI sees them
        ...

    model = bp.load("runs/iris")              # a run directory or any checkpoint
    model.predict_proba(X), model.evaluate(X, y)

These are the functions the command line itself runs (`bprop train` is `prepare` and `execute`,
`bprop evaluate` and `predict` are `load_model` and `evaluate_model`): there is no second code
path. Errors are `BpropError` subclasses (`ConfigError`, `DataError`, `CheckpointError`) with the
message the CLI would print.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .config import ExperimentConfig, validate
from .config import load_config as _load_file
from .config.loading import apply_overrides
from .core.training import Event
from .data.memory import source_of
from .errors import ConfigError
from .runs.train.plan import Plan, prepare
from .runs.train.run import RunFinished, RunStarted
from .runs.trained.evaluation import evaluate_model
from .runs.trained.model import Model, load_model, model_of_data
from .runs.trained.model_arrays import given_features, given_targets
from .runs.training import train_into

RunEvent = Event | RunStarted | RunFinished
Callback = Callable[[RunEvent], object]

__all__ = [
    "Callback", "RunEvent", "TrainResult", "TrainedModel", "load", "load_config", "train",
    "training_events",
]  # fmt: skip


def load_config(
    source: str | Path | Mapping[str, Any] | ExperimentConfig, overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """A validated config from a YAML file, a dict (as the YAML would parse) or a config, with
    ``overrides`` (``"key.path=value"``, as ``--set``) applied."""
    if isinstance(source, ExperimentConfig):
        source = source.resolved()
    if isinstance(source, Mapping):
        import copy

        raw = copy.deepcopy(dict(source))
        apply_overrides(raw, overrides, "config")
        return validate(raw, "config", overrides)
    return _load_file(source, list(overrides))


def training_events(
    config: ExperimentConfig | str | Path | Mapping[str, Any],
    out: str | Path | None = None,
    stop: Callable[[], bool] | None = None,
    data: Any = None,
) -> Generator[RunEvent, None, None]:
    """Train ``config``, yielding `RunStarted`, then ``EpochStarted``, ``StepDone`` (every
    update), ``EpochEnded`` (with the history row), ``Warned`` and ``Stopped`` from the training
    loop, then `RunFinished` (metrics and history). With ``out`` the run directory is written
    there (it must be new or empty); without, nothing is written. ``stop`` is asked after every
    step and ends the run early when it answers True. Leaving the loop early (``break``, then
    closing the generator or dropping it, or keeping it until Python exits) ends the run too: its
    directory keeps the files of the last completed epoch, ``last.npz`` included, and its lock
    is released. ``data``: as `train`'s."""
    events = _prepared_events(config, out, stop, data)
    _OPEN.add(events)  # closed at exit if still open, while Python can still write files
    return events


def _prepared_events(
    config: ExperimentConfig | str | Path | Mapping[str, Any],
    out: str | Path | None,
    stop: Callable[[], bool] | None,
    data: Any,
) -> Generator[RunEvent, None, None]:
    label, memory = (None, None) if data is None else source_of(data)
    yield from _events(prepare(_config(config, label), memory=memory), out, stop)


#: The `training_events` generators not yet finished or closed.
_OPEN: weakref.WeakSet[Generator[RunEvent, None, None]] = weakref.WeakSet()


@atexit.register
def _close_open_events() -> None:
    """Close the runs a program left open: at exit, before the interpreter takes its modules
    apart, their files can still be written."""
    for events in list(_OPEN):
        events.close()


def _config(
    config: ExperimentConfig | str | Path | Mapping[str, Any], memory: str | None = None
) -> ExperimentConfig:
    """The config to train; with data in memory (named ``memory``, e.g. ``<table in memory>``),
    its data section reads that instead of a file or a built-in data set."""
    if memory is None:
        return config if isinstance(config, ExperimentConfig) else load_config(config)
    if isinstance(config, ExperimentConfig):
        raw = config.resolved()
    elif isinstance(config, Mapping):
        import copy

        raw = copy.deepcopy(dict(config))
    else:
        from .config.loading import read_yaml, resolve_paths

        raw = read_yaml(Path(config))
        if not isinstance(raw, dict):
            return load_config(config)  # its own error
        resolve_paths(raw, Path(config).resolve().parent)
    given = raw.get("data")
    section = given if isinstance(given, dict) else {}
    section = {k: v for k, v in section.items() if k not in ("dataset", "path")}
    raw["data"] = section | {"path": memory}
    source = str(config) if isinstance(config, str | Path) else "config"
    return validate(raw, source)  # a file's mistakes named by its name


def _events(
    prepared: Plan, out: str | Path | None, stop: Callable[[], bool] | None = None
) -> Generator[RunEvent, None, None]:
    """`execute` into ``out`` (claimed as `bprop train --out` claims it) or into memory."""
    if out is None:
        yield from train_into(prepared, None, stop=stop)
        return
    from .runs.artifacts.rundirs import accept_new, claim

    with claim(Path(out), accept_new()) as run_dir:
        yield from train_into(prepared, run_dir, stop=stop)


@dataclass
class TrainedModel:
    """A trained network with its preprocessing: predict, predict_proba and evaluate on a
    pandas DataFrame or pyarrow Table (columns by name, as `bprop predict` reads a file), or on
    a 2-D array of raw features (a table's encoded columns, see `feature_names`). Inputs that
    cannot work (text, ragged rows, complex numbers, a wrong width or length) are a
    `DataError` naming what is wrong."""

    model: Model = field(repr=False)

    @property
    def classification(self) -> bool:
        return self.model.classification

    @property
    def class_names(self) -> list[str]:
        return self.model.class_names()

    @property
    def feature_names(self) -> list[str] | None:
        encoding = self.model.table_encoding()
        return encoding.columns if encoding is not None else self.model.feature_names

    def outputs(self, X: Any) -> NDArray[Any]:
        """The network's outputs for the rows of ``X`` (probabilities under a fused loss): a
        pandas DataFrame or pyarrow Table, its columns matched to the model's by name (as
        `bprop predict` matches a file's), or a 2-D array of the `feature_names` columns in
        order."""
        return self.model.outputs(given_features(self.model, X), "X")

    def predict(self, X: Any) -> NDArray[Any]:
        """Each row's class, by name when the data named its classes (else its index), or the
        predicted values of a regression (one column per output)."""
        out = self.outputs(X)
        if not self.classification:
            return out[:, 0] if out.shape[1] == 1 else out
        task = self.model.task
        classes = task.decide(out)
        if task.named:
            return np.asarray(task.classes, dtype=object)[classes]
        return classes

    def predict_proba(self, X: Any) -> NDArray[Any]:
        """Each row's probability of each class (two columns for one sigmoid unit)."""
        if not self.classification:
            raise ConfigError("predict_proba: a regression model has no class probabilities")
        return self.model.task.probabilities(self.outputs(X))

    def evaluate(self, X: Any, y: Any) -> dict[str, Any]:
        """The figures `bprop evaluate --json` reports: loss, accuracy, balanced accuracy,
        macro and weighted precision, recall and F1, log loss, ROC AUC and per-class figures
        (classification; ``y`` class indices or names, one per row of ``X``), or the loss
        (½·MSE), RMSE, MSE, MAE and R² (regression)."""
        features = given_features(self.model, X)
        targets = given_targets(self.model, y, len(features))
        return evaluate_model(self.model, features, targets, "X").as_dict()


@dataclass
class TrainResult:
    """What `train` returns: the history rows, the metrics, the trained model and how the run
    ended ("completed", "early_stopping", "diverged" or "interrupted")."""

    history: list[dict[str, float]]
    metrics: dict[str, Any]
    model: TrainedModel
    status: str
    run_dir: Path | None = None


def train(
    config: ExperimentConfig | str | Path | Mapping[str, Any],
    out: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    data: Any = None,
) -> TrainResult:
    """Train ``config`` (writing a run directory only when ``out`` is given), calling each
    callback with every event of `training_events`. A callback that raises ends the run: its
    directory keeps the files (``last.npz`` included) of the last completed epoch, and is free
    for another run or a resume at once.

    ``data`` trains on data held in memory instead of the config's file or data set: a pandas
    DataFrame or pyarrow Table, prepared exactly as a file of those columns would be (the
    config's ``data:`` keys, such as ``target``, ``missing`` and ``drop``, apply), or a tuple
    ``(X, y)`` of arrays, as an .npz file's X and y. No temporary file is written."""
    label, memory = (None, None) if data is None else source_of(data)
    cfg = _config(config, label)
    prepared = prepare(cfg, memory=memory)
    hooks = list(callbacks)
    finished: RunFinished | None = None
    # closed at once when a callback raises: the run's files and lock are not left to the
    # garbage collector (the traceback keeps the generator alive)
    with contextlib.closing(_events(prepared, out)) as events:
        for event in events:
            for hook in hooks:
                hook(event)
            if isinstance(event, RunFinished):
                finished = event
    assert finished is not None
    source = finished.run_dir or Path(cfg.name)
    model = model_of_data(cfg, prepared.net, prepared.dataset, source, prepared.task)
    return TrainResult(
        finished.history, finished.metrics, TrainedModel(model), finished.status, finished.run_dir
    )


def load(path: str | Path) -> TrainedModel:
    """The trained model in a checkpoint, or in a run directory's checkpoints/last.npz."""
    return TrainedModel(load_model(Path(path)))
