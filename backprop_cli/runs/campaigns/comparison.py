"""The outcome of an optimizer race: the ranking of its runs' summaries, the one-line verdict,
and its files (comparison.csv, comparison.json and the learning curves), written here for every
caller."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...system.atomic import write_text
from ..artifacts.layout import ACCURACY_CURVES, COMPARISON_CSV, COMPARISON_JSON, LOSS_CURVES
from ..artifacts.outcomes import FINISHED, RunSummary
from .race import Contestant


def target_epoch(result: RunSummary, target_loss: float | None) -> int | None:
    """The first epoch that brought the train loss to ``target_loss`` or below (of a run that
    trained)."""
    if target_loss is None or not result.status.trained:
        return None
    reached = (int(r["epoch"]) for r in result.history if r["train_loss"] <= target_loss)
    return next(reached, None)


def ranked(results: list[RunSummary]) -> tuple[list[RunSummary], str]:
    """Results best first, and the metric that ranks them: best validation loss when every
    finished run has one, else best train loss. Runs that diverged or failed come last."""
    finished = [r for r in results if r.status in FINISHED]
    metric = (
        "best_val_loss"
        if finished and all(r.best_val_loss is not None for r in finished)
        else "best_train_loss"
    )

    def key(r: RunSummary) -> tuple[int, float]:
        value = getattr(r, metric)
        return (r.status not in FINISHED, math.inf if value is None else value)

    return sorted(results, key=key), metric


def verdict(ranking: list[RunSummary], metric: str, target_loss: float | None) -> str:
    """One sentence on results ranked by `ranked`: who won and by how much, who reached the
    target loss first, who diverged."""
    finished = [r for r in ranking if r.status in FINISHED and getattr(r, metric) is not None]
    failed = [r for r in ranking if r.status not in FINISHED]
    words = metric.replace("_", " ")
    if not finished:
        return (
            "no optimizer finished: every run diverged or failed; lower the learning rates "
            "or add training.clip"
        )
    winner = finished[0]
    best = getattr(winner, metric)
    text = f"{winner.name} wins with {words} {best:.4g}"
    if len(finished) > 1:
        second = finished[1]
        other = getattr(second, metric)
        ratio = other / best if best > 0 else math.inf
        # Below by the share of the runner-up's value; from half of it down, as a factor.
        margin = f"{(1 - best / other) * 100:.1f}% below" if ratio < 2 else f"{ratio:.3g}× below"
        text += f", {margin} {second.name} ({other:.4g})"
    if target_loss is not None:
        reached = [(e, r) for r in finished if (e := target_epoch(r, target_loss)) is not None]
        if reached:
            epoch, first = min(reached, key=lambda pair: pair[0])
            text += f"; first to train loss ≤ {target_loss:g}: {first.name} (epoch {epoch})"
        else:
            text += f"; none reached train loss ≤ {target_loss:g}"
    if failed:
        text += "; " + ", ".join(
            f"{r.name} {r.status}" + (f" at epoch {r.stop_epoch}" if r.stop_epoch else "")
            for r in failed
        )
    return text + "."


#: Columns of comparison.csv, in order (hyperparameters as one ``k=v`` field).
CSV_COLUMNS = (
    "rank", "optimizer", "type", "hyperparameters", "status", "stop_epoch", "epochs_run",
    "final_train_loss", "best_train_loss", "best_val_loss", "final_val_accuracy", "test_accuracy",
    "target_epoch", "train_seconds", "total_seconds", "run_dir",
)  # fmt: skip


def row(
    rank: int, contestant: Contestant, result: RunSummary, target_loss: float | None
) -> dict[str, Any]:
    """A contestant's result as comparison.json has it (comparison.csv: these but the detail)."""
    return {
        "rank": rank,
        "optimizer": result.name,
        "type": contestant.type,
        "hyperparameters": contestant.hyperparameters,
        "status": result.status,
        "stop_epoch": result.stop_epoch,  # of divergence, early stopping or an interruption
        "epochs_run": result.epochs,
        "final_train_loss": result.final_train_loss,
        "best_train_loss": result.best_train_loss,
        "best_val_loss": result.best_val_loss,
        "final_val_accuracy": result.final_val_accuracy,
        "test_accuracy": result.test_accuracy,
        "target_epoch": target_epoch(result, target_loss),
        "train_seconds": result.train_seconds,  # in training steps
        "total_seconds": result.seconds,  # the whole run: data, steps, evaluation, files
        "run_dir": result.name,  # relative to the comparison directory
        "detail": result.detail,
    }


def comparison_files(
    ranking: list[RunSummary],
    lineup: Sequence[Contestant],
    metric: str,
    target_loss: float | None,
    config_name: str,
) -> tuple[str, str]:
    """The text of comparison.csv and comparison.json for the results of ``lineup`` ranked by
    `ranked`."""
    by_name = {c.name: c for c in lineup}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = []
    for rank, result in enumerate(ranking, start=1):
        contestant = by_name[result.name]
        data = row(rank, contestant, result, target_loss)
        rows.append(_finite(data))
        flat = data | {
            "hyperparameters": " ".join(f"{k}={v:g}" for k, v in contestant.hyperparameters.items())
        }
        writer.writerow({k: "" if flat.get(k) is None else flat[k] for k in CSV_COLUMNS})
    document = {
        "config": config_name,
        "ranked_by": metric,
        "target_loss": target_loss,
        "winner": ranking[0].name if ranking and ranking[0].status in FINISHED else None,
        "verdict": verdict(ranking, metric, target_loss),
        "results": rows,
    }
    return buf.getvalue(), json.dumps(document, indent=2)


@dataclass(frozen=True)
class Comparison:
    """A race's results ranked (best first, by ``metric``), and the files written for it."""

    ranking: list[RunSummary]
    metric: str
    verdict: str
    files: list[str]


def write_comparison(
    results: list[RunSummary],
    lineup: Sequence[Contestant],
    out_dir: Path,
    target_loss: float | None,
    config_name: str,
) -> Comparison:
    """Rank the ``results`` of ``lineup`` and write comparison.csv, comparison.json,
    loss_curves.png and (for classification) accuracy_curves.png in ``out_dir``."""
    from ..reports.plotting import plot_runs

    ranking, metric = ranked(results)
    csv_text, json_text = comparison_files(ranking, lineup, metric, target_loss, config_name)
    write_text(out_dir / COMPARISON_CSV, csv_text)
    write_text(out_dir / COMPARISON_JSON, json_text)
    files = [COMPARISON_CSV, COMPARISON_JSON]
    labels = {c.name: c.label for c in lineup}
    series = [(labels[r.name], r.history) for r in ranking if r.history]
    if series:
        has_val = any(row.get("val_loss") is not None for _, h in series for row in h)
        losses = ["train_loss", "val_loss"] if has_val else ["train_loss"]
        title = f"{config_name}: loss"
        plot_runs(series, losses, out_dir / LOSS_CURVES, title=title)
        files.append(LOSS_CURVES)
        if any("train_accuracy" in row for _, h in series for row in h):
            accs = ["train_accuracy", "val_accuracy"] if has_val else ["train_accuracy"]
            title = f"{config_name}: accuracy"
            plot_runs(series, accs, out_dir / ACCURACY_CURVES, log=False, title=title)
            files.append(ACCURACY_CURVES)
    return Comparison(ranking, metric, verdict(ranking, metric, target_loss), files)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or Inf: they become null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
