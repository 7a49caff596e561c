"""Cross-validation: K runs of one config, each holding out one fold of the data as its
validation split (``data.folds``, ``data.fold``), run by the sweep's machinery, then summarized.

Per fold: the final epoch's figures and those of the best epoch (lowest val_loss), and the test
figures of its metrics.json when the data has a test split (the same rows for every fold): the
loss and the scores of `core.metrics` (accuracy, balanced accuracy, F1 ..., or RMSE, MAE, R²).
Over the folds: the mean and the standard deviation (population, ``ddof = 0``, as
scikit-learn's ``scores.std()``).

Files in the cross-validation directory: a run directory per fold (``fold-1`` ...), cv.csv (a
row per fold, then the mean and std rows), cv.json and cv.png (the K learning curves).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ExperimentConfig, validate
from ..config.loading import apply_overrides
from ..core.metrics import CLASSIFICATION_FIGURES, REGRESSION_FIGURES
from ..errors import argument
from ..system.atomic import write_text
from ..system.resources import check_count
from .layout import CV_CSV, CV_JSON, CV_PLOT, METRICS, fold_name
from .rundirs import read_history
from .sweep import MAX_TRIALS, Trial
from .sweep_results import TrialResult

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
class FoldResult:
    """What one fold's run gave (figures it has no data for are absent)."""

    fold: int
    status: str
    figures: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    detail: str = ""


def fold_result(result: TrialResult, run_dir: Path) -> FoldResult:
    """A fold's figures from its run directory (its history and metrics.json)."""
    try:
        history = read_history(run_dir)
        metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return FoldResult(result.id, result.status, detail=result.detail)
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
    for key, value in (metrics.get("test") or {}).items():
        if isinstance(value, int | float):
            figures[f"test_{key}"] = value
    return FoldResult(result.id, result.status, figures, history, result.detail)


def summary(folds: list[FoldResult]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each figure over the folds that have it."""
    out: dict[str, dict[str, float]] = {"mean": {}, "std": {}}
    for key in FIGURES:
        values = [f.figures[key] for f in folds if key in f.figures]
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            out["mean"][key] = float(np.mean(finite))
            out["std"][key] = float(np.std(finite))
    return out


def columns_of(folds: list[FoldResult]) -> list[str]:
    return [key for key in FIGURES if any(key in f.figures for f in folds)]


def write_cv(folds: list[FoldResult], out_dir: Path, name: str) -> list[str]:
    """cv.csv, cv.json and cv.png in ``out_dir``; returns their names."""
    stats = summary(folds)
    cols = columns_of(folds)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["fold", "status", *cols])
    for f in sorted(folds, key=lambda f: f.fold):
        writer.writerow([f.fold, f.status, *[f.figures.get(c, "") for c in cols]])
    for row in ("mean", "std"):
        writer.writerow([row, "", *[stats[row].get(c, "") for c in cols]])
    write_text(out_dir / CV_CSV, buf.getvalue())
    document: dict[str, Any] = {
        "name": name,
        "folds": [
            {"fold": f.fold, "status": f.status, **f.figures, "detail": f.detail}
            for f in sorted(folds, key=lambda f: f.fold)
        ],
        **stats,
    }
    write_text(out_dir / CV_JSON, json.dumps(document, indent=2))
    written = [CV_CSV, CV_JSON]
    runs = [(f"fold {f.fold}", f.history) for f in sorted(folds, key=lambda f: f.fold) if f.history]
    if runs:
        from .plotting import plot_runs

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


def cross_validated(trial: Trial, results: list[TrialResult]) -> TrialResult:
    """A sweep trial's row from its folds' rows: the mean of their scores and losses (no score
    unless every fold has one), its status the first fold's that did not finish (else ok)."""
    unfinished = [r for r in results if r.status not in ("ok", "early-stopped")]
    status = unfinished[0].status if unfinished else "ok"

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if len(known) == len(values) else None

    return TrialResult(
        trial.id, trial.name, trial.params, status,
        mean([r.score for r in results]),
        mean([r.final_train_loss for r in results]),
        mean([r.final_val_loss for r in results]),
        mean([r.best_val_loss for r in results]),
        sum(r.epochs for r in results), sum(r.seconds for r in results),
        "; ".join(f"{r.name}: {r.detail}" for r in unfinished if r.detail),
    )  # fmt: skip
