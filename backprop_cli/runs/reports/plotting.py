"""Pictures of training histories. matplotlib is imported here only, when a picture is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...system.atomic import write_with
from ..artifacts.outcomes import FINISHED


def save_figure(plt: Any, fig: Any, path: Path, exclusive: bool) -> None:
    """Write ``fig`` atomically as PNG (``exclusive``: never over an existing file) and free it."""
    try:
        write_with(path, lambda fh: fig.savefig(fh, format="png", dpi=100), exclusive)
    finally:
        plt.close(fig)


def plot_history(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Loss curves (train and validation, log scale when they span a wide range) and, for
    classification, accuracy curves; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    has_acc = any("train_accuracy" in r for r in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6, 4))
    ax_loss = axes[0] if has_acc else axes
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [r.get(key) for r in history]
        if any(v is not None for v in values):
            ax_loss.plot(epochs, values, marker="." if len(epochs) < 40 else None, label=label)
    losses = [v for r in history for k in ("train_loss", "val_loss") if (v := r.get(k))]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 30:
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(f"{title} loss".strip())
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    if has_acc:
        ax_acc = axes[1]
        for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
            values = [r.get(key) for r in history]
            if any(v is not None for v in values):
                ax_acc.plot(epochs, values, label=label)
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("accuracy")
        ax_acc.set_title(f"{title} accuracy".strip())
        ax_acc.grid(alpha=0.3)
        ax_acc.legend()
    fig.tight_layout()
    save_figure(plt, fig, path, False)


def plot_runs(
    runs: list[tuple[str, list[dict[str, float]]]],
    metrics: list[str],
    path: Path,
    log: bool | None = None,
    title: str = "",
    exclusive: bool = False,
    x: str = "epoch",
) -> None:
    """One panel per metric, one line per run (the same colour in every panel), side by side,
    against the rows' ``x`` column.

    ``log``: True or False forces the y scale; None picks log for a positive metric spanning more
    than 30×. Written atomically as PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(metrics), 3)
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    spans: dict[str, bool] = {}
    for ax, metric in zip(axes.flat, metrics, strict=False):
        values: list[float] = []
        for k, (label, history) in enumerate(runs):
            points = [(r[x], v) for r in history if (v := r.get(metric)) is not None]
            if not points:
                continue
            epochs, ys = zip(*points, strict=True)
            values.extend(ys)
            ax.plot(
                epochs,
                ys,
                color=colors[k % len(colors)],
                linestyle="-" if k < len(colors) else "--",
                marker="." if len(epochs) < 40 else None,
                label=label,
            )
        positive = bool(values) and min(values) > 0
        # Gradient norms and update ratios are read in orders of magnitude: always log.
        spans[metric] = positive and (
            metric in ("grad_norm", "update_ratio") or max(values) / min(values) > 30
        )
        ax.set_xlabel(x)
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    # Loss panels share one scale, so train and validation curves compare at a glance.
    loss_log = any(wide for m, wide in spans.items() if "loss" in m)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        auto = loss_log if "loss" in metric else spans[metric]
        if log or (log is None and auto):
            ax.set_yscale("log")
    handles, labels = max(
        (ax.get_legend_handles_labels() for ax in axes.flat[: len(metrics)]),
        key=lambda hl: len(hl[1]),
    )
    spare = list(axes.flat)[len(metrics) :]
    for ax in spare:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    if spare:  # the legend fills the first empty panel
        spare[0].legend(handles, labels, loc="center", fontsize="small")
        fig.tight_layout()
    else:  # below the panels, with room reserved for its rows
        ncol = min(len(labels), 2)
        legend_in = 0.3 + 0.22 * -(-len(labels) // ncol)
        fig.set_figheight(fig.get_figheight() + legend_in)
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize="small")
        fig.tight_layout(rect=(0, legend_in / fig.get_figheight(), 1, 1))
    save_figure(plt, fig, path, exclusive)


