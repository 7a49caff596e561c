"""The optimizer interface shared by every update rule.

An optimizer holds its hyperparameters and its state explicitly; ``step`` updates the flat parameter
buffer in place from the (already clipped) flat gradient and the learning rate of the current epoch.
Scheduling and clipping happen outside, in the training loop, in the order clip → schedule → update.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError, ConfigError
from ..types import Array


def check_range(name: str, value: float, low: float, high: float, *, high_open: bool) -> float:
    """Validate ``low ≤ value < high`` (or ≤ high) and return it as a Python float."""
    ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ConfigError(f"{name} must lie in [{low}, {high}{bracket}. Received: {name}={value}")
    return float(value)


def check_positive(name: str, value: float) -> float:
    if not value > 0:
        raise ConfigError(f"{name} must be > 0. Received: {name}={value}")
    return float(value)


class Optimizer:
    """Base class: hyperparameters, state buffers, and L2 weight decay on the weights.

    Math (L2 weight decay λ, every optimizer but AdamW):
        g ← g + λ·w   for the weight tensors W only, never the biases
    """

    name: ClassVar[str] = ""
    #: Names of the flat state arrays, saved and restored by checkpoints.
    state_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        self.lr = check_positive("lr", lr)
        self.weight_decay = check_range("weight_decay", weight_decay, 0.0, 1.0, high_open=True)
        self.n_decay = 0
        self.step_count = 0
        self.state: dict[str, Array] = {}
        self._scratch: Array = np.empty(0)

    def hyperparams(self) -> dict[str, float]:
        """The resolved hyperparameters, e.g. for a comparison table."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def init(self, n_params: int, n_decay: int, dtype: np.dtype) -> None:
        """Allocate zeroed state for a flat buffer of ``n_params`` whose first ``n_decay``
        entries are weights (decayed)."""
        self.n_decay = n_decay
        self.step_count = 0
        self.state = {name: np.zeros(n_params, dtype=dtype) for name in self.state_names}
        self._scratch = np.empty(n_params, dtype=dtype)

    def step(self, params: Array, grads: Array, lr: float) -> None:
        """Update ``params`` in place. ``grads`` may be modified (L2 decay is added to it)."""
        if self._scratch.shape != params.shape or self._scratch.dtype != params.dtype:
            raise RuntimeError(
                f"{type(self).__name__}.init(n_params, n_decay, dtype) must match the buffer "
                f"it updates ({params.size} {params.dtype} parameters) before step()"
            )
        self.step_count += 1
        if self.weight_decay and self.decays_into_gradient():
            w = params[: self.n_decay]
            g = grads[: self.n_decay]
            tmp = self._scratch[: self.n_decay]
            np.multiply(w, self.weight_decay, out=tmp)
            g += tmp
        self.update(params, grads, float(lr))

    def decays_into_gradient(self) -> bool:
        """True for L2 decay (added to g); AdamW overrides with its decoupled form."""
        return True

    def update(self, params: Array, grads: Array, lr: float) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, NDArray[np.generic]]:
        """Copies of the state arrays and the step count."""
        out: dict[str, NDArray[np.generic]] = {k: v.copy() for k, v in self.state.items()}
        out["step_count"] = np.array(self.step_count, dtype=np.int64)
        return out

    def load_state_dict(self, state: dict[str, NDArray[np.generic]], source: str = "state") -> None:
        """Restore exactly what ``state_dict`` returned (after ``init``)."""
        for name in (*self.state_names, "step_count"):
            if name not in state:
                raise CheckpointError(f"{source}: optimizer {self.name} state lacks {name!r}")
        for name in self.state_names:
            value = np.asarray(state[name])
            if value.shape != self.state[name].shape:
                raise CheckpointError(
                    f"{source}: optimizer state {name!r} has shape {value.shape}, "
                    f"the model needs {self.state[name].shape}"
                )
            self.state[name][...] = value
        self.step_count = int(np.asarray(state["step_count"]))
