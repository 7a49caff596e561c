"""The training loop: a generator of events that the CLI renders and tests consume directly.

Per step, in this order: forward, loss, backward, clip, update with the epoch's scheduled rate.
The loop itself does no I/O; `backprop_cli.runs.train.run` hands its events to the sinks that
write checkpoints and files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .batching import Batching
from .clipping import global_norm
from .epoch import AccuracyTally, BatchGatherer, correct_count
from .history import EarlyStopping
from .network import Network
from .optim import Optimizer
from .schedules import Schedule
from .split import Split
from .types import Array

if TYPE_CHECKING:
    from .diagnostics import Diagnostics

#: Samples per forward pass when evaluating, to bound memory on large splits.
EVAL_CHUNK = 2048
#: Seconds of compiled steps between the events of an epoch kernel: progress moves, and a stop
#: is heard, at least this often.
CHUNK_SECONDS = 0.25
_HINT = (
    "lower the learning rate or add training.clip; against exploding gradients the notes also "
    "name careful initialization and batchnorm"
)


@dataclass
class EpochStarted:
    epoch: int  # 1-based
    lr: float
    steps: int


@dataclass
class StepDone:
    epoch: int
    step: int  # 1-based within the epoch
    steps: int
    loss: float  # the batch's mean loss, before the update
    update: int  # 1-based count of updates applied in the whole run, this one included
    lr: float  # the rate the update used
    grad_norm: float  # ‖∂L/∂θ‖ before clipping


@dataclass
class EpochEnded:
    epoch: int
    row: dict[str, float]
    improved: bool  # the monitored metric reached a new best this epoch


class StopReason(StrEnum):
    """Why a run's training ended, as metrics.json's ``stop_reason`` spells it (a `str`)."""

    COMPLETED = "completed"  # every epoch trained
    EARLY_STOPPING = "early_stopping"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"  # stopped after a step on request; resumable
    PRUNED = "pruned"  # stopped after an epoch by a search's judge: a poor trial

    @property
    def finished(self) -> bool:
        """Training reached its end (every epoch, or until early stopping)."""
        return self in (StopReason.COMPLETED, StopReason.EARLY_STOPPING)


@dataclass
class Stopped:
    reason: StopReason
    epoch: int
    detail: str = ""


@dataclass
class Warned:
    epoch: int
    message: str  # a problem the diagnostics found, with its fixes


Event = EpochStarted | StepDone | EpochEnded | Stopped | Warned


@dataclass
class TrainingState:
    """Everything that changes during training, so a checkpoint can capture it exactly."""

    net: Network
    optimizer: Optimizer
    schedule: Schedule
    batching: Batching
    epochs: int
    shuffle: bool
    shuffle_rng: np.random.Generator
    #: Clips the gradient in place, returning its norm before clipping (`ClipByGlobalNorm`).
    clip: Callable[[Array], float] | None = None
    #: Tracks the best epoch; with a patience it is early stopping.
    monitor: EarlyStopping = field(default_factory=lambda: EarlyStopping.tracker("val_loss"))
    epoch: int = 0  # epochs completed
    step: int = 0  # updates applied
    best_params: Array | None = field(default=None, repr=False)
    #: Per-layer gradient-flow figures in the history (training.diagnostics).
    diagnostics: Diagnostics | None = None
    #: The code the step runs: "numpy" (the reference) or "fused" (compiled kernels in the
    #: optimizer's chain and installed on the layers and the loss; see `backprop_cli.kernels`).
    kernels: str = "numpy"
    #: A compiled whole step, (X, y) → (outputs, loss, gradient norm), or None for a batch it
    #: does not take; when set, it stands in for forward, loss, backward and norm (not while
    #: diagnostics watch the layers).
    step_kernel: Callable[[Array, NDArray], tuple[Array, float, float] | None] | None = None
    #: Compiled steps, many to a call (`EpochKernel`); when set, and it takes the split, it
    #: runs whole chunks of each epoch (not while diagnostics watch the layers).
    epoch_kernel: EpochKernel | None = None
    #: Why the run takes its path, in words (``training.kernels: auto`` says what it weighed).
    path: str = ""


class EpochKernel(Protocol):
    """Training steps compiled into one call (`backprop_cli.kernels.epoch`): gather, forward,
    loss, backward, norm, clip and update, each step's figures left in arrays."""

    #: Each step's mean loss and gradient norm (before clipping), at its place in the epoch.
    losses: NDArray[np.float64]
    norms: NDArray[np.float64]
    #: Each sample's predicted class, at its place in the epoch's order.
    predicted: NDArray[np.intp]

    def takes(self, X: Array, y: NDArray) -> bool:
        """Whether it can train on this split (its arrays' layout and types)."""
        ...

    def start(self, steps: int, n: int) -> None:
        """Room for an epoch of ``steps`` steps over ``n`` samples."""
        ...

    def run(
        self, X: Array, y: NDArray, order: NDArray[np.intp], first: int, last: int, lr: float
    ) -> int:
        """Steps ``first`` to ``last − 1`` of the epoch visiting the rows in ``order``, with
        rate ``lr``; how many were applied (fewer when a step's loss or gradient was not
        finite: that step's figures are written, its update is not)."""
        ...


