"""Using a trained network: load it from a checkpoint, evaluate it on a split, predict new data.

Inputs get the preprocessing fitted at training time: the standardization statistics stored in
the checkpoint, never statistics of the new data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..config import ExperimentConfig, validate
from ..core.metrics import (
    classification_scores,
    confusion_matrix,
    per_class,
    regression_scores,
)
from ..core.network import Network
from ..core.task import Task
from ..core.training import evaluate
from ..core.types import Array
from ..data import Splits, TargetScale, load_data
from ..data.encoding import Encoding
from ..errors import CheckpointError, DataError, argument
from ..system.json_values import finite
from .build import build_network, generators, task_of
from .checkpoints import Checkpoint, check_preprocess
from .layout import RUN_CHECKPOINT, Key

#: Predictions are computed a block of rows at a time, the blocks holding at most this many rows
#: and about this many bytes of float64 features, whoever asks (`bprop predict` or the Python
#: API): memory stays bounded, and the same rows give the same numbers, bit for bit.
BLOCK_ROWS = 65_536
BLOCK_BYTES = 16 << 20


@dataclass
class Model:
    """A network with its weights and the preprocessing it was trained with."""

    cfg: ExperimentConfig
    net: Network
    mean: NDArray[np.float64] | None
    std: NDArray[np.float64] | None
    source: Path
    #: The training file's feature and target column names (None without a header).
    feature_names: list[str] | None = None
    target_name: str | None = None
    #: Class names in label order (None: the labels' numbers).
    classes: list[str] | None = None
    #: A table's fitted encoding: how a file's columns become the inputs.
    encoding: Encoding | None = None
    #: The epoch whose end the weights are from (None for a model never saved).
    epoch: int | None = None
    #: A regression's target standardization: outputs are mapped back to the target's units.
    target_scale: TargetScale | None = None
    #: What the outputs mean (classes and their names, or numbers).
    task: Task = field(default_factory=lambda: Task("regression", 1))

    def class_names(self) -> list[str]:
        """The name of each output class: the data's names, or 0, 1, ..."""
        return list(self.task.classes)

    def table_encoding(self) -> Encoding | None:
        """How a table's columns become this model's inputs: its own encoding, or numeric
        columns by name for a model trained on named numeric columns; None when the model
        knows no names (columns are taken in order)."""
        if self.encoding is not None:
            return self.encoding
        if self.feature_names is None:
            return None
        task = "classification" if self.classification else "regression"
        encoding = Encoding.plain(self.feature_names, self.target_name, task, 0)
        encoding.classes = self.classes
        return encoding

    @property
    def n_features(self) -> int:
        return self.net.input_dim

    @property
    def classification(self) -> bool:
        return self.task.classification

    @property
    def block_rows(self) -> int:
        """How many rows `outputs` computes at a time (see `BLOCK_ROWS`)."""
        width = max(self.n_features, self.net.output_dim)
        return max(1, min(BLOCK_ROWS, BLOCK_BYTES // (8 * width)))

    def inputs(self, X: NDArray[Any], source: str, before: int = 0) -> Array:
        """Raw features, `checked`, standardized with the training statistics as training
        standardized: in the statistics' dtype (a table's were fitted on its values read into
        the network's dtype, an .npz's on float64), after the values are cast to it. So a
        column that dtype cannot tell apart (64-bit ids near 1e18 in float32, all one value
        there) is the constant column the network was trained on, not a spread of 1e10s."""
        X = self.checked(X, source, before)
        work = self.mean.dtype if self.mean is not None else self.net.dtype
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = X.astype(work, copy=False)
            if self.mean is not None and self.std is not None:
                scaled = (scaled - self.mean) / self.std
            inputs = np.ascontiguousarray(scaled, dtype=self.net.dtype)
        if not np.all(np.isfinite(inputs)):
            r, c = np.argwhere(~np.isfinite(inputs))[0]
            shown = X[r, c]
            if self.mean is not None and self.std is not None:
                shown = (X[r, c] - float(self.mean[c])) / float(self.std[c])
            raise DataError(
                f"{source}: row {before + r + 1}, column {c + 1}: {X[r, c]:.4g} (standardized: "
                f"{shown:.4g}) is beyond the range of {inputs.dtype}, in which the network "
                "computes; check the value"
            )
        return inputs

    def checked(self, X: NDArray[Any], source: str, before: int = 0) -> NDArray[np.float64]:
        """Raw features as float64, checked: rows of the model's width, every value finite.
        ``before``: rows of ``source`` before these (messages number rows as ``source`` does)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2 and len(X) == 0:
            raise DataError(f"{source}: no rows to use")
        if X.ndim != 2 or X.shape[1] != self.n_features:
            width = X.shape[1] if X.ndim == 2 else X.shape
            raise DataError(
                f"{source}: the model takes {self.n_features} feature columns; this input has "
                f"{width}. Give the same columns as at training time (without the target)"
            )
        if not np.all(np.isfinite(X)):
            bad = np.argwhere(~np.isfinite(X))[0]
            raise DataError(
                f"{source}: row {before + bad[0] + 1}, column {bad[1] + 1} is not finite"
            )
        return X

    def outputs(self, X: NDArray[Any], source: str, before: int = 0) -> Array:
        """The model's outputs for raw features: probabilities under a fused loss, a
        regression's values in the target's units; computed `block_rows` rows at a time."""
        return self.outputs_of(self.inputs(X, source, before))

    def outputs_of(self, inputs: Array) -> Array:
        """`outputs` of inputs already standardized (`inputs`)."""
        rows = self.block_rows
        if len(inputs) <= rows:
            return self.in_target_units(self.net.predict(inputs))
        blocks = [self.net.predict(inputs[i : i + rows]) for i in range(0, len(inputs), rows)]
        return self.in_target_units(np.concatenate(blocks))

    def in_target_units(self, outputs: Array) -> Array:
        """The network's outputs with the target standardization undone (when there is one)."""
        if self.target_scale is None:
            return outputs
        return self.target_scale.unscale(outputs)


def model_of_splits(
    cfg: ExperimentConfig, net: Network, splits: Splits, source: Path, task: Task
) -> Model:
    """The model a run has in memory: its network with the preprocessing of its splits."""
    return Model(
        cfg, net, splits.mean, splits.std, source, splits.feature_names, splits.target_name,
        splits.classes, splits.encoding, target_scale=splits.target_scale, task=task,
    )  # fmt: skip


def checkpoint_path(path: Path) -> Path:
    """A checkpoint file, or the one a run directory stands for."""
    path = Path(path)
    if path.is_dir():
        found = path / RUN_CHECKPOINT
        if not found.exists():
            raise CheckpointError(f"{path}: a run directory needs {RUN_CHECKPOINT}; none found")
        return found
    return path


def load_model(path: Path) -> Model:
    """The network a checkpoint (or a run directory's last.npz) holds, ready to evaluate."""
    path = checkpoint_path(path)
    ckpt = Checkpoint.read(path)
    if ckpt.config is None:
        raise CheckpointError(f"{path}: holds no config; it was not written by bprop train")
    cfg = validate(ckpt.config, f"{path} (config)")
    params = ckpt.params
    first = params.get("layers.0.W")
    if first is None:
        first = next(v for k, v in params.items() if k.endswith(".W"))
    noise = generators(cfg.seed).noise
    net = build_network(cfg, int(first.shape[1]), np.random.default_rng(0), noise_rng=noise)
    net.load_state_dict(params, source=str(path))
    check_preprocess(ckpt, net.input_dim)
    task = ckpt.task
    if task is None or task.outputs != net.output_dim:
        raise CheckpointError(
            f"{path}: its task does not match the network's {net.output_dim} outputs"
        )
    weights = ckpt.class_weights
    if weights is not None:
        if not task.classification or len(weights) != task.n_classes:
            raise CheckpointError(
                f"{path}: {Key.CLASS_WEIGHTS} holds {len(weights)} weights for a network of "
                f"{net.output_dim} outputs and loss {cfg.loss}"
            )
        net.loss.set_class_weights(weights)
    features, target, classes = _columns(ckpt, net.input_dim)
    encoding = None
    if ckpt.data.encoding is not None:
        try:
            encoding = Encoding.from_json(ckpt.data.encoding, str(path))
        except ValueError as exc:
            raise CheckpointError(str(exc)) from None
        if encoding.width != net.input_dim:
            raise CheckpointError(
                f"{path}: {Key.DATA_ENCODING} makes {encoding.width} inputs, but the network "
                f"takes {net.input_dim}"
            )
        classes = encoding.classes
    if classes is not None and len(classes) != max(net.output_dim, 2):
        raise CheckpointError(
            f"{path}: names {len(classes)} classes for a network of {net.output_dim} outputs"
        )
    scale = _target_scale(ckpt, net)
    return Model(
        cfg, net, ckpt.mean, ckpt.std, path, features, target, classes, encoding,
        ckpt.weights_epoch, scale, task,
    )  # fmt: skip


def _target_scale(ckpt: Checkpoint, net: Network) -> TargetScale | None:
    """The checkpoint's target standardization, checked against the network's outputs."""
    scale = ckpt.target_scale
    if scale is None:
        return None
    if scale.mean.shape != (net.output_dim,):
        raise CheckpointError(
            f"{ckpt.path}: {Key.TARGET_MEAN} holds {scale.mean.shape[0]} values for a network "
            f"of {net.output_dim} outputs"
        )
    return TargetScale(scale.mean.astype(np.float64), scale.std.astype(np.float64))


def _columns(ckpt: Checkpoint, width: int) -> tuple[list[str] | None, str | None, list[str] | None]:
    """The feature, target and class names the checkpoint records (None where it has none)."""
    columns = ckpt.data.columns
    if columns is None:
        return None, None, None
    try:
        features, target = columns["features"], columns["target"]
        classes = columns.get("classes")
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{ckpt.path}: data.columns is not readable ({exc})") from None
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, str) for c in classes)
    ):
        raise CheckpointError(f"{ckpt.path}: data.columns: classes must be a list of names")
    if features is None:
        return None, None, classes
    plain = isinstance(features, list) and all(isinstance(f, str) for f in features)
    if not plain or len(features) != width or not isinstance(target, str | None):
        raise CheckpointError(
            f"{ckpt.path}: data.columns must name the network's {width} features and its target"
        )
    return features, target, classes


