"""The activations' formulas for one entry, σ(z) and σ′(z), as the kernels compute them.

Each is the arithmetic of its NumPy reference in `backprop_cli.core.activations`, in the entry's
dtype. linear, relu and leaky_relu round exactly as NumPy does; tanh and sigmoid use the C
library's tanh and exp, which may differ from NumPy's vectorised float32 ones in the last place
(so the layer kernels leave those two to NumPy, and only the whole step uses them).
"""

from __future__ import annotations

import math

from .compile import kernel

#: The activations, by the code `activate` and `slope` branch on.
UNITS = {"linear": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4}
#: Those whose kernels round exactly as NumPy does.
EXACT = ("linear", "relu", "leaky_relu")


@kernel
def activate(z, kind, alpha, zero, one):  # type: ignore[no-untyped-def]
    """a = σ(z) for one entry."""
    if kind == 0:
        return z
    if kind == 1:  # np.maximum(z, 0): NaN stays NaN
        return z if (z > zero or z != z) else zero
    if kind == 2:  # np.multiply(z, α); np.copyto(out, z, where=z > 0)
        return z if z > zero else z * alpha
    if kind == 3:
        return math.tanh(z)
    e = math.exp(-abs(z))  # sigmoid, stable: (1 or e^−|z|) / (1 + e^−|z|)
    return (one if z >= zero else e) / (one + e)


@kernel
def slope(z, a, kind, alpha, zero, one):  # type: ignore[no-untyped-def]
    """σ′(z) for one entry (from z, or from a = σ(z) where that is how the reference does it)."""
    if kind == 0:
        return one
    if kind == 1:  # 1 where z > 0, else 0
        return one if z > zero else zero
    if kind == 2:  # 1 where z > 0, else α
        return one if z > zero else alpha
    if kind == 3:
        return one - a * a
    return (one - a) * a
