"""Activation functions, each with its derivative written right beside it.

Every activation maps pre-activations ``z`` (N, units) to activations ``a`` of the same shape, and
its ``backward`` turns the upstream gradient ``dout = ∂L/∂a`` into ``∂L/∂z``. Element-wise
activations also expose ``derivative(z, a) = σ′(z)`` so that ``backward`` is ``dout ⊙ σ′(z)``,
the seed's ``δ = (...) ⊙ σ′(z)``; softmax couples the units of a row and applies its Jacobian
instead.

All functions keep the dtype of their input: a float32 array never becomes float64.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..errors import ConfigError
from .hyper import Hyper, check_all
from .types import Array


class Activation:
    """Base class: ``forward`` computes a = σ(z); ``backward`` computes ∂L/∂z from ∂L/∂a."""

    name: ClassVar[str] = ""
    #: The activation's hyperparameters (config keys of the layer that uses it).
    hyper: ClassVar[dict[str, Hyper]] = {}
    #: True when each output depends on every unit of its row (softmax): there is no
    #: element-wise derivative, and ``backward`` applies the full Jacobian.
    couples_units: ClassVar[bool] = False
    #: True for the ReLU family: He initialization by default, and units that can die.
    relu_family: ClassVar[bool] = False

    def forward(self, z: Array, out: Array | None = None) -> Array:
        raise NotImplementedError

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        """σ′(z) element-wise, given both z and a = σ(z) (into ``out`` when given)."""
        raise NotImplementedError

    def backward(self, dout: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        """∂L/∂z = dout ⊙ σ′(z) for element-wise activations (``out`` must not be ``dout``)."""
        d = self.derivative(z, a, out=out)
        return np.multiply(dout, d, out=d if out is None else out)

    def params(self) -> dict[str, float]:
        """Hyperparameters, for display and for rebuilding the activation."""
        return {key: getattr(self, key) for key in self.hyper}

    # An activation may learn tensors of its own (prelu's slopes); its layer stores them with
    # its parameters (never weight-decayed) and binds views of the flat buffers here.
    def param_shapes(self, units: int) -> dict[str, tuple[int, ...]]:
        """The shapes of the activation's trainable tensors in a layer of ``units`` units."""
        return {}

    def initial_params(self, units: int, dtype: np.dtype) -> dict[str, Array]:
        return {}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        """Views of the activation's tensors and their gradients (filled by ``backward``)."""

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({extra})"


class Sigmoid(Activation):
    """Logistic sigmoid.

    Math:
        σ(z) = 1 / (1 + e^(−z))
        σ′(z) = σ(z)·(1 − σ(z))
    Computed without overflow: for z < 0 it uses e^z / (1 + e^z).
    """

    name = "sigmoid"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        e = np.exp(-np.abs(z))
        # z ≥ 0: 1 / (1 + e^(−z));  z < 0: e^z / (1 + e^z).  Both read e = e^(−|z|).
        numerator = np.where(z >= 0, np.ones_like(e), e)
        return np.divide(numerator, 1 + e, out=out)

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        out = np.subtract(1, a, out=out)
        out *= a
        return out


class Tanh(Activation):
    """Hyperbolic tangent.

    Math:
        tanh(z) = (e^z − e^(−z)) / (e^z + e^(−z))
        tanh′(z) = 1 − tanh²(z)
    """

    name = "tanh"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return np.tanh(z, out=out)

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        out = np.multiply(a, a, out=out)
        return np.subtract(1, out, out=out)


class ReLU(Activation):
    """Rectified linear unit.

    Math:
        relu(z) = max(0, z)
        relu′(z) = 1 if z > 0 else 0
    """

    name = "relu"
    relu_family = True

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return np.maximum(z, 0, out=out)

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            out = np.empty_like(z)
        return np.greater(z, 0, out=out, casting="unsafe")  # 1.0 where z > 0, else 0.0


class LeakyReLU(Activation):
    """Leaky ReLU with slope ``alpha`` for negative inputs.

    Math:
        leaky_relu(z) = z if z > 0 else α·z
        leaky_relu′(z) = 1 if z > 0 else α
    """

    name = "leaky_relu"
    relu_family = True
    hyper: ClassVar[dict[str, Hyper]] = {
        "alpha": Hyper(0.01, "Slope for z < 0.", 0, 1, high_open=True)
    }

    def __init__(self, alpha: float | None = None) -> None:
        self.alpha: float = self.hyper["alpha"].take("leaky_relu alpha", alpha)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        if out is None:
            out = np.empty_like(z)
        np.multiply(z, self.alpha, out=out)
        np.copyto(out, z, where=z > 0)
        return out

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            out = np.empty_like(z)
        np.greater(z, 0, out=out, casting="unsafe")
        return np.maximum(out, self.alpha, out=out)  # 1 where z > 0, α elsewhere (α < 1)