def split_of(cfg: ExperimentConfig, split: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """Raw (unstandardized) features and targets of ``split`` of ``cfg``'s data, drawn with its
    seed exactly as at training time."""
    data_rng = generators(cfg.seed).data
    splits: Splits = load_data(cfg.data, task_of(cfg), data_rng, False, np.dtype(np.float64))
    X, y = {
        "train": (splits.X_train, splits.y_train),
        "val": (splits.X_val, splits.y_val),
        "test": (splits.X_test, splits.y_test),
    }[split]
    if X is None or y is None:
        raise DataError(
            f"{argument('split')} {split}: this data has no {split} split; choose another split"
        )
    return X, y


@dataclass
class Evaluation:
    """Figures of a model on one set of samples: the loss as training computed it, the `scores`
    (see `scores`) and, for classes, the per-class figures and the confusion matrix."""

    n: int
    loss: float
    #: The loss function's name (``mse`` is ½ · MSE per sample).
    loss_name: str
    scores: dict[str, float | None] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # rows: true class, columns: predicted
    per_class: list[dict[str, Any]] = field(default_factory=list)
    #: Whether the loss is of a standardized target (a regression trained so).
    scaled_target: bool = False

    @property
    def classification(self) -> bool:
        """Whether the samples were classes (there are per-class figures)."""
        return bool(self.per_class)

    def as_dict(self) -> dict[str, Any]:
        keep: dict[str, Any] = {"n": self.n, "loss": self.loss} | self.scores
        if self.classification:
            keep |= {"classes": self.classes, "per_class": self.per_class}
            keep |= {"confusion": self.confusion}
        return finite(keep)  # JSON has no NaN/Inf: null


def evaluate_model(model: Model, X: NDArray[Any], y: NDArray[Any], source: str) -> Evaluation:
    """The loss as training computed it, the `scores` of the model's outputs, and for classes
    the per-class figures and the confusion matrix."""
    net = model.net
    inputs = model.inputs(X, source)
    labelled = bool(np.issubdtype(np.asarray(y).dtype, np.integer))
    scale = model.target_scale
    # the loss as training computed it: on the scaled target, where there is one
    targets = net.prepare_targets(y if scale is None or labelled else scale.scale(y))
    labels = np.asarray(y).astype(np.int64) if labelled else None
    loss, _ = evaluate(net, inputs, targets, labels)
    outputs = model.outputs_of(inputs)  # in the target's units
    result = Evaluation(len(inputs), loss, model.cfg.loss, scores(model.task, outputs, y))
    result.scaled_target = scale is not None and not labelled
    if labels is not None:
        proba = _all_classes(model.task.probabilities(outputs), labels)
        k = proba.shape[1]
        confusion = confusion_matrix(labels, proba.argmax(axis=1), k)
        names = model.class_names()
        result.classes = names + [str(c) for c in range(len(names), k)]
        result.confusion = confusion.tolist()
        result.per_class = per_class(confusion)
    return result


def scores(task: Task, outputs: Array, y: NDArray[Any]) -> dict[str, float | None]:
    """The figures of a network's ``outputs`` (probabilities under a fused loss, values in the
    targets' units under mse) for the true targets ``y``: for classes (integer ``y``) those of
    `classification_scores` (no log loss from an mse network: its outputs are not
    probabilities); for numbers, or any mse network, those of `regression_scores` (classes as
    one-hot rows, or their index for one output unit). A class the network has no output for
    has probability 0."""
    y = np.asarray(y)
    found: dict[str, float | None] = {}
    targets: NDArray[Any] = y
    if np.issubdtype(y.dtype, np.integer):
        labels = y.astype(np.int64)
        proba = _all_classes(task.probabilities(outputs), labels)
        found |= classification_scores(labels, proba, log_loss_of_proba=task.classification)
        if task.classification:
            return found
        targets = np.eye(outputs.shape[1])[labels] if outputs.shape[1] > 1 else labels
    return found | regression_scores(targets, outputs)


def _all_classes(proba: Array, labels: NDArray[np.int64]) -> Array:
    """``proba`` with a column of zeros for each label beyond its columns."""
    missing = int(labels.max()) + 1 - proba.shape[1]
    return np.pad(proba, ((0, 0), (0, missing))) if missing > 0 else proba