DIAGNOSTICS = ("grad_norm", "update_ratio", "dead_fraction")


def diagnostic_series(
    runs: list[tuple[str, list[dict[str, float]]]],
) -> tuple[list[tuple[str, list[dict[str, float]]]], list[str]]:
    """One series per (run, layer) from the per-layer history columns of `diagnostics`, with the
    columns renamed to grad_norm, update_ratio and dead_fraction; and which of those exist."""
    series = []
    found: list[str] = []
    for label, history in runs:
        layers = sorted(
            {k.rsplit(".", 1)[0] for r in history for k in r if k.endswith(".grad_norm")},
            key=lambda name: [int(p) if p.isdigit() else p for p in name.split(".")],
        )
        for layer in layers:
            rows = [
                {"epoch": r["epoch"]}
                | {m: r[f"{layer}.{m}"] for m in DIAGNOSTICS if f"{layer}.{m}" in r}
                for r in history
            ]
            found += [m for m in DIAGNOSTICS if m in rows[0] and m not in found]
            series.append((layer if len(runs) == 1 else f"{label} {layer}", rows))
    return series, [m for m in DIAGNOSTICS if m in found]


def plot_confusion(
    confusion: list[list[int]], classes: list[str], path: Path, exclusive: bool = False
) -> None:
    """The confusion matrix as a heat map with counts (rows true, columns predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.6 * k))
    image = ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(k), classes)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    top = max(max(row) for row in confusion) or 1
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            colour = "white" if count > top / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize="small")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title("confusion matrix")
    fig.tight_layout()
    save_figure(plt, fig, path, exclusive)


def plot_predictions(truth: Any, predicted: Any, path: Path, exclusive: bool = False) -> None:
    """Regression: predictions against true values, with the line where they agree."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t = np.asarray(truth, dtype=float).reshape(len(predicted), -1)
    p = np.asarray(predicted, dtype=float).reshape(len(predicted), -1)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(t.ravel(), p.ravel(), s=8, alpha=0.6)
    low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("true value")
    ax.set_ylabel("prediction")
    ax.set_title("predictions against truth")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(plt, fig, path, exclusive)


def plot_sweep(
    results: Sequence[tuple[dict[str, Any], float | None, str]],
    keys: list[str],
    logarithmic: set[str],
    metric: str,
    path: Path,
) -> None:
    """The metric against each swept key, one panel per key: (params, score, status) per
    trial; log x for keys drawn log-uniformly or spanning more than 30×."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(keys), 3)
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    scores = [s for _, s, _ in results if s is not None]
    for ax, key in zip(axes.flat, keys, strict=False):
        values = [p.get(key) for p, _, _ in results]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        labels = sorted({str(v) for v in values}) if not numeric else []
        for params, score, status in results:
            if score is None:
                continue
            x = params.get(key) if numeric else labels.index(str(params.get(key)))
            if status in FINISHED:
                ax.scatter(x, score, color="tab:blue", alpha=0.8, s=30)
            elif status == "pruned":  # scored over the epochs it ran: fewer
                ax.scatter(x, score, color="tab:gray", marker="x", alpha=0.8, s=30)
            else:
                ax.scatter(x, score, color="tab:red", alpha=0.8, s=30)
        if numeric:
            positive = [v for v in values if v is not None and v > 0]
            spread = len(positive) == len(values) and max(positive) / min(positive) > 30
            if key in logarithmic or spread:
                ax.set_xscale("log")
        else:
            ax.set_xticks(range(len(labels)), labels)
        if scores and min(scores) > 0 and max(scores) / min(scores) > 30:
            ax.set_yscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    pruned = any(status == "pruned" for _, _, status in results)
    fig.suptitle(f"{metric} by trial (red: diverged" + (", grey ×: pruned)" if pruned else ")"))
    fig.tight_layout()
    save_figure(plt, fig, path, False)
