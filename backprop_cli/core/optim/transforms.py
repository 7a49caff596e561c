"""The transforms an optimizer is a chain of, as in optax: clip, decay, the update rule, scale.

A transform is explicit state plus an update, optax's ``GradientTransformation`` made in place for
flat buffers: ``init`` allocates its state once (zeroed arrays, named, saved in checkpoints), and
``update`` rewrites the flat updates buffer in place and returns it, in the buffer's own dtype,
allocating nothing. The chain starts from the gradient and ends by adding the updates to the
parameters:

    u ← g;  u ← T₁(u);  u ← T₂(u);  ...;  w ← w + u

The update rules live with their families (`sgd`, `momentum`, `rmsprop`, `adam`); this module holds
what every family shares: clipping, the two kinds of weight decay and the learning rate's scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..clipping import clip_by_norm, clip_by_value
from ..types import Array

#: A transform's state: its arrays by name (the names a checkpoint stores them under).
State = dict[str, Array]


class Transform:
    """One stage of an optimizer's chain.

    The contract:
    - ``init(n_params, n_decay, dtype)`` returns the zeroed arrays named by ``state_names``; the
      first ``n_decay`` entries of a flat buffer are weights (decayed), the rest biases and the
      like (never decayed).
    - ``update(updates, state, params, scratch, lr, count)`` rewrites ``updates`` in place and
      returns the buffer that holds the updates now: ``updates`` itself, or (`ends_chain`) one of
      its state arrays, which nothing but the final ``w ← w + u`` may read. ``scratch`` is a
      buffer of the parameters' size that any transform may overwrite; ``lr`` is the step's
      learning rate, ``count`` the number of the update (1 at the first).
    - Where the seed's order of operations asks for it, a transform also changes the parameters
      itself (AdamW's decay before the update, Nesterov's gradient half before its look-ahead);
      its docstring says so. A fused kernel (`applies`) applies the whole step itself.
    """

    name: ClassVar[str] = ""
    #: The arrays `init` allocates, zeroed; saved in checkpoints as ``optimizer.<name>``.
    state_names: tuple[str, ...] = ()
    #: Its updates are its own state (no copy is made): it must end the chain.
    ends_chain: ClassVar[bool] = False
    #: It adds its updates to the parameters itself (a fused kernel): it ends the chain, and the
    #: chain adds nothing more.
    applies: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        """Its hyperparameters, for ``repr``."""
        return {}

    def init(self, n_params: int, n_decay: int, dtype: np.dtype) -> State:
        """Zeroed state for a flat buffer of ``n_params`` whose first ``n_decay`` are weights."""
        return {name: np.zeros(n_params, dtype=dtype) for name in self.state_names}

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        raise NotImplementedError

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}({extra})"


#: What building with the fused kernels does to a chain: returns the chain with the stages it
#: has kernels for replaced by them (`backprop_cli.kernels.fuse_chain`).
FuseChain = Callable[[list[Transform]], list[Transform]]


class _Clip(Transform):
    """A clipping of the whole flat gradient. Called as ``clip(grads)`` it clips in place and
    returns ‖g‖ before clipping (as PyTorch's ``clip_grad_norm_``): the training loop applies it
    before the optimizer, logs that norm and stops on a non-finite one before any state
    changes."""

    def __call__(self, grads: Array) -> float:
        raise NotImplementedError

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        self(updates)
        return updates


class ClipByGlobalNorm(_Clip):
    """Rescale the whole flat gradient so that its global norm is at most ``max_norm``.

    Math (the seed's rule):
        if ‖g‖ > max_norm:  g ← g · max_norm / ‖g‖
    """

    name = "clip_by_global_norm"

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def params(self) -> dict[str, Any]:
        return {"max_norm": self.max_norm}

    def __call__(self, grads: Array) -> float:
        return clip_by_norm(grads, self.max_norm)


class ClipByValue(_Clip):
    """Clamp every gradient entry into [−max_value, max_value].

    Math:
        g_i ← min(max(g_i, −c), c),  c = max_value
    """

    name = "clip_by_value"

    def __init__(self, max_value: float) -> None:
        self.max_value = max_value

    def params(self) -> dict[str, Any]:
        return {"max_value": self.max_value}

    def __call__(self, grads: Array) -> float:
        return clip_by_value(grads, self.max_value)


class _OnWeights(Transform):
    """A decay of the weights: the first ``n_decay`` entries of the flat buffer."""

    def __init__(self, weight_decay: float) -> None:
        self.weight_decay = weight_decay
        self.n_decay = 0

    def params(self) -> dict[str, Any]:
        return {"weight_decay": self.weight_decay}

    def init(self, n_params: int, n_decay: int, dtype: np.dtype) -> State:
        self.n_decay = n_decay
        return {}


class AddDecayedWeights(_OnWeights):
    """L2 weight decay, added to the gradient (every optimizer but AdamW).

    Math:
        u ← u + λ·w   for the weights W only, never the biases
    λ = ``weight_decay``.
    """

    name = "add_decayed_weights"

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        n = self.n_decay  # the weights come first in the buffer
        if n:
            updates[:n] += np.multiply(params[:n], self.weight_decay, out=scratch[:n])
        return updates


class DecoupledWeightDecay(_OnWeights):
    """Decoupled weight decay (Loshchilov & Hutter, AdamW's): the weights shrink directly,
    before the update, and the gradient is left alone.

    Math:
        w ← w·(1 − lr·λ)   for the weights W only (w − lr·λ·w, from the weights before this step)
    λ = ``weight_decay``. It changes the parameters, not the updates.
    """

    name = "decoupled_weight_decay"

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        n = self.n_decay
        if n:
            params[:n] *= 1.0 - lr * self.weight_decay
        return updates


class ScaleByLearningRate(Transform):
    """The step's learning rate, as a descent: the updates times −lr.

    Math:
        u ← −lr·u
    lr is the current epoch's (the schedule's), given to every step; −lr·u rounds exactly as
    −(lr·u), so ``w + (−lr·u)`` equals the seed's ``w − lr·u`` bit for bit.
    """

    name = "scale_by_learning_rate"

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        updates *= -lr
        return updates
