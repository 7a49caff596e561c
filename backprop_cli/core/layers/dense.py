"""The fully connected layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..activations import RELU_FAMILY, Activation
from ..hyper import Hyper
from ..initializers import default_initializer, initialize
from ..scratch import Buffer, Scratch, forward_first
from ..types import Array
from .base import Layer, ParamSpec, activation_specs, bind_activation


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
        bias: float | None = None,
    ) -> None:
        if units < 1:
            raise ValueError(f"a dense layer needs at least one unit. Received: units={units}")
        self.units = units
        self.activation = activation
        self.init = init or default_initializer(activation.name)
        self.init_params = dict(init_params or {})
        self.initial_bias: float = self.hyper["bias"].take("dense bias", bias)
        self.fan_in = 0
        self.fused_output = False
        self.W: Array = np.empty((0, 0))
        self.b: Array = np.empty(0)
        self.dW: Array = np.empty((0, 0))
        self.db: Array = np.empty(0)
        # Buffers sized for the largest batch seen (declared in build, once the widths are known).
        self._scratch = Scratch()
        self._x: Array | None = None
        self._delta: Array | None = None
        #: Optional compiled element-wise work, (forward(z, b, a), backward(dout, z, a, dz)),
        #: the same arithmetic as the lines it replaces (installed by `backprop_cli.kernels`).
        self.fused: tuple[Callable[..., None], Callable[..., None]] | None = None

    def build(self, fan_in: int) -> int:
        self.fan_in = fan_in
        units = (self.units,)
        self._scratch = Scratch(
            z=Buffer(units), a=Buffer(units), dz=Buffer(units), dx=Buffer((fan_in,)),
            ones=Buffer(fill=1.0),  # Σ_n δ_n as a product with ones
        )  # fmt: skip
        return self.units

    @property
    def has_kink(self) -> bool:
        """True when the activation is not differentiable at z = 0 (the ReLU family)."""
        return self.activation.name in RELU_FAMILY and not self.fused_output

    @property
    def pre_activation(self) -> Array:
        """z of the last forward pass."""
        z: Array = self._scratch.backward("dense").z
        return z

    @property
    def delta(self) -> Array:
        """δ = ∂L/∂z of the last backward pass (what the loss passed in, under a fused loss)."""
        if self._delta is None:
            raise RuntimeError("dense: no backward pass yet")
        return self._delta

    @property
    def output(self) -> Array:
        """a = σ(z) of the last forward pass (z itself under a fused loss)."""
        views = self._scratch.backward("dense")
        out: Array = views.z if self.fused_output else views.a
        return out

    def param_specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("W", (self.units, self.fan_in), decay=True),
            ParamSpec("b", (self.units,), decay=False),
            *activation_specs(self.activation, self.units),
        ]

    def kinks(self) -> list[Array]:
        return [self.pre_activation] if self.has_kink and self._x is not None else []

    def initial_values(self, rng: np.random.Generator, dtype: np.dtype) -> dict[str, Array]:
        W = initialize(self.init, rng, self.fan_in, self.units, dtype, **self.init_params)
        b = np.full(self.units, self.initial_bias, dtype=dtype)
        return {"W": W, "b": b, **self.activation.initial_params(self.units, dtype)}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        self.W, self.b = params["W"], params["b"]
        self.dW, self.db = grads["W"], grads["b"]
        bind_activation(self.activation, self.units, params, grads)

    def forward(self, x: Array, training: bool = True) -> Array:
        v = self._scratch.forward(x.shape[0], self.W.dtype)
        z = np.dot(x, self.W.T, out=v.z)
        self._x = x
        if self.fused is not None and not self.fused_output:
            self.fused[0](z, self.b, v.a)  # z += b; a = σ(z)
            return v.a
        z += self.b
        if self.fused_output:
            return z
        return self.activation.forward(z, out=v.a)

    def backward(self, dout: Array) -> Array | None:
        v = self._scratch.backward("dense")
        x = forward_first(self._x, "dense")
        if self.fused is not None and not self.fused_output:
            self.fused[1](dout, v.z, v.a, v.dz)  # dz = dout ⊙ σ′(z)
            dout = v.dz
        elif not self.fused_output:
            dout = self.activation.backward(dout, v.z, v.a, out=v.dz)
        self._delta = dout
        np.dot(dout.T, x, out=self.dW)
        np.dot(v.ones, dout, out=self.db)  # Σ_n δ_n as one BLAS product
        if not self.needs_input_grad:
            return None
        return np.dot(dout, self.W, out=v.dx)
