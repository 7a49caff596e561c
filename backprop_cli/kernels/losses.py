"""Softmax cross-entropy on class labels, its loss and gradient in one pass over the logits.

The reference is `SoftmaxCrossEntropy.forward` then `.backward` (unweighted, integer labels):

    m = max_j z_j;  e = exp(z − m);  s = Σ_j e_j;  ŷ = e / s
    ℓ = log s − (z_y − m)                  (summed over the batch in float64, then / N)
    ∂L/∂z = ŷ / N,  minus 1/N at the label

The loop body below is that arithmetic for one row, in the logits' dtype. It rounds as the
reference does except for exp and log: NumPy's vectorised float32 exp and log may differ from
the C library's in the last place, so float32 results agree to rounding, not bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.losses import SoftmaxCrossEntropy
from ..core.network import Network
from ..core.types import Array
from .compile import kernel


@kernel(inline="always")  # its callers' loops see its body
def softmax_row(z, grad, r, col, k, y, zero, one, n_):  # type: ignore[no-untyped-def]
    """ℓ of row ``r``'s logits ``z[r, col : col + k]`` with label ``y``; its ∂L/∂z into the same
    entries of ``grad`` (``zero``, ``one`` and the batch's rows ``n_`` in the logits' dtype)."""
    m = z[r, col]
    for j in range(col + 1, col + k):  # np.maximum: a NaN wins
        if z[r, j] > m or z[r, j] != z[r, j]:
            m = z[r, j]
    s = zero
    for j in range(col, col + k):
        e = math.exp(z[r, j] - m)
        grad[r, j] = e
        s += e
    for j in range(col, col + k):
        grad[r, j] = grad[r, j] / s / n_
    grad[r, col + y] -= one / n_
    return math.log(s) - (z[r, col + y] - m)


@kernel
def softmax_cross_entropy(z, labels, grad, zero, one, n_):  # type: ignore[no-untyped-def]
    """Σ_rows ℓ in float64; ∂L/∂z into ``grad``."""
    rows, k = z.shape
    total = 0.0
    for r in range(rows):
        total += softmax_row(z, grad, r, 0, k, labels[r], zero, one, n_)
    return total


def _fused(z: Array, labels: Array, grad: Array) -> float:
    d = z.dtype.type
    return float(softmax_cross_entropy(z, labels, grad, d(0), d(1), d(len(z))))


def install_loss(net: Network) -> bool:
    """Give ``net``'s softmax cross-entropy its one-pass kernel; False for another loss."""
    if type(net.loss) is not SoftmaxCrossEntropy:
        return False
    net.loss.fused = _fused
    # Compile now, on a batch of no rows, so that compiling is not a training step.
    rows = np.empty((0, net.output_dim), dtype=net.dtype)
    _fused(rows, np.empty(0, dtype=np.intp), rows)
    return True
