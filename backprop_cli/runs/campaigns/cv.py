"""Cross-validation: K runs of one config, each holding out one fold of the data as its
validation split (``data.folds``, ``data.fold``), run as a `campaign`, then summarized.

Per fold: the final epoch's figures and those of the best epoch (lowest val_loss), and the test
figures of its metrics.json when the data has a test split (the same rows for every fold): the
loss and the scores of `core.metrics` (accuracy, balanced accuracy, F1 ..., or RMSE, MAE, R²).
Over the folds: the mean and the standard deviation (population, ``ddof = 0``, as
scikit-learn's ``scores.std()``).

Files in the cross-validation directory: a run directory per fold (``fold-1`` ...), cv.csv (a
row per fold, then the mean and std rows), cv.json and cv.png (the K learning curves).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ...config import ExperimentConfig, load_config, validate
from ...config.loading import apply_overrides
from ...core.metrics import CLASSIFICATION_FIGURES, REGRESSION_FIGURES
from ...errors import argument
from ...system.atomic import write_text
from ...system.locking import check_free
from ...system.resources import check_count
from ..artifacts.layout import CV_CSV, CV_FILES, CV_JSON, CV_PLOT, fold_name
from ..artifacts.outcomes import RunStatus, RunSummary
from ..train.plan import prepare
from .campaign import Campaign, open_campaign
from .sweep import MAX_TRIALS, Trial

#: The figures of each fold, in the order of cv.csv's columns (those a run has).
FIGURES = (
    "final_train_loss", "final_val_loss", "final_train_accuracy", "final_val_accuracy",
    "best_epoch", "best_val_loss", "best_val_accuracy", "test_loss",
    *(f"test_{key}" for key in (*CLASSIFICATION_FIGURES, *REGRESSION_FIGURES)),
)  # fmt: skip


def check_folds(folds: int, trials: int = 1) -> None:
    """Raise ConfigError when ``trials`` × ``folds`` runs are more than a sweep runs (each fold
    is a run): before a config is made for any of them."""
    runs = trials * folds
    if trials == 1:
        check_count(
            argument("folds"), runs, MAX_TRIALS, f"{folds:,} folds", "a cross-validation runs"
        )
    else:
        what = f"{trials:,} trials × {folds:,} folds make {runs:,} runs"
        check_count(argument("folds"), runs, MAX_TRIALS, what, "a sweep runs")


def cross_validating(overrides: Sequence[str], folds: int) -> list[str]:
    """``overrides`` and ``data.folds``: the config a cross-validation loads is checked as its
    folds' are (each holds a fold out for validation, so val_loss can be watched whatever its
    validation_split says)."""
    check_folds(folds)
    return [*overrides, f"data.folds={folds}"]


def fold_config(cfg: ExperimentConfig, folds: int, k: int, source: str) -> ExperimentConfig:
    """``cfg`` with ``data.folds`` and ``data.fold`` set: its run holds fold ``k`` (0-based)
    out."""
    raw = json.loads(json.dumps(cfg.model_dump(mode="json") | {"sweep": None}))
    apply_overrides(raw, [f"data.folds={folds}", f"data.fold={k}"], source)
    raw["name"] = f"{cfg.name}-{fold_name(k + 1)}"
    return validate(raw, f"{source} (fold {k + 1})")


def fold_trials(cfg: ExperimentConfig, folds: int, source: str) -> list[Trial]:
    """One trial per fold: ``cfg`` with ``data.folds`` and ``data.fold`` set."""
    check_folds(folds)
    return [
        Trial(k + 1, fold_name(k + 1), {"data.fold": k}, fold_config(cfg, folds, k, source))
        for k in range(folds)
    ]


@dataclass
class CrossValidation:
    """A cross-validation ready to run in its campaign: the config and a run per fold."""

    cfg: ExperimentConfig
    folds: list[Trial]
    campaign: Campaign

    def write(self, results: list[RunSummary]) -> tuple[list[Fold], list[str]]:
        """The folds of the runs' ``results``, in order, and the files written for them
        (`write_cv`)."""
        numbers = {t.name: t.id for t in self.folds}
        folds = sorted((Fold(numbers[r.name], r) for r in results), key=lambda f: f.number)
        return folds, write_cv(folds, self.campaign.directory, self.cfg.name)


@contextlib.contextmanager
def open_cv(
    config: Path,
    overrides: Sequence[str],
    folds: int,
    out: Path | None,
    n_jobs: int = 1,
    dask: str | None = None,
) -> Iterator[CrossValidation]:
    """The ``folds``-fold cross-validation of the config file ``config`` with ``overrides``, in
    ``out`` or a new ``{output.dir}/{name}-cv``, held for the block. The directory, the config,
    the data (a row for every fold) and the network are checked before a file is written."""
    if out is not None:
        check_free(out)  # before the data is loaded
    cfg = load_config(config, cross_validating(overrides, folds))
    prepare(fold_config(cfg, folds, folds - 1, str(config)))
    trials = fold_trials(cfg, folds, str(config))
    with open_campaign(
        cfg, "cv", out, CV_FILES, n_jobs=n_jobs, dask=dask, plot=False, metric="val_loss"
    ) as campaign:
        yield CrossValidation(cfg, trials, campaign)


def figures(result: RunSummary) -> dict[str, float]:
    """A fold's figures, those its run has (none when it did not train): the final epoch's, the
    best epoch's (lowest val_loss) and the test split's."""
    if not result.status.trained:
        return {}
    history = result.history
    figures: dict[str, float] = {}
    if history:
        final = history[-1]
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
            if final.get(key) is not None:
                figures[f"final_{key}"] = final[key]
        scored = [r for r in history if r.get("val_loss") is not None]
        if scored:
            best = min(scored, key=lambda r: r["val_loss"])
            figures["best_epoch"] = best["epoch"]
            figures["best_val_loss"] = best["val_loss"]
            if best.get("val_accuracy") is not None:
                figures["best_val_accuracy"] = best["val_accuracy"]
    for key, value in result.test.items():
        if isinstance(value, int | float):
            figures[f"test_{key}"] = value
    return figures


@dataclass(frozen=True)
class Fold:
    """One fold's run: its number (from 1), its summary, its figures."""

    number: int
    result: RunSummary

    @cached_property
    def figures(self) -> dict[str, float]:
        return figures(self.result)

    @property
    def history(self) -> list[dict[str, float]]:
        return self.result.history if self.result.status.trained else []


