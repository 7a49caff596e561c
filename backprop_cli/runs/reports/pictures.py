"""boundary.png / fit.png of a run as it ends, of any checkpoint, and boundary.gif of a run's
saved epochs (the drawing is `boundary`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...errors import DataError
from ..artifacts.layout import BEST, INITIAL, LAST, RunLayout
from ..artifacts.rundirs import is_checkpoint_name
from ..train.plan import Plan
from ..train.sinks import Outcome, Record, Sink
from ..trained.evaluation import split_of
from ..trained.model import Model, checkpoint_path, load_model, model_of_data
from . import boundary


def _predictor(model: Model) -> boundary.Predict:
    """Network outputs for raw features, through the model's own preprocessing."""
    return lambda X: model.outputs(X, str(model.source))


class Pictures(Sink):
    """A run directory's loss.png (the history's curves) and, once a run has finished, the
    picture of its final weights (`at_the_end`)."""

    def __init__(self, run_dir: Path) -> None:
        self.directory = self.run_dir = run_dir

    def finish(self, record: Record, outcome: Outcome) -> None:
        if not outcome.history:
            return
        from .plotting import plot_history

        plan = record.plan
        loss_plot = RunLayout(self.run_dir).loss_plot
        plot_history(outcome.history, loss_plot, title=plan.cfg.name)
        record.pictures.append(loss_plot)
        if outcome.status.finished:  # the final weights' boundary
            drawn = at_the_end(plan, self.run_dir)
            record.pictures += [drawn] if drawn is not None else []


def at_the_end(prepared: Plan, run_dir: Path) -> Path | None:
    """Draw the picture of a finished run (when one applies) into ``run_dir``."""
    data = prepared.dataset
    model = model_of_data(prepared.cfg, prepared.net, data, run_dir, prepared.task)
    name = boundary.picture_name(model.n_features, model.classification)
    if name is None:
        return None
    mean, std, scale = data.mean, data.std, data.target_scale

    def raw(X: NDArray[Any]) -> NDArray[Any]:
        """Features in the data's own units: the standardization undone."""
        if mean is None or std is None:
            return X
        return np.asarray(X, dtype=np.float64) * std + mean

    def target(y: NDArray[Any]) -> NDArray[Any]:
        """Targets in their own units: a regression's standardization undone."""
        return y if scale is None else scale.original(y)

    shown = [(name, data.split(name)) for name in ("train", "val")]
    where = boundary.scene(
        [(name, raw(split.X), target(split.y)) for name, split in shown if split is not None],
        model.classification,
        data.feature_names,
        data.target_name,
        data.classes,
    )
    path = run_dir / name
    title = f"{prepared.cfg.name}, epoch {prepared.training.epoch}"
    boundary.plot_picture(_predictor(model), where, path, title)
    return path


def scene_of(model: Model) -> boundary.Scene:
    """The training and validation points of the data a model was trained on, raw."""
    splits = []
    for split in ("train", "val"):
        try:
            X, y = split_of(model.experiment(), split)
        except DataError:
            if split == "train":
                raise
            continue
        splits.append((split, X, y))
    return boundary.scene(
        splits, model.classification, model.feature_names, model.target_name, model.classes
    )


def picture_name_of(model: Model, source: Path) -> str:
    """The picture that applies to ``model``, or a `DataError` saying why none does."""
    name = boundary.picture_name(model.n_features, model.classification)
    if name is None:
        task = "a classifier" if model.classification else "a regression"
        raise DataError(
            f"{source}: {task} of {model.n_features} input features; a decision boundary needs "
            "a classifier of 2 features, a fitted curve a regression of 1"
        )
    return name


def of_checkpoint(source: Path) -> tuple[boundary.Predict, boundary.Scene, str, int]:
    """(predict, scene, picture name, epoch) of a checkpoint, or of a run directory's last.npz."""
    model = load_model(source)
    name = picture_name_of(model, source)
    return _predictor(model), scene_of(model), name, model.epoch or 0


def frames_of(run_dir: Path) -> tuple[list[tuple[str, boundary.Predict]], boundary.Scene]:
    """One frame per saved epoch of a run (initial.npz, every epoch-NNNN.npz, then last.npz when
    it is further), and the run's scene."""
    folder = checkpoint_path(run_dir).parent
    names = sorted(p.name for p in folder.iterdir() if is_checkpoint_name(p.name))
    ordered = [n for n in (INITIAL,) if n in names]
    ordered += sorted(n for n in names if n not in (INITIAL, BEST, LAST))
    ordered += [n for n in (LAST,) if n in names]
    frames: list[tuple[int, str, boundary.Predict]] = []
    where = None
    for name in ordered:
        model = load_model(folder / name)
        if where is None:
            picture_name_of(model, run_dir)
            where = scene_of(model)
        epoch = model.epoch or 0
        if frames and epoch <= frames[-1][0]:
            continue  # last.npz at an epoch already shown
        frames.append((epoch, f"epoch {epoch}", _predictor(model)))
    if where is None:
        raise DataError(f"{run_dir}: no checkpoints to animate")
    return [(title, predict) for _, title, predict in frames], where
