"""The optimizer interface shared by every update rule.

An optimizer holds its hyperparameters and its state explicitly; ``step`` updates the flat parameter
buffer in place from the (already clipped) flat gradient and the learning rate of the current epoch.
Scheduling and clipping happen outside, in the training loop, in the order clip → schedule → update.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ...errors import CheckpointError
from ..hyper import Hyper, check_all
from ..types import Array


class Optimizer:
    """Base class: hyperparameters, explicit state, and L2 weight decay on the weights.

    The contract every optimizer keeps:
    - ``hyper`` declares its hyperparameters (merged with its bases'); the constructor takes
      exactly those, checked against their ranges. ``default_lr`` is the config's default lr.
    - The learning rate is not a hyperparameter: ``step`` receives the current epoch's lr (after
      the schedule), and that is the only lr an update uses.
    - ``state_names`` lists the state arrays, zeroed by ``init`` and saved in checkpoints.
    - ``update`` works in place and may use both ``grads`` and ``tmp`` as scratch: the gradient
      buffer is not read after the step.

    Math (L2 weight decay λ, every optimizer but AdamW):
        g ← g + λ·w   for the weight tensors W only, never the biases
    """

    name: ClassVar[str] = ""
    #: Where the optimizer is listed among the others (config reference, schema, help).
    rank: ClassVar[int] = 100
    default_lr: ClassVar[float] = 0.01
    hyper: ClassVar[dict[str, Hyper]] = {
        "weight_decay": Hyper(0.0, "L2 decay on weights (not biases).", 0.0, 1.0, high_open=True)
    }
    #: Names of the flat state arrays, saved and restored by checkpoints.
    state_names: tuple[str, ...] = ()

    def __init__(self, **hyperparams: Any) -> None:
        checked = check_all(f"optimizer {self.name}", self.hyperparameters(), hyperparams)
        for key, value in checked.items():
            setattr(self, key, value)
        self.weight_decay: float
        self.n_decay = 0
        self.step_count = 0
        self.state: dict[str, Array] = {}
        self._scratch: Array = np.empty(0)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the buffers `init` allocated (float64 before it is called)."""
        return self._scratch.dtype

    @classmethod
    def hyperparameters(cls) -> dict[str, Hyper]:
        """Every hyperparameter of this optimizer, its bases' first."""
        merged: dict[str, Hyper] = {}
        for klass in reversed(cls.__mro__):
            merged.update(getattr(klass, "hyper", {}))
        return merged

    def hyperparams(self) -> dict[str, float | bool]:
        """The resolved hyperparameters, e.g. for a comparison table."""
        return {key: getattr(self, key) for key in self.hyperparameters()}

    def init(self, n_params: int, n_decay: int, dtype: np.dtype) -> None:
        """Allocate zeroed state for a flat buffer of ``n_params`` whose first ``n_decay``
        entries are weights (decayed)."""
        self.n_decay = n_decay
        self.step_count = 0
        self.state = {name: np.zeros(n_params, dtype=dtype) for name in self.state_names}
        self._scratch = np.empty(n_params, dtype=dtype)

    def step(self, params: Array, grads: Array, lr: float) -> None:
        """Update ``params`` in place with learning rate ``lr``. ``grads`` is scratch: L2 decay
        is added to it, and the update rule may overwrite it."""
        if self._scratch.shape != params.shape or self._scratch.dtype != params.dtype:
            raise RuntimeError(
                f"{type(self).__name__}.init(n_params, n_decay, dtype) must match the buffer "
                f"it updates ({params.size} {params.dtype} parameters) before step()"
            )
        self.step_count += 1
        lr = float(lr)
        n = self.n_decay  # the weights come first in the buffer
        if self.weight_decay and n:
            if self.decays_into_gradient():  # L2: g ← g + λ·w
                grads[:n] += np.multiply(params[:n], self.weight_decay, out=self._scratch[:n])
            else:  # decoupled (AdamW): w ← w − lr·λ·w, before the update
                params[:n] *= 1.0 - lr * self.weight_decay
        self.update(params, grads, self.state, self._scratch, lr)

    def decays_into_gradient(self) -> bool:
        """True for L2 decay (added to g); False for decay applied to the weights directly."""
        return True

    def update(
        self, params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
    ) -> None:
        """The update rule, in place, on the parameters and each state buffer; ``grads`` and
        ``tmp`` (a buffer of the same size) are scratch."""
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
