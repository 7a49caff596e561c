"""The optimizer: a chain of transforms (`transforms`) built from declared hyperparameters.

An optimizer holds its hyperparameters and, per transform of its chain, that transform's state,
explicitly; ``step`` runs the chain on the flat gradient and adds the result to the flat parameter
buffer in place, with the learning rate of the current epoch. Scheduling and clipping happen
outside, in the training loop, in the order clip → schedule → update.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ...errors import CheckpointError
from ..hyper import Hyper, check_all
from ..types import Array
from .transforms import AddDecayedWeights, FuseChain, State, Transform


class Optimizer:
    """Base class: hyperparameters, a chain of transforms and their explicit state.

    The contract every optimizer keeps:
    - ``hyper`` declares its hyperparameters (merged with its bases'); the constructor takes
      exactly those, checked against their ranges. ``default_lr`` is the config's default lr.
    - ``chain`` lists its transforms (`backprop_cli.core.optim.transforms`), built once, in the
      constructor: there ``fuse`` (the fused kernels, `backprop_cli.kernels.fuse_chain`) may
      replace the stages it has kernels for.
    - The learning rate is not a hyperparameter: ``step`` receives the current epoch's lr (after
      the schedule), and that is the only lr an update uses.
    - ``state_names`` lists the state arrays of the whole chain, zeroed by ``init`` and saved in
      checkpoints; ``step_count`` counts the updates.
    - ``step`` uses the gradient buffer as scratch: it is not read after the step.

    Math (L2 weight decay λ, every optimizer but AdamW: `AddDecayedWeights` leads the chain):
        g ← g + λ·w   for the weight tensors W only, never the biases
    """

    name: ClassVar[str] = ""
    #: Where the optimizer is listed among the others (config reference, schema, help).
    rank: ClassVar[int] = 100
    default_lr: ClassVar[float] = 0.01
    hyper: ClassVar[dict[str, Hyper]] = {
        "weight_decay": Hyper(0.0, "L2 decay on weights (not biases).", 0.0, 1.0, high_open=True)
    }

    def __init__(self, fuse: FuseChain | None = None, **hyperparams: Any) -> None:
        checked = check_all(f"optimizer {self.name}", self.hyperparameters(), hyperparams)
        for key, value in checked.items():
            setattr(self, key, value)
        self.weight_decay: float
        chain = self.chain()
        self.transforms: tuple[Transform, ...] = tuple(fuse(chain) if fuse else chain)
        for transform in self.transforms[:-1]:
            if transform.ends_chain or transform.applies:
                raise ValueError(f"{transform!r} must end its chain: {self!r}")
        if len(set(self.state_names)) < len(self.state_names):
            raise ValueError(f"two transforms name the same state array: {self!r}")
        self._adds = not (self.transforms and self.transforms[-1].applies)
        self._stages: tuple[tuple[Transform, State], ...] = ()
        self.step_count = 0
        self.states: tuple[State, ...] = ()
        self.state: dict[str, Array] = {}
        self._scratch: Array = np.empty(0)

    def chain(self) -> list[Transform]:
        """The transforms of this optimizer, in order, from its hyperparameters."""
        raise NotImplementedError

    def decay(self) -> list[Transform]:
        """The chain's weight decay: L2 added to the gradient, when λ > 0."""
        return [AddDecayedWeights(self.weight_decay)] if self.weight_decay else []

    @property
    def fused(self) -> bool:
        """Whether a fused kernel runs any stage of the chain."""
        return any(transform.applies for transform in self.transforms)

    @property
    def state_names(self) -> tuple[str, ...]:
        """The names of the chain's state arrays, saved and restored by checkpoints."""
        return tuple(name for transform in self.transforms for name in transform.state_names)

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
        self.step_count = 0
        self.states = tuple(t.init(n_params, n_decay, dtype) for t in self.transforms)
        self.state = {name: array for state in self.states for name, array in state.items()}
        self._stages = tuple(zip(self.transforms, self.states, strict=True))
        self._scratch = np.empty(n_params, dtype=dtype)

    def step(self, params: Array, grads: Array, lr: float) -> None:
        """Update ``params`` in place with learning rate ``lr``: the chain runs on ``grads``
        (scratch: it may be overwritten) and its updates are added to ``params``."""
        if self._scratch.shape != params.shape or self._scratch.dtype != params.dtype:
            raise RuntimeError(
                f"{type(self).__name__}.init(n_params, n_decay, dtype) must match the buffer "
                f"it updates ({params.size} {params.dtype} parameters) before step()"
            )
        self.step_count += 1
        lr, count, scratch = float(lr), self.step_count, self._scratch
        updates = grads
        for transform, state in self._stages:
            updates = transform.update(updates, state, params, scratch, lr, count)
        if self._adds:
            params += updates  # w ← w + u

    def __repr__(self) -> str:
        return f"{type(self).__name__}({' → '.join(map(repr, self.transforms))})"

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
