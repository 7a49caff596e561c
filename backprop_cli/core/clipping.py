"""Gradient clipping over the whole flat gradient, applied before the optimizer.

Both functions clip in place and return the global norm the gradient had *before* clipping, so the
training loop can log it (as PyTorch's ``clip_grad_norm_`` does).
"""

from __future__ import annotations

import math

import numpy as np

from .types import Array


def global_norm(grads: Array) -> float:
    """‖g‖₂ over every parameter.

    One BLAS dot product in the gradient's own dtype (no copy on the hot path); only if that
    overflows (float32 squares past 3.4e38) is it recomputed in float64, so a huge but finite
    gradient still gets a finite norm and can be clipped. The training loop calls it under
    ``np.errstate(over="ignore")``; elsewhere NumPy may warn about that overflow.
    """
    flat = grads.reshape(-1)
    squared = float(np.dot(flat, flat))
    if math.isinf(squared):
        wide = flat.astype(np.float64)
        squared = float(np.dot(wide, wide))
    return math.sqrt(squared)


def clip_by_norm(grads: Array, max_norm: float) -> float:
    """Rescale the gradient so that its global norm is at most ``max_norm``.

    Math (the seed's rule):
        if ‖g‖ > max_norm:  g ← g · max_norm / ‖g‖
    Returns:
        ‖g‖ before clipping.
    """
    norm = global_norm(grads)
    if norm > max_norm:
        grads *= max_norm / norm
    return norm


def clip_by_value(grads: Array, max_value: float) -> float:
    """Clamp every gradient entry into [−max_value, max_value].

    Math:
        g_i ← min(max(g_i, −c), c),  c = max_value
    Returns:
        ‖g‖ before clipping.
    """
    norm = global_norm(grads)
    np.clip(grads, -max_value, max_value, out=grads)
    return norm
