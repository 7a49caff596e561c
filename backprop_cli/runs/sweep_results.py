"""A sweep's results: each trial's outcome, the ranking rule (metric and mode), and the files
(sweep.csv, sweep.json, best.yaml, sweep.png), written here for every caller."""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, to_yaml
from ..errors import ConfigError, argument
from ..system.atomic import write_text
from .layout import BEST_CONFIG, SWEEP_CSV, SWEEP_JSON, SWEEP_PLOT
from .outcomes import FINISHED
from .sweep import Space


@dataclass
class TrialResult:
    id: int
    name: str
    params: dict[str, Any]
    status: str  # ok | early-stopped | diverged | interrupted | invalid | error
    score: float | None = None  # the best value of the metric over the epochs
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    best_val_loss: float | None = None
    epochs: int = 0
    seconds: float = 0.0
    detail: str = ""

    def row(self) -> dict[str, Any]:
        return asdict(self)


def score_of(history: list[dict[str, Any]], metric: str, mode: str) -> float | None:
    values = [v for r in history if (v := r.get(metric)) is not None and math.isfinite(v)]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def ranked(results: list[TrialResult], mode: str) -> list[TrialResult]:
    """Best first; trials without a score (diverged early, invalid, failed) last, by id."""
    sign = 1.0 if mode == "min" else -1.0

    def key(r: TrialResult) -> tuple[int, float, int]:
        scored = r.score is not None and r.status in (*FINISHED, "diverged")
        return (0 if scored else 1, sign * (r.score or 0.0) if scored else 0.0, r.id)

    return sorted(results, key=key)


CSV_COLUMNS = ("rank", "trial", "name", "status", "score", "final_train_loss", "final_val_loss",
               "best_val_loss", "epochs", "seconds", "detail")  # fmt: skip


def sweep_files(
    ranking: list[TrialResult], keys: list[str], metric: str, mode: str
) -> tuple[str, str]:
    """The text of sweep.csv (one column per swept key) and sweep.json."""
    buf = io.StringIO()
    columns = [*CSV_COLUMNS[:3], *keys, *CSV_COLUMNS[3:]]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for rank, r in enumerate(ranking, start=1):
        row = r.row()
        cells = {"rank": rank, "trial": r.id} | {c: row.get(c) for c in CSV_COLUMNS[2:]}
        cells |= {k: r.params.get(k) for k in keys}
        writer.writerow({k: "" if v is None else v for k, v in cells.items()})
    best = ranking[0] if ranking and ranking[0].score is not None else None
    document = {
        "metric": metric,
        "mode": mode,
        "keys": keys,
        "best": best.name if best else None,
        "trials": [{"rank": k} | r.row() for k, r in enumerate(ranking, start=1)],
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
        or ("val_loss" if cfg.has_validation() else "train_loss")
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

    ranking: list[TrialResult]
    winner: TrialResult | None
    files: list[str]


def write_sweep(
    results: list[TrialResult],
    search: Space,
    metric: str,
    mode: str,
    out_dir: Path,
    config_name: str,
    configs: Mapping[str, dict[str, Any]],
) -> SweepSummary:
    """Rank ``results`` and write sweep.csv, sweep.json, best.yaml (the winner's resolved
    config from ``configs``, by trial name, ready to train) and sweep.png in ``out_dir``."""
    from .plotting import plot_sweep

    ranking = ranked(results, mode)
    keys = search.keys
    csv_text, json_text = sweep_files(ranking, keys, metric, mode)
    write_text(out_dir / SWEEP_CSV, csv_text)
    write_text(out_dir / SWEEP_JSON, json_text)
    files = [SWEEP_CSV, SWEEP_JSON]
    winner = next((r for r in ranking if r.status in FINISHED and r.score is not None), None)
    if winner is not None:
        resolved = configs[winner.name]
        heading = f"# {config_name}: best trial {winner.name} by {metric} ({mode})\n"
        write_text(out_dir / BEST_CONFIG, heading + to_yaml(resolved))
        files.append(BEST_CONFIG)
    if any(r.score is not None for r in results):
        logarithmic = {k for k, d in search.space.items() if d.logarithmic}
        points = [(r.params, r.score, r.status) for r in results]
        plot_sweep(points, keys, logarithmic, metric, out_dir / SWEEP_PLOT)
        files.append(SWEEP_PLOT)
    return SweepSummary(ranking, winner, files)
