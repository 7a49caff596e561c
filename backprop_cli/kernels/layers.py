"""A dense layer's element-wise work as one-pass kernels: bias plus activation forward, and the
activation's derivative times the upstream gradient backward.

The references are `Dense.forward` (``z += b`` then ``a = σ(z)``) and `Activation.backward`
(``dz = dout ⊙ σ′(z)``); each loop body below is their arithmetic for one entry, in the buffer's
dtype. Activations with a kernel: relu, leaky_relu and linear, which round exactly as NumPy does.
tanh and sigmoid keep the NumPy path: NumPy's own vectorised float32 tanh and exp differ from the
C library's by a unit in the last place, which a kernel could not follow bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.activations import Activation
from ..core.layers import Dense
from ..core.network import Network
from ..core.types import Array
from .compile import kernel
from .units import EXACT, UNITS, activate, slope

#: The activations with layer kernels, by the code the kernels branch on: those that round
#: exactly as NumPy does.
KINDS = {name: UNITS[name] for name in EXACT}


@kernel
def bias_activation(z, b, a, kind, alpha, zero, one):  # type: ignore[no-untyped-def]
    """z += b;  a = σ(z)   (z: rows × units, b: units; ``zero`` and ``one`` in z's dtype)"""
    rows, units = z.shape
    for r in range(rows):
        for u in range(units):
            x = z[r, u] + b[u]
            z[r, u] = x
            a[r, u] = activate(x, kind, alpha, zero, one)


@kernel
def activation_grad(dout, z, a, dz, kind, alpha, zero, one):  # type: ignore[no-untyped-def]
    """dz = dout ⊙ σ′(z)"""
    rows, units = z.shape
    for r in range(rows):
        for u in range(units):
            dz[r, u] = dout[r, u] * slope(z[r, u], a[r, u], kind, alpha, zero, one)


def _fused(activation: Activation) -> tuple[Callable[..., None], Callable[..., None]] | None:
    """The forward and backward kernels for ``activation``, bound to its parameters."""
    kind = KINDS.get(activation.name)
    if kind is None:
        return None
    alpha = float(getattr(activation, "alpha", 0.0))

    def forward(z: Array, b: Array, a: Array) -> None:
        d = z.dtype.type
        bias_activation(z, b, a, kind, d(alpha), d(0), d(1))

    def backward(dout: Array, z: Array, a: Array, dz: Array) -> None:
        d = z.dtype.type
        activation_grad(dout, z, a, dz, kind, d(alpha), d(0), d(1))

    return forward, backward


def install_layers(net: Network) -> int:
    """Give each dense layer of ``net`` whose activation has kernels its fused element-wise
    work (`Dense.fused`); returns how many layers took them."""
    count = 0
    for _, layer in net.walk():
        if isinstance(layer, Dense) and not layer.fused_output:
            pair = _fused(layer.activation)
            if pair is not None:
                layer.fused = pair
                count += 1
                # Compile now, on a batch of no rows, so that compiling is not a training step.
                rows = np.empty((0, layer.units), dtype=net.dtype)
                pair[0](rows, layer.b, rows)
                pair[1](rows, rows, rows, rows)
    return count
