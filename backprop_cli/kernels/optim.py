"""The optimizers' update rules as one-pass kernels, chosen when a chain is built.

Each kernel is the loop body of the chain's stages it replaces (`backprop_cli.core.optim`: the
rule, −lr, and the final w ← w + u), in the same order of operations and in the buffer's own
dtype (the scalars are cast to it first, as NumPy casts a Python float), so it rounds as the
reference does. The reference lines are quoted beside each loop. `fuse_chain` finds the longest
tail of a chain that a kernel covers and puts a `Fused` stage in its place; the stages before it
(weight decay) stay NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.optim import (
    NesterovTrace,
    ScaleByAdam,
    ScaleByLearningRate,
    ScaleByRms,
    State,
    Trace,
    Transform,
)
from ..core.types import Array
from .compile import kernel


@kernel
def sgd(w, g, lr):  # type: ignore[no-untyped-def]
    """updates *= −lr;  params += updates"""
    for i in range(w.size):
        w[i] -= g[i] * lr


@kernel
def momentum(w, g, v, mu, lr):  # type: ignore[no-untyped-def]
    """updates *= −lr;  velocity *= μ;  velocity += updates;  params += velocity"""
    for i in range(w.size):
        v[i] = v[i] * mu - g[i] * lr
        w[i] += v[i]


@kernel
def nesterov(w, g, v, mu, lr):  # type: ignore[no-untyped-def]
    """updates *= −lr;  velocity *= μ;  velocity += updates;  params += updates;
    params += velocity·μ"""
    for i in range(w.size):
        step = g[i] * lr
        v[i] = v[i] * mu - step
        w[i] = (w[i] - step) + v[i] * mu


@kernel
def rmsprop(w, g, c, rho, keep, eps, lr):  # type: ignore[no-untyped-def]
    """cache *= ρ;  cache += g²·(1 − ρ);  updates = g / (√cache + ε)·(−lr);  params += updates"""
    for i in range(w.size):
        c[i] = c[i] * rho + (g[i] * g[i]) * keep
        w[i] -= (g[i] / (math.sqrt(c[i]) + eps)) * lr


@kernel
def adam(w, g, m, v, v_max, k1, q1, q2, c, e, amsgrad):  # type: ignore[no-untyped-def]
    """m *= β₁/(1 − β₁);  m += g;  m *= 1 − β₁
    v += (g² − v)·(1 − β₂)                       (AMSGrad: v_max ← max(v_max, v), used for v̂)
    params += m / (√v·(−c) − ε/lr_t)             (that is, params −= m / (√v·c + ε/lr_t))"""
    for i in range(w.size):
        m[i] = (m[i] * k1 + g[i]) * q1
        v[i] = v[i] + (g[i] * g[i] - v[i]) * q2
        second = v[i]
        if amsgrad:  # np.maximum: a NaN on either side wins
            most = v_max[i]
            if second != second or (most == most and most < second):
                v_max[i] = second
            second = v_max[i]
        w[i] -= m[i] / (math.sqrt(second) * c + e)


# How each tail of a chain becomes its kernel's call: the stages' scalars cast to the buffer's
# dtype ``d``, as NumPy casts a Python float. ``parts`` are the stages replaced.
Call = Callable[[list[Any], Array, Array, State, Array, float, int, Any], None]


def _sgd(parts: list[Any], w: Array, g: Array, state: State, tmp: Array, lr: float, t: int,
         d: Any) -> None:  # fmt: skip
    sgd(w, g, d(lr))


def _momentum(parts: list[Any], w: Array, g: Array, state: State, tmp: Array, lr: float, t: int,
              d: Any) -> None:  # fmt: skip
    momentum(w, g, state["velocity"], d(parts[1].momentum), d(lr))


def _nesterov(parts: list[Any], w: Array, g: Array, state: State, tmp: Array, lr: float, t: int,
              d: Any) -> None:  # fmt: skip
    nesterov(w, g, state["velocity"], d(parts[1].momentum), d(lr))


def _rmsprop(parts: list[Any], w: Array, g: Array, state: State, tmp: Array, lr: float, t: int,
             d: Any) -> None:  # fmt: skip
    rho, eps = parts[0].rho, parts[0].eps
    rmsprop(w, g, state["cache"], d(rho), d(1.0 - rho), d(eps), d(lr))


def _adam(parts: list[Any], w: Array, g: Array, state: State, tmp: Array, lr: float, t: int,
          d: Any) -> None:  # fmt: skip
    rule = parts[0]
    b1, b2 = rule.beta1, rule.beta2
    lr_t = lr / (1.0 - b1**t)
    c = 1.0 / (lr_t * math.sqrt(1.0 - b2**t))
    adam(w, g, state["m"], state["v"], state.get("v_max", tmp), d(b1 / (1.0 - b1)), d(1.0 - b1),
         d(1.0 - b2), d(c), d(rule.eps / lr_t), rule.amsgrad)  # fmt: skip


#: Each tail of stages a kernel covers, by the stages' exact types (a subclass that writes its own
#: rule never gets a kernel made for another), and its rule's name and kernel's call. Longest first.
KERNELS: dict[tuple[type[Transform], ...], tuple[str, Call]] = {
    (ScaleByLearningRate, Trace): ("momentum", _momentum),
    (ScaleByLearningRate, NesterovTrace): ("nesterov", _nesterov),
    (ScaleByRms, ScaleByLearningRate): ("rmsprop", _rmsprop),
    (ScaleByLearningRate,): ("sgd", _sgd),
    (ScaleByAdam,): ("adam", _adam),
}


class Fused(Transform):
    """A tail of a chain (the rule, −lr, and w ← w + u) as one kernel pass, which applies the
    step itself. Its state is the stages' own, under their names, so checkpoints are the same
    whichever path wrote them."""

    name = "fused"
    applies = True

    def __init__(self, parts: list[Transform], rule: str, call: Call) -> None:
        self.parts, self.rule, self.call = parts, rule, call
        self.state_names = tuple(name for part in parts for name in part.state_names)

    def __repr__(self) -> str:
        return f"{self.name}[{' → '.join(map(repr, self.parts))}]"

    def init(self, n_params: int, n_decay: int, dtype: np.dtype) -> State:
        state: State = {}
        for part in self.parts:
            state |= part.init(n_params, n_decay, dtype)
        # Compile now, on buffers of no entries, so that compiling is not timed as a training
        # step (count 1: Adam's bias corrections divide by 1 − βᵗ).
        empty = np.empty(0, dtype=dtype)
        self.call(self.parts, empty, empty, dict.fromkeys(state, empty), empty, 1e-3, 1,
                  dtype.type)  # fmt: skip
        return state

    def update(
        self, updates: Array, state: State, params: Array, scratch: Array, lr: float, count: int
    ) -> Array:
        self.call(self.parts, params, updates, state, scratch, lr, count, params.dtype.type)
        return updates


def fuse_chain(chain: list[Transform]) -> list[Transform]:
    """``chain`` with its longest tail that a kernel covers run by that kernel (`Fused`); the
    chain as it is when no tail has one."""
    for start in range(len(chain)):
        tail = chain[start:]
        kernel = KERNELS.get(tuple(type(stage) for stage in tail))
        if kernel is not None:
            return [*chain[:start], Fused(tail, *kernel)]
    return chain