def evaluate(
    net: Network, X: Array, y: NDArray[Any], labels: NDArray[np.int64] | None
) -> tuple[float, float | None]:
    """Mean loss and accuracy (None for regression) of the whole split, in evaluation mode."""
    total, weight, correct = 0.0, 0.0, 0
    for start in range(0, len(X), EVAL_CHUNK):
        stop = start + EVAL_CHUNK
        out = net.forward(X[start:stop], training=False)
        total += net.loss.forward(out, y[start:stop]) * net.loss.weight_sum  # weighted sums
        weight += net.loss.weight_sum
        if labels is not None:
            correct += correct_count(net, out, labels[start:stop])
    n = len(X)
    return total / weight if weight > 0 else 0.0, (correct / n if labels is not None else None)


def first_non_finite(net: Network) -> str:
    """The name of the first parameter tensor (in layer order) whose gradient is not finite."""
    for name in sorted(net.slots, key=lambda s: (int(s.split(".")[1]), s)):
        if not np.all(np.isfinite(net.grad(name))):
            return name
    return "none"


def train(
    training: TrainingState,
    split: Split,
    val: Split | None = None,
    stop: Callable[[], bool] | None = None,
    judge: Callable[[EpochEnded], str | None] | None = None,
) -> Iterator[Event]:
    """Run the remaining epochs of ``training`` on the training ``split`` (evaluated on ``val``
    after each epoch), yielding an event per epoch start, step and end. Both splits hold their
    targets in the loss's form (`Split.for_loss`); accuracy is kept when they have labels.

    ``stop`` is asked after every step: when it answers True, training ends there with
    ``Stopped(StopReason.INTERRUPTED)``; the epoch in progress is left unfinished
    (``training.epoch`` still counts only completed epochs). ``judge`` is shown every epoch's
    end: when it answers a reason, training ends there with ``Stopped(StopReason.PRUNED)``.
    """
    net, n = training.net, len(split)
    steps = training.batching.steps_per_epoch(n)
    accuracy = AccuracyTally(net, split.labels, n)
    diagnostics = training.diagnostics
    compiled = training.epoch_kernel
    if compiled is not None and (diagnostics is not None or not compiled.takes(split.X, split.y)):
        compiled = None
    epoch_steps = (
        _StepByStep(training, split, accuracy, stop)
        if compiled is None
        else _Compiled(training, compiled, split, accuracy, stop)
    )
    while training.epoch < training.epochs:
        epoch = training.epoch + 1
        lr = training.schedule(training.epoch)
        yield EpochStarted(epoch, lr, steps)
        if diagnostics is not None:
            diagnostics.start_epoch()
        accuracy.start()
        outcome = yield from epoch_steps.run(epoch, lr, steps)
        if isinstance(outcome, Stopped):
            yield outcome
            return
        loss_sum, norm_sum, seconds = outcome
        row: dict[str, float] = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / n}
        if split.labels is not None:
            row["train_accuracy"] = accuracy.correct() / n
        row.update(_validation(net, val))
        row["grad_norm"] = norm_sum / steps
        row["train_seconds"] = seconds
        if diagnostics is not None:
            row.update(diagnostics.end_epoch())
        if not np.all(np.isfinite(net.params)):
            yield Stopped(
                StopReason.DIVERGED, epoch, f"non-finite weights after epoch {epoch}; " + _HINT
            )
            return
        training.epoch = epoch
        stopper = training.monitor
        monitored = row.get(stopper.monitor, row["train_loss"])
        if not math.isfinite(monitored):
            yield Stopped(
                StopReason.DIVERGED, epoch, f"non-finite {stopper.monitor} at epoch {epoch}"
            )
            return
        improved = stopper.update(epoch, monitored)
        if improved:
            _keep_best(training)
        training.schedule.end_epoch(row)  # an adaptive schedule picks the next epoch's rate
        ended = EpochEnded(epoch, row, improved)
        yield ended
        for message in diagnostics.warnings(row) if diagnostics is not None else ():
            yield Warned(epoch, message)
        pruned = judge(ended) if judge is not None else None
        if pruned is not None:
            yield Stopped(StopReason.PRUNED, epoch, pruned)
            return
        if stopper.should_stop:
            _restore_best(training)
            yield Stopped(
                StopReason.EARLY_STOPPING, epoch, f"no improvement for {stopper.patience} epochs"
            )
            return
    _restore_best(training)
    yield Stopped(StopReason.COMPLETED, training.epoch)


