"""What a small network has learned, drawn in the data's own units.

- ``boundary.png``, for a classifier of two input features: the class the network predicts at
  every point of the plane (for one sigmoid output, the probability of class 1 and its 0.5
  contour), with the training and validation points coloured by class.
- ``fit.png``, for a regression of one input feature: the data and the fitted curve.
- ``boundary.gif``: the boundary at each saved epoch, so the boundary can be watched forming.

A picture takes a ``predict`` function of raw (unstandardized) features, so it is drawn the same
way from a run's live network or from any checkpoint. matplotlib is imported only here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...core.task import decide
from ...system.atomic import write_with
from ..artifacts.layout import ANIMATION, BOUNDARY_PLOT, FIT_PLOT
from .plotting import save_figure

Predict = Callable[[NDArray[np.float64]], NDArray[Any]]

#: Points per axis of the grid the classes are predicted on.
GRID = 200
#: At most this many points of a split are drawn (a sample, the same every time).
MAX_POINTS = 2000


def picture_name(n_features: int, classification: bool) -> str | None:
    """boundary.png, fit.png, or None when neither picture applies."""
    if classification and n_features == 2:
        return BOUNDARY_PLOT
    if not classification and n_features == 1:
        return FIT_PLOT
    return None


@dataclass
class Scene:
    """The points to draw (raw units) and how to name things."""

    points: list[tuple[str, NDArray[np.float64], NDArray[Any]]]  # (split, X, y)
    classification: bool
    feature_names: list[str] = field(default_factory=list)
    target_name: str = "y"
    class_names: list[str] = field(default_factory=list)

    def extent(self) -> list[tuple[float, float]]:
        """Each feature's range over every point, widened by a tenth on each side (a constant
        feature by 1, or a millionth of its value where 1 is lost in its rounding, as at 1e18)."""
        X = np.concatenate([x for _, x, _ in self.points])
        low, high = X.min(axis=0), X.max(axis=0)
        pad = np.where(high > low, (high - low) / 10, np.maximum(1.0, np.abs(low) * 1e-6))
        return list(zip((low - pad).tolist(), (high + pad).tolist(), strict=True))


def scene(
    splits: Sequence[tuple[str, NDArray[Any] | None, NDArray[Any] | None]],
    classification: bool,
    feature_names: list[str] | None,
    target_name: str | None,
    class_names: list[str] | None,
) -> Scene:
    """A scene of the splits given (those that exist), each sampled to `MAX_POINTS`."""
    points = []
    for name, X, y in splits:
        if X is None or y is None or len(X) == 0:
            continue
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if len(X) > MAX_POINTS:
            keep = np.sort(np.random.default_rng(0).choice(len(X), MAX_POINTS, replace=False))
            X, y = X[keep], y[keep]
        points.append((name, X, y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y))
    width = points[0][1].shape[1] if points else 0
    return Scene(
        points,
        classification,
        feature_names or [f"x{i + 1}" for i in range(width)],
        target_name or "y",
        class_names or [],
    )


def draw(ax: Any, predict: Predict, where: Scene, title: str = "", cax: Any = None) -> None:
    """The boundary (two features) or the fitted curve (one feature) on ``ax``; a probability
    colour bar goes on ``cax`` when given (an animation keeps one in place)."""
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    (x0, x1), *rest = where.extent()
    if where.classification:
        (y0, y1) = rest[0]
        gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
        probs = predict(np.column_stack([gx.ravel(), gy.ravel()]))
        if probs.shape[1] == 1:  # one sigmoid unit: the probability of class 1
            p = probs[:, 0].reshape(gx.shape)
            filled = ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5)
            ax.contour(gx, gy, p, levels=[0.5], colors="black", linewidths=1.2)
            if cax is not None:
                cax.clear()
            named = where.class_names[1] if len(where.class_names) > 1 else "class 1"
            ax.figure.colorbar(filled, ax=None if cax is not None else ax, cax=cax,
                               label=f"P({named})")  # fmt: skip
        else:
            k = probs.shape[1]
            predicted = decide(probs).reshape(gx.shape)
            palette = [colors[c % len(colors)] for c in range(k)]
            from matplotlib.colors import ListedColormap

            ax.contourf(gx, gy, predicted, levels=np.arange(-0.5, k), cmap=ListedColormap(palette),
                        alpha=0.3)  # fmt: skip
            ax.contour(gx, gy, predicted, levels=np.arange(0.5, k - 1), colors="black",
                       linewidths=0.8)  # fmt: skip
        binary_colors = ["#2166ac", "#b2182b"]  # RdBu's ends: class 0 blue, class 1 red
        for split, X, y in where.points:
            labels = y.astype(np.intp)
            for c in np.unique(labels):
                color = binary_colors[c] if probs.shape[1] == 1 else colors[c % len(colors)]
                name = where.class_names[c] if c < len(where.class_names) else str(c)
                chosen = labels == c
                ax.scatter(X[chosen, 0], X[chosen, 1], s=14, color=color,
                           marker="o" if split == "train" else "^",
                           edgecolors="white" if split == "train" else "black", linewidths=0.5,
                           label=f"{name} ({split})")  # fmt: skip
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xlabel(where.feature_names[0])
        ax.set_ylabel(where.feature_names[1])
    else:
        grid = np.linspace(x0, x1, 400)
        fitted = predict(grid[:, None])[:, 0]
        for k, (split, X, y) in enumerate(where.points):
            ax.scatter(X[:, 0], y, s=10, color=colors[(k + 1) % len(colors)], alpha=0.6,
                       label=f"{split} data")  # fmt: skip
        ax.plot(grid, fitted, color=colors[0], linewidth=2, label="network")
        ax.set_xlabel(where.feature_names[0])
        ax.set_ylabel(where.target_name)
    ax.legend(fontsize="x-small", loc="best")
    ax.set_title(title)


def plot_picture(
    predict: Predict, where: Scene, path: Path, title: str = "", exclusive: bool = False
) -> None:
    """boundary.png or fit.png, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5.5))
    draw(ax, predict, where, title)
    fig.tight_layout()
    save_figure(plt, fig, path, exclusive)


def animate(
    frames: list[tuple[str, Predict]],
    where: Scene,
    path: Path,
    fps: int = 4,
    exclusive: bool = False,
) -> None:
    """A GIF of the picture at each of ``frames`` (title, predict), through matplotlib's Pillow
    writer; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    first = where.points[0][1][:1]
    if where.classification and frames[0][1](first).shape[1] == 1:  # a probability colour bar
        fig, (ax, cax) = plt.subplots(1, 2, figsize=(7, 5.5), gridspec_kw={"width_ratios": [24, 1]})
    else:
        (fig, ax), cax = plt.subplots(figsize=(7, 5.5)), None

    def show(i: int) -> list[Any]:
        ax.clear()
        title, predict = frames[i]
        draw(ax, predict, where, title, cax)
        return []

    show(0)
    fig.tight_layout()
    movie = FuncAnimation(fig, show, frames=len(frames), blit=False)
    try:
        with tempfile.TemporaryDirectory() as folder:
            made = Path(folder) / ANIMATION
            movie.save(made, writer=PillowWriter(fps=fps))
            data = made.read_bytes()
    finally:
        plt.close(fig)

    def write(fh: Any) -> None:
        fh.write(data)

    write_with(path, write, exclusive)