class ELU(Activation):
    """Exponential linear unit (Clevert et al., 2016): negative outputs that saturate at −α.

    Math:
        elu(z) = z if z > 0 else α·(e^z − 1)
        elu′(z) = 1 if z > 0 else α·e^z  (= a + α)
    Units never die: for z ≤ 0 the derivative is α·e^z > 0.
    """

    name = "elu"
    hyper: ClassVar[dict[str, Hyper]] = {
        "alpha": Hyper(1.0, "The value −α that negative inputs saturate at.", 0, low_open=True)
    }

    def __init__(self, alpha: float | None = None) -> None:
        self.alpha: float = self.hyper["alpha"].take("elu alpha", alpha)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        out = np.minimum(z, 0, out=out)
        np.expm1(out, out=out)
        out *= self.alpha
        np.copyto(out, z, where=z > 0)
        return out

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        out = np.add(a, self.alpha, out=out)  # α·e^z = α·(e^z − 1) + α where z ≤ 0
        np.copyto(out, 1, where=z > 0)
        return out


class PReLU(Activation):
    """Parametric ReLU (He et al., 2015): leaky ReLU whose slope α_k is learned, one per unit.

    Math (unit k of sample n):
        prelu(z)_nk = z_nk if z_nk > 0 else α_k·z_nk
        ∂a/∂z = 1 if z > 0 else α_k
        ∂L/∂α_k = Σ_n ∂L/∂a_nk · min(z_nk, 0)
    The slopes start at 0.25 and are saved with the weights as ``layers.{i}.alpha``. Unbound (on
    its own, outside a layer) every slope is 0.25 and no slope gradient is kept.
    """

    name = "prelu"
    relu_family = True
    INITIAL = 0.25

    def __init__(self) -> None:
        self.alpha: Array | float = self.INITIAL
        self.dalpha: Array | None = None

    def param_shapes(self, units: int) -> dict[str, tuple[int, ...]]:
        return {"alpha": (units,)}

    def initial_params(self, units: int, dtype: np.dtype) -> dict[str, Array]:
        return {"alpha": np.full(units, self.INITIAL, dtype=dtype)}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        self.alpha, self.dalpha = params["alpha"], grads["alpha"]

    def forward(self, z: Array, out: Array | None = None) -> Array:
        out = np.multiply(z, self.alpha, out=out)
        np.copyto(out, z, where=z > 0)
        return out

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            out = np.empty_like(z)
        out[...] = self.alpha  # each unit's slope, in every row
        np.copyto(out, 1, where=z > 0)
        return out

    def backward(self, dout: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            out = np.empty_like(z)
        if self.dalpha is not None:
            np.minimum(z, 0, out=out)
            np.einsum("ij,ij->j", dout, out, out=self.dalpha)  # Σ_n dout ⊙ min(z, 0)
        d = self.derivative(z, a, out=out)
        return np.multiply(dout, d, out=d)


class Linear(Activation):
    """Identity, for regression outputs.

    Math:
        linear(z) = z
        linear′(z) = 1
    """

    name = "linear"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        if out is None:
            return z.copy()
        np.copyto(out, z)
        return out

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            return np.ones_like(z)
        out.fill(1)
        return out

    def backward(self, dout: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            return dout.copy()
        np.copyto(out, dout)
        return out


class Softmax(Activation):
    """Softmax over the units of each row (sample).

    Math:
        softmax(z)_k = e^(z_k − max_j z_j) / Σ_j e^(z_j − max_j z_j)
        ∂a_k/∂z_j = a_k·(1[k = j] − a_j), so for an upstream gradient g:
        ∂L/∂z = a ⊙ (g − Σ_k g_k·a_k)
    With cross-entropy the product collapses to ŷ − y; that fused form lives in `losses`.
    """

    name = "softmax"
    couples_units = True

    def forward(self, z: Array, out: Array | None = None) -> Array:
        shifted = np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
        np.exp(shifted, out=shifted)
        shifted /= shifted.sum(axis=-1, keepdims=True)
        return shifted

    def derivative(self, z: Array, a: Array, out: Array | None = None) -> Array:
        raise TypeError("softmax has a full Jacobian, not an element-wise derivative; use backward")

    def backward(self, dout: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        inner = np.sum(dout * a, axis=-1, keepdims=True)
        result = np.subtract(dout, inner, out=out)
        result *= a
        return result


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, PReLU, Softmax, Linear)
}

#: Activations whose default initializer is He (the ReLU family); every other one gets Xavier.
RELU_FAMILY = frozenset(name for name, cls in ACTIVATIONS.items() if cls.relu_family)


def get_activation(name: str, **params: float) -> Activation:
    """Build an activation by name, e.g. ``get_activation("leaky_relu", alpha=0.1)``."""
    try:
        cls = ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ConfigError(f"unknown activation {name!r}; choose one of: {known}") from None
    return cls(**check_all(f"activation {name}", cls.hyper, params))
