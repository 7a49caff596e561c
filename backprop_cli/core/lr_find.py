"""The learning-rate range test (Smith, 2017; the "lr finder" of fastai and PyTorch Lightning).

From the initial weights, one update per batch with the rate rising geometrically,

    lr_i = start · (end / start)^(i / (steps − 1)),   i = 0 … steps − 1,

and the loss of each batch (before its update) smoothed by a bias-corrected exponential average

    m_i = β·m_{i−1} + (1 − β)·L_i  (m_{−1} = 0),   s_i = m_i / (1 − β^(i+1)),   β = 0.98.

The test stops early once s_i > 4·min_{j≤i} s_j (the loss is blowing up) or L_i is not finite.
The suggested rate is where the smoothed loss falls fastest against log lr: the lr_i minimizing
ds/d(log lr) (central differences, one-sided at the ends), looked for between update 11 (the
average of the first few losses still swings with single batches) and the minimum of s (past
it the loss rises).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .epoch import BatchGatherer
from .split import Split
from .training import TrainingState, apply_update, forward_backward

BETA = 0.98
STOP_FACTOR = 4.0
#: Updates left out at the start when looking for the steepest descent.
SKIP_START = 10
#: The most updates a test makes (each keeps its rate and losses; a few hundred are usual).
MAX_STEPS = 100_000


def rates(start: float, end: float, steps: int) -> np.ndarray:
    """The geometric ramp of ``steps`` rates from ``start`` to ``end``."""
    return start * (end / start) ** (np.arange(steps) / (steps - 1))


@dataclass
class RangeTest:
    """What the test measured, one entry per update made."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stop: str = "completed"  # or "diverged": the loss passed STOP_FACTOR × its minimum

    def suggestion(self) -> float | None:
        """The rate of steepest descent of the smoothed loss, after the first `SKIP_START`
        updates and up to the lowest smoothed loss (None with fewer than 3 such points)."""
        finite = [s if math.isfinite(s) else math.inf for s in self.smoothed]
        if len(finite) <= SKIP_START:
            return None
        lowest = SKIP_START + int(np.argmin(finite[SKIP_START:]))
        s = np.array(finite[SKIP_START : lowest + 1])
        if len(s) < 3:
            return None
        x = np.log10(self.lrs[SKIP_START : lowest + 1])
        return self.lrs[SKIP_START + int(np.argmin(np.gradient(s, x)))]


def range_test(
    step: Callable[[float], float], ramp: np.ndarray, beta: float = BETA
) -> Iterator[RangeTest]:
    """Make ``step(lr)`` (one update at that rate, returning the batch's loss before it) for each
    rate of ``ramp``; yields the test after every update, the last one as it ended."""
    test, mean, best = RangeTest(), 0.0, math.inf
    for i, lr in enumerate(ramp.tolist()):
        loss = step(lr)
        mean = beta * mean + (1 - beta) * loss
        smoothed = mean / (1 - beta ** (i + 1))
        test.lrs.append(lr)
        test.losses.append(loss)
        test.smoothed.append(smoothed)
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > STOP_FACTOR * best:
            test.stop = "diverged"
            yield test
            return
        yield test


def training_steps(training: TrainingState, split: Split) -> Callable[[float], float]:
    """One update of ``training`` on the next batch of ``split`` at a given rate: its batches in
    the training's own order (shuffled each pass from its generator), with its clipping."""
    n = len(split)
    batches = BatchGatherer(split.X, split.y, training.batching.batch_size(n))
    order: Iterator[object] = iter(())

    def step(lr: float) -> float:
        nonlocal order
        idx = next(order, None)
        if idx is None:
            order = iter(training.batching.epoch(n, training.shuffle, training.shuffle_rng))
            idx = next(order)
        Xb, yb = batches.gather(idx)  # type: ignore[arg-type]
        _, loss, norm = forward_backward(training, Xb, yb)
        if math.isfinite(loss) and math.isfinite(norm):
            apply_update(training, lr)
        return loss

    return step
