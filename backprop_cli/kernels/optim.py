"""The optimizers' update rules as one-pass kernels.

Each kernel is the loop body of its NumPy reference in `backprop_cli.core.optim`, in the same
order of operations and in the buffer's own dtype (the scalars are cast to it first, as NumPy
casts a Python float), so it rounds as the reference does. The reference lines are quoted
beside each loop.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.optim import SGD, Adam, Momentum, Nesterov, Optimizer, RMSprop
from ..core.types import Array
from .compile import kernel

State = dict[str, Array]
Update = Callable[[Array, Array, State, Array, float], None]


@kernel
def sgd(w, g, lr):  # type: ignore[no-untyped-def]
    """params -= np.multiply(grads, lr, out=grads)"""
    for i in range(w.size):
        w[i] -= g[i] * lr


@kernel
def momentum(w, g, v, mu, lr):  # type: ignore[no-untyped-def]
    """velocity *= μ;  velocity -= np.multiply(grads, lr);  params += velocity"""
    for i in range(w.size):
        v[i] = v[i] * mu - g[i] * lr
        w[i] += v[i]


@kernel
def nesterov(w, g, v, mu, lr):  # type: ignore[no-untyped-def]
    """velocity *= μ;  velocity -= (tmp = grads·lr);  params -= tmp;  params += velocity·μ"""
    for i in range(w.size):
        step = g[i] * lr
        v[i] = v[i] * mu - step
        w[i] = (w[i] - step) + v[i] * mu


@kernel
def rmsprop(w, g, c, rho, keep, eps, lr):  # type: ignore[no-untyped-def]
    """cache *= ρ;  cache += g²·(1 − ρ);  params -= g / (√cache + ε)·lr"""
    for i in range(w.size):
        c[i] = c[i] * rho + (g[i] * g[i]) * keep
        w[i] -= (g[i] / (math.sqrt(c[i]) + eps)) * lr


@kernel
def adam(w, g, m, v, v_max, k1, q1, q2, c, e, amsgrad):  # type: ignore[no-untyped-def]
    """m *= β₁/(1 − β₁);  m += g;  m *= 1 − β₁
    v += (g² − v)·(1 − β₂)                       (AMSGrad: v_max ← max(v_max, v), used for v̂)
    params -= m / (√v·c + ε/lr_t)"""
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


# How each reference update becomes its kernel's call: the optimizer's scalars cast to the
# buffer's dtype ``d``, as NumPy casts a Python float.
def _sgd(opt: Any, w: Array, g: Array, state: State, tmp: Array, lr: float, d: Any) -> None:
    sgd(w, g, d(lr))


def _momentum(opt: Any, w: Array, g: Array, state: State, tmp: Array, lr: float, d: Any) -> None:
    momentum(w, g, state["velocity"], d(opt.momentum), d(lr))


def _nesterov(opt: Any, w: Array, g: Array, state: State, tmp: Array, lr: float, d: Any) -> None:
    nesterov(w, g, state["velocity"], d(opt.momentum), d(lr))


def _rmsprop(opt: Any, w: Array, g: Array, state: State, tmp: Array, lr: float, d: Any) -> None:
    rmsprop(w, g, state["cache"], d(opt.rho), d(1.0 - opt.rho), d(opt.eps), d(lr))


def _adam(opt: Any, w: Array, g: Array, state: State, tmp: Array, lr: float, d: Any) -> None:
    b1, b2, t = opt.beta1, opt.beta2, opt.step_count
    lr_t = lr / (1.0 - b1**t)
    c = 1.0 / (lr_t * math.sqrt(1.0 - b2**t))
    adam(w, g, state["m"], state["v"], state.get("v_max", tmp), d(b1 / (1.0 - b1)), d(1.0 - b1),
         d(1.0 - b2), d(c), d(opt.eps / lr_t), opt.amsgrad)  # fmt: skip


#: Each reference ``update`` method and the kernel call that replaces it. An optimizer is matched
#: by the update method its class runs, so a subclass that writes its own update never gets a
#: kernel made for another rule (AdamW runs Adam's update, and gets Adam's kernel).
KERNELS: dict[Callable[..., None], Callable[..., None]] = {
    SGD.update: _sgd, Momentum.update: _momentum, Nesterov.update: _nesterov,
    RMSprop.update: _rmsprop, Adam.update: _adam,
}  # fmt: skip


def fused_update(opt: Optimizer) -> Update | None:
    """The kernel-backed ``update`` of ``opt`` (the reference's signature), or None when its
    update has no kernel."""
    call = KERNELS.get(type(opt).update)
    if call is None:
        return None

    def update(params: Array, grads: Array, state: State, tmp: Array, lr: float) -> None:
        call(opt, params, grads, state, tmp, lr, params.dtype.type)

    # Compile now, on buffers of no entries, so that compiling is not timed as a training step.
    probe = copy.copy(opt)
    probe.step_count = 1  # Adam's bias corrections divide by 1 − β^t
    empty = np.empty(0, dtype=opt.dtype)
    call(probe, empty, empty, dict.fromkeys(opt.state_names, empty), empty, 1e-3, opt.dtype.type)
    return update