class _StepByStep:
    """An epoch's steps one by one: the reference step (or a compiled whole step), an event
    after each."""

    def __init__(
        self,
        training: TrainingState,
        split: Split,
        accuracy: AccuracyTally,
        stop: Callable[[], bool] | None,
    ) -> None:
        self.training, self.split, self.accuracy, self.stop = training, split, accuracy, stop
        n = len(split)
        self.batches = BatchGatherer(split.X, split.y, training.batching.batch_size(n))

    def run(
        self, epoch: int, lr: float, steps: int
    ) -> Generator[Event, None, tuple[float, float, float] | Stopped]:
        """The epoch's steps, an event after each; the sums of the batches' losses (weighted by
        their rows) and gradient norms and the seconds the steps took, or why training stopped
        during the epoch."""
        training, net, stop = self.training, self.training.net, self.stop
        loss_sum, norm_sum, seconds = 0.0, 0.0, 0.0
        order = training.batching.epoch(len(self.split), training.shuffle, training.shuffle_rng)
        for k, idx in enumerate(order):
            Xb, yb = self.batches.gather(idx)
            start = time.perf_counter()
            out, loss, norm = forward_backward(training, Xb, yb)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                return Stopped(StopReason.DIVERGED, epoch, _diverged_at(net, loss, epoch, k + 1))
            apply_update(training, lr)
            seconds += time.perf_counter() - start
            training.step += 1
            loss_sum += loss * len(out)
            norm_sum += norm
            self.accuracy.add(out, idx)
            yield StepDone(epoch, k + 1, steps, loss, training.step, lr, norm)
            if stop is not None and stop():
                detail = f"stopped during epoch {epoch} after step {k + 1} of {steps}"
                return Stopped(StopReason.INTERRUPTED, epoch, detail)
        return loss_sum, norm_sum, seconds


