"""`bprop lr-find` on disk: the range test of `core.lr_find` from a config's initial weights,
written as lr_find.csv (step, lr, loss, smoothed_loss) and lr_find.png."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...config import ExperimentConfig
from ...core.lr_find import MAX_STEPS, RangeTest, range_test, rates, training_steps
from ...errors import argument
from ...system.atomic import write_text
from ...system.resources import check_count
from ..artifacts.layout import LR_FIND_CSV, LR_FIND_FILES, LR_FIND_PLOT
from ..artifacts.step_log import csv_number
from ..train.plan import prepare

FILES = LR_FIND_FILES


def run_range_test(
    cfg: ExperimentConfig, start: float, end: float, steps: int
) -> Iterator[RangeTest]:
    """The test on ``cfg``'s data, network and optimizer (its schedule is not used: the ramp
    sets every update's rate), yielding it after every update. ``steps`` is checked at once,
    the config's data and network as the test starts."""
    check_count(argument("steps"), steps, MAX_STEPS, f"{steps:,} updates", "a range test makes")
    return _updates(cfg, rates(start, end, steps))


def _updates(cfg: ExperimentConfig, ramp: np.ndarray) -> Iterator[RangeTest]:
    prepared = prepare(cfg)
    step = training_steps(prepared.training, prepared.train)
    yield from range_test(step, ramp)


def csv_text(test: RangeTest) -> str:
    buf = io.StringIO()
    buf.write("step,lr,loss,smoothed_loss\n")
    for i, (lr, loss, smooth) in enumerate(zip(test.lrs, test.losses, test.smoothed, strict=True)):
        buf.write(f"{i + 1},{csv_number(lr)},{csv_number(loss)},{csv_number(smooth)}\n")
    return buf.getvalue()


def write(test: RangeTest, out_dir: Path, title: str) -> list[Path]:
    """lr_find.csv and lr_find.png in ``out_dir``."""
    write_text(out_dir / LR_FIND_CSV, csv_text(test))
    plot(test, out_dir / LR_FIND_PLOT, title)
    return [out_dir / name for name in FILES]


def plot(test: RangeTest, path: Path, title: str) -> None:
    """The smoothed loss against a log lr axis (each batch's loss faint), the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(test.lrs, test.losses, color="C0", alpha=0.25, linewidth=0.8, label="batch loss")
    ax.plot(test.lrs, test.smoothed, color="C0", linewidth=2, label="smoothed loss")
    suggestion = test.suggestion()
    if suggestion is not None:
        at = test.smoothed[test.lrs.index(suggestion)]
        ax.axvline(suggestion, color="C3", linestyle="--", linewidth=1)
        ax.plot([suggestion], [at], "o", color="C3", label=f"suggested lr {suggestion:.2g}")
    finite = [s for s in test.smoothed if s == s and abs(s) != float("inf")]
    if finite:  # the scale of the smoothed curve; single batches may go off the top
        low, high = min(finite), max(finite)
        pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
        ax.set_ylim(low - pad, high + pad)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(plt, fig, path, exclusive=False)
