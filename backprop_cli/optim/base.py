"""The optimizer interface shared by every update rule.

An optimizer holds its hyperparameters and its state explicitly; ``step`` updates the flat parameter
buffer in place from the (already clipped) flat gradient and the learning rate of the current epoch.
Scheduling and clipping happen outside, in the training loop, in the order clip → schedule → update.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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


#: Flat buffers at least this long are updated by two threads, each on its own half: NumPy releases
#: the GIL inside element-wise loops and the halves are independent, so the result is bit for bit
#: that of one pass. Below it, waking a thread costs more than it saves.
PARALLEL_MIN = 1 << 16
_pool: ThreadPoolExecutor | None = None


def _helper() -> ThreadPoolExecutor | None:
    """The one helper thread for updates of large buffers (None on a single core)."""
    global _pool
    if _pool is None and (os.cpu_count() or 1) > 1:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bprop-update")
    return _pool


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
        lr = float(lr)
        n = params.size
        helper = _helper() if n >= PARALLEL_MIN else None
        if helper is None:
            self._step_slice(params, grads, lr, 0, n)
            return
        half = (n // 2) & ~63  # keep both halves aligned for SIMD
        job = helper.submit(self._step_slice, params, grads, lr, half, n)
        self._step_slice(params, grads, lr, 0, half)
        job.result()

    def _step_slice(self, params: Array, grads: Array, lr: float, lo: int, hi: int) -> None:
        """Weight decay and the update rule on entries [lo, hi) of every buffer."""
        if lo == 0 and hi == params.size:  # the whole buffer: no slicing
            w, g, tmp, state = params, grads, self._scratch, self.state
        else:
            w, g, tmp = params[lo:hi], grads[lo:hi], self._scratch[lo:hi]
            state = {name: buffer[lo:hi] for name, buffer in self.state.items()}
        decayed = min(max(self.n_decay - lo, 0), hi - lo)  # weights come first in the buffer
        if self.weight_decay and decayed:
            if self.decays_into_gradient():  # L2: g ← g + λ·w
                np.multiply(w[:decayed], self.weight_decay, out=tmp[:decayed])
                g[:decayed] += tmp[:decayed]
            else:  # decoupled (AdamW): w ← w − lr·λ·w, before the update
                w[:decayed] *= 1.0 - lr * self.weight_decay
        self.update(w, g, state, tmp, lr)

    def decays_into_gradient(self) -> bool:
        """True for L2 decay (added to g); False for decay applied to the weights directly."""
        return True

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        """The update rule, in place, on matching slices of the parameters, the gradient, each
        state buffer and a scratch buffer ``tmp``. Element-wise: any slicing gives the same
        result."""
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
