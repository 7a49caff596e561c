"""Gradient clipping over the whole flat gradient, applied before the optimizer.

Both functions clip in place and return the global norm the gradient had *before* clipping, so the
training loop can log it (as PyTorch's ``clip_grad_norm_`` does).
"""

from __future__ import annotations

import math

import numpy as np

from .types import Array


def global_norm(grads: Array) -> float:
    """‖g‖₂ over every parameter, accumulated in float64."""
    flat = grads.reshape(-1)
    return math.sqrt(float(np.dot(flat.astype(np.float64, copy=False), flat)))


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
