"""Per-step pictures: each update's loss (faint) and its moving average, against updates, samples
seen or training seconds.

Samples seen count each step's batch (``min(k·b, n) − min((k−1)·b, n)`` for step k of an epoch
of n samples in batches of b). Seconds are the history's ``train_seconds`` (time inside the
steps, without evaluation or writing), spread evenly over each epoch's steps; the steps of an
unfinished epoch have no time and are left out of that axis.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...config import validate
from ...config.loading import read_yaml
from ...core.batching import Batching
from ...errors import DataError
from ..artifacts.layout import CONFIG, METRICS
from ..artifacts.rundirs import read_history
from ..artifacts.step_log import read_steps
from ..train.build import build_batching
from .plotting import save_figure

X_AXES = {"steps": "updates", "samples": "samples seen", "seconds": "training seconds"}
STEP_COLUMNS = ("loss", "lr", "grad_norm")


@dataclass
class StepSeries:
    """One run's per-step rows and what places them on each x axis."""

    label: str
    rows: list[dict[str, float]]
    n_train: int | None  # None when the run has no metrics.json yet
    batching: Batching  # the run's own, from its config.yaml
    history: list[dict[str, float]]

    def positions(self, axis: str) -> list[float | None]:
        """Each row's place on ``axis`` (None where it has none)."""
        if axis == "steps":
            return [r["step"] for r in self.rows]
        if axis == "samples":
            return self._samples()
        return self._seconds()

    def _within_epoch(self) -> list[int]:
        """Each row's 1-based step number within its epoch."""
        out, epoch, k = [], None, 0
        for r in self.rows:
            k = k + 1 if r["epoch"] == epoch else 1
            epoch = r["epoch"]
            out.append(k)
        return out

    def _samples(self) -> list[float | None]:
        out: list[float | None]
        n = self.n_train
        if n is None:
            raise DataError(
                f"{self.label}: samples seen need the run's metrics.json (the number of "
                "training samples); it is written when the run ends"
            )
        b = self.batching.batch_size(n)
        seen, out = 0, []
        for k in self._within_epoch():
            seen += min(k * b, n) - min((k - 1) * b, n)
            out.append(float(seen))
        return out

    def _seconds(self) -> list[float | None]:
        ends: dict[int, tuple[float, float]] = {}  # epoch → (time at its start, its seconds)
        clock = 0.0
        for r in self.history:
            ends[int(r["epoch"])] = (clock, r["train_seconds"])
            clock += r["train_seconds"]
        counts: dict[int, int] = {}
        for r in self.rows:
            counts[int(r["epoch"])] = counts.get(int(r["epoch"]), 0) + 1
        out: list[float | None] = []
        for r, k in zip(self.rows, self._within_epoch(), strict=True):
            epoch = int(r["epoch"])
            if epoch not in ends:
                out.append(None)
                continue
            start, seconds = ends[epoch]
            out.append(start + seconds * k / counts[epoch])
        return out


def read_step_series(label: str, run_dir: Path) -> StepSeries:
    """The per-step rows of ``run_dir`` and what the x axes need."""
    rows = read_steps(run_dir)
    source = run_dir / CONFIG
    batching = build_batching(validate(read_yaml(source), str(source)))
    n_train = None
    metrics_path = run_dir / METRICS
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            n_train = int(metrics["samples"]["train"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{metrics_path}: no number of training samples ({exc})") from None
    return StepSeries(label, rows, n_train, batching, read_history(run_dir))


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of each value and the ``window − 1`` before it (fewer at the start); NaNs (steps
    that diverged) are left out of the means."""
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    lagged_sums = np.concatenate([np.zeros(window), sums[:-window]])[: len(values)]
    lagged_counts = np.concatenate([np.zeros(window), counts[:-window]])[: len(values)]
    n = counts - lagged_counts
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums - lagged_sums) / np.maximum(n, 1), np.nan)


def window_for(n: int) -> int:
    """The moving average's window: a fiftieth of the steps, between 1 and 500."""
    return max(1, min(500, n // 50))


def plot_steps(
    runs: list[StepSeries],
    columns: list[str],
    axes_x: list[str],
    path: Path,
    log: bool | None = None,
    exclusive: bool = False,
) -> None:
    """A panel per (column, x axis), a colour per run: each step faint, the moving average
    solid. ``log`` None picks a log scale where the averages of a positive column span more
    than 30×."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(c, x) for c in columns for x in axes_x]
    cols = min(len(panels), 2 if len(panels) == 4 else 3)
    nrows = -(-len(panels) // cols)
    fig, grid = plt.subplots(nrows, cols, figsize=(5.5 * cols, 4 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (column, axis) in zip(grid.flat, panels, strict=False):
        smoothed: list[float] = []  # the scale follows the averages; single steps may clip
        for k, run in enumerate(runs):
            xs = run.positions(axis)
            pts = [(x, r[column]) for x, r in zip(xs, run.rows, strict=True) if x is not None]
            if not pts:
                continue
            x, y = (np.asarray(v, dtype=float) for v in zip(*pts, strict=True))
            color = colors[k % len(colors)]
            smooth = moving_average(y, window_for(len(y)))
            ax.plot(x, y, color=color, alpha=0.2, linewidth=0.5)
            ax.plot(x, smooth, color=color, linewidth=1.6, label=run.label)
            smoothed.extend(v for v in smooth.tolist() if math.isfinite(v))
        positive = bool(smoothed) and min(smoothed) > 0
        if log or (log is None and positive and max(smoothed) / min(smoothed) > 30):
            ax.set_yscale("log")
            if positive:
                ax.set_ylim(bottom=min(smoothed) / 5)
        ax.set_xlabel(X_AXES[axis])
        ax.set_ylabel(column.replace("_", " "))
        ax.set_title(f"{column.replace('_', ' ')} per step (faint) and its moving average")
        ax.grid(alpha=0.3)
    for ax in list(grid.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = grid.flat[0].get_legend_handles_labels()
    if labels:
        grid.flat[0].legend(handles, labels, fontsize="small")
    fig.tight_layout()
    save_figure(plt, fig, path, exclusive)
