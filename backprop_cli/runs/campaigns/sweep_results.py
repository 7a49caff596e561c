"""A sweep's results: the ranking rule (metric and mode), the ranking of its trials' summaries,
and the files (sweep.csv, sweep.json, best.yaml, sweep.png), written here for every caller."""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import ExperimentConfig, to_yaml
from ...errors import ConfigError, argument
from ...system.atomic import write_text
from ..artifacts.layout import (
    BEST_CONFIG,
    IMPORTANCE_PLOT,
    PARALLEL_PLOT,
    SEARCH_PLOT,
    SWEEP_CSV,
    SWEEP_JSON,
    SWEEP_PLOT,
)
from ..artifacts.outcomes import FINISHED, RunStatus, RunSummary
from .sweep import Space, Trial


def ranked(results: list[RunSummary], trials: Mapping[str, Trial], mode: str) -> list[RunSummary]:
    """Best first; then the pruned trials, best first (their scores are of fewer epochs); then
    the trials without a score (diverged early, invalid, failed), by id."""
    sign = 1.0 if mode == "min" else -1.0

    def key(r: RunSummary) -> tuple[int, float, int]:
        group = 2
        if r.score is not None and r.status in (*FINISHED, RunStatus.DIVERGED):
            group = 0
        elif r.score is not None and r.status is RunStatus.PRUNED:
            group = 1
        return (group, sign * (r.score or 0.0) if group < 2 else 0.0, trials[r.name].id)

    return sorted(results, key=key)


def row(trial: Trial, result: RunSummary) -> dict[str, Any]:
    """A trial's result as sweep.json has it."""
    return {
        "id": trial.id,
        "name": result.name,
        "params": trial.params,
        "status": result.status,
        "score": result.score,  # the best value of the metric over the epochs
        "final_train_loss": result.final_train_loss,
        "final_val_loss": result.final_val_loss,
        "best_val_loss": result.best_val_loss,
        "epochs": result.epochs,
        "pruned_at": result.stop_epoch if result.status is RunStatus.PRUNED else None,
        "seconds": result.seconds,
        "detail": result.detail,
    }


CSV_COLUMNS = ("rank", "trial", "name", "status", "score", "final_train_loss", "final_val_loss",
               "best_val_loss", "epochs", "pruned_at", "seconds", "detail")  # fmt: skip


def sweep_files(
    ranking: list[RunSummary], trials: Mapping[str, Trial], keys: list[str], metric: str, mode: str
) -> tuple[str, str]:
    """The text of sweep.csv (one column per swept key) and sweep.json of the results of
    ``trials`` (by name) ranked by `ranked`."""
    buf = io.StringIO()
    columns = [*CSV_COLUMNS[:3], *keys, *CSV_COLUMNS[3:]]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    rows = [row(trials[r.name], r) for r in ranking]
    for rank, data in enumerate(rows, start=1):
        cells = {"rank": rank, "trial": data["id"]} | {c: data.get(c) for c in CSV_COLUMNS[2:]}
        cells |= {k: data["params"].get(k) for k in keys}
        writer.writerow({k: "" if v is None else v for k, v in cells.items()})
    best = ranking[0] if ranking and ranking[0].score is not None else None
    document = {
        "metric": metric,
        "mode": mode,
        "keys": keys,
        "best": best.name if best else None,
        "trials": [{"rank": k} | data for k, data in enumerate(rows, start=1)],
    }
    return buf.getvalue(), json.dumps(document, indent=2, default=str)


# ------------------------------------------------------------------ ranking rule and results
def sweep_mode(cfg: ExperimentConfig, mode: str | None) -> str:
    """``mode`` (min or max), else the config's ``sweep.mode``, else min."""
    chosen = mode or (cfg.sweep.mode if cfg.sweep else "min")
    if chosen not in ("min", "max"):
        raise ConfigError(f"{argument('mode')}: {chosen!r}; use min or max")
    return chosen


def sweep_metric(cfg: ExperimentConfig, metric: str | None, columns: list[str]) -> str:
    """The history column that ranks the trials: ``metric``, else the config's
    ``sweep.metric``, else val_loss (train_loss without validation data); one of ``columns``."""
    chosen = (
        metric
        or (cfg.sweep.metric if cfg.sweep else None)
        or ("val_loss" if "val_loss" in columns else "train_loss")
    )
    if chosen not in columns:
        where = argument("metric") if chosen == metric else "sweep.metric"
        close = difflib.get_close_matches(chosen, columns, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where}: {chosen!r} is not a column of the history; {hint}"
            f"(columns: {', '.join(columns)})"
        )
    return chosen


@dataclass(frozen=True)
class SweepSummary:
    """A sweep's trials ranked (best first), the winner (None when no trial has a score), and the
    files written for it."""

    ranking: list[RunSummary]
    winner: RunSummary | None
    files: list[str]


def write_sweep(
    results: list[RunSummary],
    trials: Sequence[Trial],
    search: Space,
    metric: str,
    mode: str,
    out_dir: Path,
    config_name: str,
    importances: Mapping[str, float] | None = None,
) -> SweepSummary:
    """Rank the ``results`` of ``trials`` and write sweep.csv, sweep.json, best.yaml (the
    winner's resolved config, ready to train), sweep.png, search.png and parallel.png in
    ``out_dir``; importance.png too with the keys' ``importances``."""
    from ..reports.plotting import plot_sweep
    from ..reports.search_plots import (
        TrialPoint,
        plot_importances,
        plot_parallel,
        plot_search_history,
    )

    by_name = {t.name: t for t in trials}
    ranking = ranked(results, by_name, mode)
    keys = search.keys
    csv_text, json_text = sweep_files(ranking, by_name, keys, metric, mode)
    write_text(out_dir / SWEEP_CSV, csv_text)
    write_text(out_dir / SWEEP_JSON, json_text)
    files = [SWEEP_CSV, SWEEP_JSON]
    winner = next((r for r in ranking if r.status in FINISHED and r.score is not None), None)
    config = by_name[winner.name].config if winner is not None else None
    if winner is not None and config is not None:
        heading = f"# {config_name}: best trial {winner.name} by {metric} ({mode})\n"
        write_text(out_dir / BEST_CONFIG, heading + to_yaml(config.resolved()))
        files.append(BEST_CONFIG)
    if any(r.score is not None for r in results):
        logarithmic = {k for k, d in search.space.items() if d.logarithmic}
        points = [(by_name[r.name].params, r.score, r.status) for r in results]
        plot_sweep(points, keys, logarithmic, metric, out_dir / SWEEP_PLOT)
        tried = [TrialPoint(by_name[r.name].id, by_name[r.name].params, r.score, r.status,
                            r.epochs) for r in results]  # fmt: skip
        plot_search_history(tried, metric, mode, out_dir / SEARCH_PLOT)
        plot_parallel(tried, keys, logarithmic, metric, out_dir / PARALLEL_PLOT)
        files += [SWEEP_PLOT, SEARCH_PLOT, PARALLEL_PLOT]
    if importances:
        plot_importances(importances, metric, out_dir / IMPORTANCE_PLOT)
        files.append(IMPORTANCE_PLOT)
    return SweepSummary(ranking, winner, files)
