"""A sweep's search as pictures: how the best score fell (or rose) with the trials and with the
epochs they cost, every trial across the swept values, and the values that mattered most."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts.outcomes import FINISHED, RunStatus
from .plotting import save_figure

#: How each kind of trial is drawn: (colour, marker).
_LOOK = {"finished": ("tab:blue", "o"), "pruned": ("tab:gray", "x"), "other": ("tab:red", "v")}


@dataclass(frozen=True)
class TrialPoint:
    """One trial as the pictures see it: its place, values, score, status and epochs trained."""

    place: int
    params: Mapping[str, Any]
    score: float | None
    status: str
    epochs: int

    @property
    def kind(self) -> str:
        if self.status in FINISHED:
            return "finished"
        return "pruned" if self.status == RunStatus.PRUNED else "other"


def best_so_far(points: Sequence[TrialPoint], mode: str) -> list[float | None]:
    """The best score of the finished trials up to each one, in the order of ``points`` (None
    until one has finished)."""
    better = min if mode == "min" else max
    best: float | None = None
    out: list[float | None] = []
    for point in points:
        if point.kind == "finished" and point.score is not None:
            best = point.score if best is None else better(best, point.score)
        out.append(best)
    return out


def plot_search_history(points: Sequence[TrialPoint], metric: str, mode: str, path: Path) -> None:
    """Two panels: each trial's score and the best so far against the trial's place, and the
    best so far against the epochs all the trials up to it have trained."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(points, key=lambda p: p.place)
    best = best_so_far(ordered, mode)
    spent, total = [], 0
    for point in ordered:
        total += point.epochs
        spent.append(total)
    fig, (by_trial, by_epochs) = plt.subplots(1, 2, figsize=(11, 4))
    for kind, (colour, marker) in _LOOK.items():
        shown = [p for p in ordered if p.kind == kind and p.score is not None]
        if shown:
            by_trial.scatter([p.place for p in shown], [p.score for p in shown], color=colour,
                             marker=marker, s=28, alpha=0.8, label=kind)  # fmt: skip
    for ax, xs in ((by_trial, [p.place for p in ordered]), (by_epochs, spent)):
        steps = [(x, b) for x, b in zip(xs, best, strict=True) if b is not None]
        if steps:
            ax.step(*zip(*steps, strict=True), where="post", color="tab:green",
                    label=f"best so far ({mode})")  # fmt: skip
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    scores = [p.score for p in ordered if p.score is not None]
    if scores and min(scores) > 0 and max(scores) / min(scores) > 30:
        by_trial.set_yscale("log")
        by_epochs.set_yscale("log")
    by_trial.set_xlabel("trial")
    by_epochs.set_xlabel("epochs trained, all trials so far")
    fig.suptitle(f"the search: {metric} by trial, and the best against the epochs spent")
    fig.tight_layout()
    save_figure(plt, fig, path, False)


def plot_parallel(
    points: Sequence[TrialPoint],
    keys: Sequence[str],
    logarithmic: set[str],
    metric: str,
    path: Path,
) -> None:
    """Parallel coordinates: an axis per swept key (scaled to its range, log where it was drawn
    so) and one for the score, a line per scored trial, coloured by its score; pruned trials
    dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, Normalize

    scored = [p for p in points if p.score is not None and math.isfinite(p.score)]
    axes_ = [*keys, metric]
    columns = [_scaled([p.params.get(k) for p in scored], k in logarithmic) for k in keys]
    scores = [p.score for p in scored if p.score is not None]
    spread = bool(scores) and min(scores) > 0 and max(scores) / min(scores) > 30
    columns.append(_scaled(scores, spread))
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(axes_)), 4.5), layout="constrained")
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    if high <= low:  # one score: a range around it, for the colour bar
        low, high = low - 0.5 * abs(low) - 1e-12, high + 0.5 * abs(high) + 1e-12
    norm = (LogNorm if spread else Normalize)(low, high)
    cmap = colormaps["viridis"]
    for i, point in enumerate(scored):
        ys = [column[0][i] for column in columns]
        ax.plot(range(len(axes_)), ys, color=cmap(norm(scores[i])), alpha=0.8,
                linestyle="--" if point.kind == "pruned" else "-", linewidth=1.2)  # fmt: skip
    for x, (_, ticks) in enumerate(columns):
        ax.axvline(x, color="black", linewidth=0.8)
        for y, label in ticks:
            ax.text(x + 0.03, y, label, fontsize=7, va="center")
    ax.set_xticks(range(len(axes_)), axes_, fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(axes_) - 0.6)
    ax.set_ylim(-0.05, 1.05)  # every axis is scaled to [0, 1]
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric)
    fig.suptitle("every scored trial across the swept values (dashed: pruned)")
    save_figure(plt, fig, path, False)


def _scaled(values: Sequence[Any], log: bool) -> tuple[list[float], list[tuple[float, str]]]:
    """``values`` placed on [0, 1] (numbers by value, log where asked; other values by their
    order as text), and a few (position, label) ticks."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not numeric:
        names = sorted({str(v) for v in values})
        place = {name: (k / (len(names) - 1) if len(names) > 1 else 0.5)
                 for k, name in enumerate(names)}  # fmt: skip
        return [place[str(v)] for v in values], [(place[n], n) for n in names]
    log = log and all(v > 0 for v in values)
    xs = [math.log10(v) if log else float(v) for v in values]
    low, high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    span = high - low or 1.0
    ticks = [(0.0, f"{_shown(low, log)}"), (1.0, f"{_shown(high, log)}")] if xs else []
    return [(x - low) / span for x in xs], ticks


def _shown(x: float, log: bool) -> str:
    return f"{10**x:.3g}" if log else f"{x:.4g}"


def plot_importances(importances: Mapping[str, float], metric: str, path: Path) -> None:
    """Each swept key's share of the score's variance (fANOVA), largest on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * len(ranked)))
    ax.barh([k for k, _ in ranked], [v for _, v in ranked], color="tab:blue")
    for y, (_, value) in enumerate(ranked):
        ax.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel(f"importance for {metric} (fANOVA, finished trials)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    save_figure(plt, fig, path, False)
