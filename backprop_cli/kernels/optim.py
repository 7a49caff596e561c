"""The optimizers' update rules as one-pass kernels.

Each kernel is the loop body of its NumPy reference in `backprop_cli.core.optim`, in the same
order of operations and in the buffer's own dtype (the scalars are cast to it first, as NumPy
casts a Python float), so it rounds as the reference does. The reference lines are quoted
beside each loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..core.optim import SGD, Adam, Momentum, Nesterov, Optimizer, RMSprop
from ..core.types import Array
from .compile import kernel

Update = Callable[[Array, Array, dict[str, Array], Array, float], None]


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


def fused_update(opt: Optimizer) -> Update | None:
    """The kernel-backed ``update`` of ``opt`` (the reference's signature), or None."""
    if isinstance(opt, Adam):
        adam_opt = opt

        def adam_update(
            params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
        ) -> None:
            d = params.dtype.type
            b1, b2, t = adam_opt.beta1, adam_opt.beta2, adam_opt.step_count
            lr_t = lr / (1.0 - b1**t)
            c = 1.0 / (lr_t * math.sqrt(1.0 - b2**t))
            v_max = state.get("v_max", tmp)
            adam(params, grads, state["m"], state["v"], v_max, d(b1 / (1.0 - b1)), d(1.0 - b1),
                 d(1.0 - b2), d(c), d(adam_opt.eps / lr_t), adam_opt.amsgrad)  # fmt: skip

        return adam_update
    if isinstance(opt, RMSprop):
        rms = opt

        def rmsprop_update(
            params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
        ) -> None:
            d = params.dtype.type
            rmsprop(params, grads, state["cache"], d(rms.rho), d(1.0 - rms.rho), d(rms.eps), d(lr))

        return rmsprop_update
    if isinstance(opt, Momentum):
        rule = nesterov if isinstance(opt, Nesterov) else momentum
        mom = opt

        def momentum_update(
            params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
        ) -> None:
            d = params.dtype.type
            rule(params, grads, state["velocity"], d(mom.momentum), d(lr))

        return momentum_update
    if isinstance(opt, SGD):

        def sgd_update(
            params: Array, grads: Array, state: dict[str, Array], tmp: Array, lr: float
        ) -> None:
            sgd(params, grads, params.dtype.type(lr))

        return sgd_update
    return None


__all__ = ["fused_update", "np"]