def summary(folds: list[Fold]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each figure over the folds that trained to their end
    and have it (an interrupted or diverged fold's figures are left out)."""
    out: dict[str, dict[str, float]] = {"mean": {}, "std": {}}
    for key in FIGURES:
        values = [f.figures[key] for f in finished(folds) if key in f.figures]
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            out["mean"][key] = float(np.mean(finite))
            out["std"][key] = float(np.std(finite))
    return out


def finished(folds: list[Fold]) -> list[Fold]:
    """The folds that trained to their end (every epoch, or until early stopping)."""
    return [f for f in folds if f.result.status.finished]


def columns_of(folds: list[Fold]) -> list[str]:
    return [key for key in FIGURES if any(key in f.figures for f in folds)]


def write_cv(folds: list[Fold], out_dir: Path, name: str) -> list[str]:
    """cv.csv, cv.json and cv.png in ``out_dir`` for ``folds`` (in order); returns their
    names."""
    stats = summary(folds)
    cols = columns_of(folds)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["fold", "status", *cols])
    for f in folds:
        writer.writerow([f.number, f.result.status, *[f.figures.get(c, "") for c in cols]])
    for row in ("mean", "std"):
        writer.writerow([row, "", *[stats[row].get(c, "") for c in cols]])
    write_text(out_dir / CV_CSV, buf.getvalue())
    document: dict[str, Any] = {
        "name": name,
        "folds": [
            {"fold": f.number, "status": f.result.status, **f.figures, "detail": f.result.detail}
            for f in folds
        ],
        **stats,
    }
    write_text(out_dir / CV_JSON, json.dumps(document, indent=2))
    written = [CV_CSV, CV_JSON]
    runs = [(f"fold {f.number}", f.history) for f in folds if f.history]
    if runs:
        from ..reports.plotting import plot_runs

        metrics = [m for m in ("train_loss", "val_loss", "val_accuracy") if any(
            m in r for _, rows in runs for r in rows)]  # fmt: skip
        plot_runs(runs, metrics, out_dir / CV_PLOT, title=f"{name}: {len(runs)} folds")
        written.append(CV_PLOT)
    return written


def folds_of_trials(trials: list[Trial], folds: int, source: str) -> list[Trial]:
    """Each valid trial of a sweep as ``folds`` runs (``<trial>/fold-k``), ids in order."""
    expanded: list[Trial] = []
    for trial in trials:
        assert trial.config is not None
        for fold in fold_trials(trial.config, folds, source):
            fold.id = len(expanded) + 1
            fold.name = f"{trial.name}/{fold.name}"
            fold.params = trial.params
            expanded.append(fold)
    return expanded


def cross_validated(trial: Trial, results: list[RunSummary]) -> RunSummary:
    """A sweep trial's summary from its folds': the mean of their scores and losses (no score
    unless every fold has one), its status the first fold's that did not finish (else ok)."""
    unfinished = [r for r in results if not r.status.finished]
    status = unfinished[0].status if unfinished else RunStatus.OK

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if len(known) == len(values) else None

    return RunSummary(
        trial.name, status,
        score=mean([r.score for r in results]),
        final_train_loss=mean([r.final_train_loss for r in results]),
        final_val_loss=mean([r.final_val_loss for r in results]),
        best_val_loss=mean([r.best_val_loss for r in results]),
        epochs=sum(r.epochs for r in results), seconds=sum(r.seconds for r in results),
        detail="; ".join(f"{r.name}: {r.detail}" for r in unfinished if r.detail),
    )  # fmt: skip
