"""Scoring a trained model: the loss as training computed it and scikit-learn's figures, on a
split of its experiment's data or on labelled rows given to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...config.models import ExperimentConfig
from ...core.metrics import (
    classification_scores,
    confusion_matrix,
    per_class,
    regression_scores,
)
from ...core.split import are_labels
from ...core.task import Task
from ...core.training import evaluate
from ...core.types import Array
from ...data.sources import load_data
from ...data.splits import Dataset
from ...errors import DataError, argument
from ...system.json_values import finite
from .model import Model
from .seeding import generators


def split_of(cfg: ExperimentConfig, split: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """Raw (unstandardized) features and targets of ``split`` of ``cfg``'s data, drawn with its
    seed exactly as at training time."""
    data_rng = generators(cfg.seed).data
    data: Dataset = load_data(cfg.data, cfg.task(), data_rng, False, np.dtype(np.float64))
    held = data.split(split)
    if held is None:
        raise DataError(
            f"{argument('split')} {split}: this data has no {split} split; choose another split"
        )
    return held.X, held.y


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
    labelled = are_labels(y)
    scale = model.target_scale
    # the loss as training computed it: on the scaled target, where there is one
    targets = net.prepare_targets(y if scale is None or labelled else scale.scale(y))
    labels = np.asarray(y).astype(np.int64) if labelled else None
    loss, _ = evaluate(net, inputs, targets, labels)
    outputs = model.outputs_of(inputs)  # in the target's units
    result = Evaluation(len(inputs), loss, model.spec.loss, scores(model.task, outputs, y))
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
    if are_labels(y):
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
