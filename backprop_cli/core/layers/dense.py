"""The fully connected layer."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..activations import RELU_FAMILY, Activation
from ..hyper import Hyper
from ..initializers import default_initializer, initialize
from ..types import Array
from .base import Layer, ParamSpec


class Dense(Layer):
    """Fully connected layer with its activation, weights stored as in the seed.

    Math (a batch is the rows of x, N samples):
        z = x Wᵀ + b              x: (N, fan_in), W: (units, fan_in), b: (units,), z: (N, units)
        a = σ(z)
        δ = ∂L/∂z = dout ⊙ σ′(z)  (softmax: its Jacobian; fused output: dout is already δ)
        ∂L/∂W = δᵀ x              (units, fan_in): the seed's δ aᵀ summed over the batch
        ∂L/∂b = Σ_n δ_n           (units,)
        ∂L/∂x = δ W               (N, fan_in): feeds W_{l}ᵀ δ_l to the layer below

    When ``fused_output`` is set (the last layer under a loss that takes logits), ``forward``
    returns z and ``backward`` receives δ itself.
    """

    name = "dense"
    hyper: ClassVar[dict[str, Hyper]] = {"bias": Hyper(0.0, "Initial value of every bias.")}

    def __init__(
        self,
        units: int,
        activation: Activation,
        init: str | None = None,
        init_params: dict[str, float] | None = None,
        bias: float = 0.0,
    ) -> None:
        if units < 1:
            raise ValueError(f"a dense layer needs at least one unit. Received: units={units}")
        self.units = units
        self.activation = activation
        self.init = init or default_initializer(activation.name)
        self.init_params = dict(init_params or {})
        self.initial_bias: float = self.hyper["bias"].check("dense bias", bias)
        self.fan_in = 0
        self.fused_output = False
        self.W: Array = np.empty((0, 0))
        self.b: Array = np.empty(0)
        self.dW: Array = np.empty((0, 0))
        self.db: Array = np.empty(0)
        # Buffers sized for the largest batch seen; a batch of n rows uses their first n rows, so
        # no step allocates (the last, smaller batch of an epoch included).
        self._zbuf: Array = np.empty((0, units))
        self._abuf: Array = np.empty((0, units))
        self._dzbuf: Array = np.empty((0, units))
        self._dxbuf: Array = np.empty((0, 0))
        self._ones: Array = np.empty(0)
        self._n = -1  # the batch size the views in _batch are for
        self._batch: tuple[Array, Array, Array, Array, Array] = (self._ones,) * 5
        self._x: Array | None = None
        self._z: Array | None = None
        self._a: Array | None = None
        self._delta: Array | None = None

    def build(self, fan_in: int) -> int:
        self.fan_in = fan_in
        return self.units

    @property
    def has_kink(self) -> bool:
        """True when the activation is not differentiable at z = 0 (the ReLU family)."""
        return self.activation.name in RELU_FAMILY and not self.fused_output

    @property
    def pre_activation(self) -> Array:
        """z of the last forward pass."""
        if self._z is None:
            raise RuntimeError("no forward pass yet")
        return self._z

    @property
    def delta(self) -> Array:
        """δ = ∂L/∂z of the last backward pass (what the loss passed in, under a fused loss)."""
        if self._delta is None:
            raise RuntimeError("no backward pass yet")
        return self._delta

    @property
    def output(self) -> Array:
        """a = σ(z) of the last forward pass (z itself under a fused loss)."""
        out = self._z if self.fused_output else self._a
        if out is None:
            raise RuntimeError("no forward pass yet")
        return out

    def param_specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("W", (self.units, self.fan_in), decay=True),
            ParamSpec("b", (self.units,), decay=False),
        ]

    def kinks(self) -> list[Array]:
        return [self.pre_activation] if self.has_kink and self._z is not None else []

    def initial_values(self, rng: np.random.Generator, dtype: np.dtype) -> dict[str, Array]:
        W = initialize(self.init, rng, self.fan_in, self.units, dtype, **self.init_params)
        return {"W": W, "b": np.full(self.units, self.initial_bias, dtype=dtype)}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        self.W, self.b = params["W"], params["b"]
        self.dW, self.db = grads["W"], grads["b"]

    def _views(self, n: int) -> tuple[Array, Array, Array, Array, Array]:
        """(z, a, δ, dx, ones) views of the first ``n`` rows of the buffers, grown to hold ``n``
        when needed; the views are kept while the batch size stays the same."""
        if n == self._n:
            return self._batch
        dtype = self.W.dtype
        if n > len(self._zbuf) or self._zbuf.dtype != dtype:
            rows = max(n, len(self._zbuf))
            self._zbuf = np.empty((rows, self.units), dtype=dtype)
            self._abuf = np.empty_like(self._zbuf)
            self._dzbuf = np.empty_like(self._zbuf)
            self._dxbuf = np.empty((rows, self.fan_in), dtype=dtype)
            self._ones = np.ones(rows, dtype=dtype)
        self._n = n
        self._batch = (
            self._zbuf[:n], self._abuf[:n], self._dzbuf[:n], self._dxbuf[:n], self._ones[:n]
        )  # fmt: skip
        return self._batch

    def forward(self, x: Array, training: bool = True) -> Array:
        z, a, _, _, _ = self._views(x.shape[0])
        np.dot(x, self.W.T, out=z)
        z += self.b
        self._x, self._z = x, z
        if self.fused_output:
            return z
        self._a = a
        return self.activation.forward(z, out=a)

    def backward(self, dout: Array) -> Array | None:
        if self._x is None or self._z is None:
            raise RuntimeError("backward called before forward")
        z, a, dz, dx, ones = self._batch
        if not self.fused_output:
            dout = self.activation.backward(dout, z, a, out=dz)
        self._delta = dout
        np.dot(dout.T, self._x, out=self.dW)
        np.dot(ones, dout, out=self.db)  # Σ_n δ_n as one BLAS product
        if not self.needs_input_grad:
            return None
        return np.dot(dout, self.W, out=dx)
