"""The training loop: a generator of events that the CLI renders and tests consume directly.

Per step, in this order: forward, loss, backward, clip, update with the epoch's scheduled rate.
The loop itself does no I/O; `backprop_cli.runs.run` writes checkpoints and files from its events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .batching import Batching
from .clipping import global_norm
from .history import EarlyStopping
from .network import Network
from .optim import Optimizer
from .schedules import Schedule
from .types import Array

if TYPE_CHECKING:
    from .diagnostics import Diagnostics

#: Samples per forward pass when evaluating, to bound memory on large splits.
EVAL_CHUNK = 2048
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
    loss: float


@dataclass
class EpochEnded:
    epoch: int
    row: dict[str, float]
    improved: bool  # the monitored metric reached a new best this epoch


@dataclass
class Stopped:
    reason: str  # "completed" | "early_stopping" | "diverged" | "interrupted"
    epoch: int
    detail: str = ""


@dataclass
class Warned:
    epoch: int
    message: str  # a problem the diagnostics found, with its fixes


Event = EpochStarted | StepDone | EpochEnded | Stopped | Warned


@dataclass
class TrainData:
    """Training and validation arrays, targets already in the loss's form."""

    X_train: Array
    y_train: NDArray[Any]
    labels_train: NDArray[np.int64] | None
    X_val: Array | None = None
    y_val: NDArray[Any] | None = None
    labels_val: NDArray[np.int64] | None = None

    @property
    def classification(self) -> bool:
        return self.labels_train is not None


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
    clip: Callable[[Array], float] | None = None
    #: Tracks the best epoch; with a patience it is early stopping.
    monitor: EarlyStopping = field(default_factory=lambda: EarlyStopping("val_loss"))
    epoch: int = 0  # epochs completed
    step: int = 0  # updates applied
    best_params: Array | None = field(default=None, repr=False)
    #: Per-layer gradient-flow figures in the history (training.diagnostics).
    diagnostics: Diagnostics | None = None


def correct_count(net: Network, out: Array, labels: NDArray[np.int64]) -> int:
    """How many samples the outputs classify right (argmax, or a 0.5 threshold for one unit)."""
    if out.shape[1] == 1:
        threshold = 0.0 if net.loss.takes_logits else 0.5
        return int(np.count_nonzero((out[:, 0] > threshold) == labels))
    return int(np.count_nonzero(out.argmax(axis=1) == labels))


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
    training: TrainingState, data: TrainData, stop: Callable[[], bool] | None = None
) -> Iterator[Event]:
    """Run the remaining epochs of ``training``, yielding an event per epoch start, step and end.

    ``stop`` is asked after every step: when it answers True, training ends there with
    ``Stopped("interrupted")``; the epoch in progress is left unfinished (``training.epoch`` still
    counts only completed epochs).
    """
    net, opt = training.net, training.optimizer
    X, y, labels = data.X_train, data.y_train, data.labels_train
    n = len(X)
    steps = training.batching.steps_per_epoch(n)
    stopper = training.monitor
    # Shuffled batches are gathered into these buffers (no allocation per step). With several
    # output units, each step's predicted classes go into `predicted` and its sample indices into
    # `order`; they are compared with the labels once per epoch.
    size = training.batching.batch_size(n)
    X_batch = np.empty((size, *X.shape[1:]), dtype=X.dtype)
    y_batch = np.empty((size, *y.shape[1:]), dtype=y.dtype)
    argmax = labels is not None and net.output_dim > 1
    predicted = np.empty(n if argmax else 0, dtype=np.intp)
    order = np.empty(n if argmax else 0, dtype=np.intp)
    while training.epoch < training.epochs:
        epoch = training.epoch + 1
        lr = training.schedule(training.epoch)
        yield EpochStarted(epoch, lr, steps)
        diagnostics = training.diagnostics
        if diagnostics is not None:
            diagnostics.start_epoch()
        loss_sum, norm_sum, correct, seconds, seen = 0.0, 0.0, 0, 0.0, 0
        for k, idx in enumerate(training.batching.epoch(n, training.shuffle, training.shuffle_rng)):
            if isinstance(idx, slice):
                Xb, yb = X[idx], y[idx]
            else:
                # mode="clip" (the indices are in range) lets take write straight into the
                # buffer; the default mode="raise" copies through a temporary.
                Xb = X.take(idx, axis=0, out=X_batch[: len(idx)], mode="clip")
                yb = y.take(idx, axis=0, out=y_batch[: len(idx)], mode="clip")
            start = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                # Overflow is detected below and reported as divergence, not as warnings.
                out = net.forward(Xb)
                loss = net.loss.forward(out, yb)
                net.backward()
                if diagnostics is not None:
                    diagnostics.after_forward()
                    diagnostics.after_backward()
                norm = training.clip(net.grads) if training.clip else global_norm(net.grads)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                what = "loss" if not math.isfinite(loss) else "gradient"
                detail = (
                    f"non-finite {what} at epoch {epoch}, step {k + 1} (first non-finite "
                    f"gradient: {first_non_finite(net)}); {_HINT}"
                )
                yield Stopped("diverged", epoch, detail)
                return
            if diagnostics is not None:
                diagnostics.before_update()
                opt.step(net.params, net.grads, lr)
                diagnostics.after_update()
            else:
                opt.step(net.params, net.grads, lr)
            seconds += time.perf_counter() - start
            training.step += 1
            size = len(out)
            loss_sum += loss * size
            norm_sum += norm
            if argmax:
                out.argmax(axis=1, out=predicted[seen : seen + size])
                if not isinstance(idx, slice):
                    order[seen : seen + size] = idx
                elif size == 1:
                    order[seen] = idx.start
                else:
                    order[seen : seen + size] = np.arange(idx.start, idx.stop)
            elif labels is not None:
                correct += correct_count(net, out, labels[idx])
            seen += size
            yield StepDone(epoch, k + 1, steps, loss)
            if stop is not None and stop():
                detail = f"stopped during epoch {epoch} after step {k + 1} of {steps}"
                yield Stopped("interrupted", epoch, detail)
                return
        if argmax:
            assert labels is not None
            correct = int(np.count_nonzero(predicted == labels[order]))
        row: dict[str, float] = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / n}
        if data.classification:
            row["train_accuracy"] = correct / n
        if data.X_val is not None and data.y_val is not None:
            row["val_loss"], val_acc = evaluate(net, data.X_val, data.y_val, data.labels_val)
            if val_acc is not None:
                row["val_accuracy"] = val_acc
        row["grad_norm"] = norm_sum / steps
        row["train_seconds"] = seconds
        if diagnostics is not None:
            row.update(diagnostics.end_epoch())
        if not np.all(np.isfinite(net.params)):
            yield Stopped("diverged", epoch, f"non-finite weights after epoch {epoch}; " + _HINT)
            return
        training.epoch = epoch
        monitored = row.get(stopper.monitor, row["train_loss"])
        if not math.isfinite(monitored):
            yield Stopped("diverged", epoch, f"non-finite {stopper.monitor} at epoch {epoch}")
            return
        improved = stopper.update(epoch, monitored)
        if improved:
            if training.best_params is None:
                training.best_params = net.params.copy()
            else:
                training.best_params[...] = net.params
        yield EpochEnded(epoch, row, improved)
        for message in diagnostics.warnings(row) if diagnostics is not None else ():
            yield Warned(epoch, message)
        if stopper.should_stop:
            if stopper.restore_best and training.best_params is not None:
                net.params[...] = training.best_params
            yield Stopped("early_stopping", epoch, f"no improvement for {stopper.patience} epochs")
            return
    yield Stopped("completed", training.epoch)