class _Compiled:
    """An epoch's steps in chunks of compiled steps (`EpochKernel`), each chunk's events
    after it. A chunk lasts about `CHUNK_SECONDS` (the first of a run is one step, to time
    one); how an epoch is cut changes no number. ``stop`` is asked after every step's event,
    and training stops at the end of the chunk (where the weights are)."""

    def __init__(
        self,
        training: TrainingState,
        kernel: EpochKernel,
        split: Split,
        accuracy: AccuracyTally,
        stop: Callable[[], bool] | None,
    ) -> None:
        self.training, self.kernel, self.split = training, kernel, split
        self.accuracy, self.stop = accuracy, stop
        self.step_seconds = 0.0  # the latest chunk's seconds per step

    def run(
        self, epoch: int, lr: float, steps: int
    ) -> Generator[Event, None, tuple[float, float, float] | Stopped]:
        training, kernel, split, stop = self.training, self.kernel, self.split, self.stop
        n = len(split)
        size = training.batching.batch_size(n)
        order = training.batching.order(n, training.shuffle, training.shuffle_rng)
        kernel.start(steps, n)
        loss_sum, norm_sum, seconds, first = 0.0, 0.0, 0.0, 0
        while first < steps:
            chunk = 1
            if self.step_seconds > 0:
                chunk = max(1, int(CHUNK_SECONDS / self.step_seconds))
            last = min(steps, first + chunk)
            start = time.perf_counter()
            done = kernel.run(split.X, split.y, order, first, last, lr)
            took = time.perf_counter() - start
            seconds += took
            self.step_seconds = took / max(done, 1)
            losses = kernel.losses[first : first + done].tolist()
            norms = kernel.norms[first : first + done].tolist()
            stopping = False
            for k, (loss, norm) in enumerate(zip(losses, norms, strict=True), start=first):
                training.step += 1
                loss_sum += loss * min(size, n - k * size)
                norm_sum += norm
                yield StepDone(epoch, k + 1, steps, loss, training.step, lr, norm)
                stopping = stopping or (stop is not None and stop())
            rows = slice(first * size, (first + done) * size)
            self.accuracy.add_classes(kernel.predicted[rows], order[rows])
            if done < last - first:  # step first + done diverged (0-based), not applied
                loss = float(kernel.losses[first + done])
                what = _diverged_at(training.net, loss, epoch, first + done + 1)
                return Stopped(StopReason.DIVERGED, epoch, what)
            first += done
            if stopping:
                detail = f"stopped during epoch {epoch} after step {first} of {steps}"
                return Stopped(StopReason.INTERRUPTED, epoch, detail)
        return loss_sum, norm_sum, seconds


def _restore_best(training: TrainingState) -> None:
    """End with the best epoch's weights when the tracker says so (``restore_best``), whether
    early stopping or the epoch limit ended the run."""
    if training.monitor.restore_best and training.best_params is not None:
        training.net.params[...] = training.best_params


def forward_backward(training: TrainingState, X: Array, y: NDArray) -> tuple[Array, float, float]:
    """One step's outputs, mean loss and gradient norm (before clipping); the gradient, clipped,
    is left in ``net.grads``."""
    net, diagnostics = training.net, training.diagnostics
    if training.step_kernel is not None and diagnostics is None:
        stepped = training.step_kernel(X, y)
        if stepped is not None:
            if training.clip is None:
                return stepped
            with np.errstate(over="ignore", invalid="ignore"):
                return stepped[0], stepped[1], training.clip(net.grads)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # Overflow is detected by the caller and reported as divergence, not as warnings.
        out = net.forward(X)
        loss = net.loss.forward(out, y)
        net.backward()
        if diagnostics is not None:
            diagnostics.after_forward()
            diagnostics.after_backward()
        norm = training.clip(net.grads) if training.clip else global_norm(net.grads)
    return out, loss, norm


def apply_update(training: TrainingState, lr: float) -> None:
    """The optimizer's step with the epoch's rate: the one place the parameters change."""
    diagnostics = training.diagnostics
    if diagnostics is not None:
        diagnostics.before_update()
    training.optimizer.step(training.net.params, training.net.grads, lr)
    if diagnostics is not None:
        diagnostics.after_update()


def _diverged_at(net: Network, loss: float, epoch: int, step: int) -> str:
    what = "loss" if not math.isfinite(loss) else "gradient"
    return (
        f"non-finite {what} at epoch {epoch}, step {step} (first non-finite gradient: "
        f"{first_non_finite(net)}); {_HINT}"
    )


def _validation(net: Network, val: Split | None) -> dict[str, float]:
    """The validation split's loss (and accuracy), when there is one."""
    if val is None:
        return {}
    loss, accuracy = evaluate(net, val.X, val.y, val.labels)
    return {"val_loss": loss} if accuracy is None else {"val_loss": loss, "val_accuracy": accuracy}


def _keep_best(training: TrainingState) -> None:
    """Copy the weights of a new best epoch (into the same buffer after the first)."""
    if training.best_params is None:
        training.best_params = training.net.params.copy()
    else:
        training.best_params[...] = training.net.params
