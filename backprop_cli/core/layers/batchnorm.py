"""Batch normalization, with an optional activation after the learned scale and shift."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..activations import RELU_FAMILY, Activation, Linear
from ..hyper import Hyper
from ..scratch import Buffer, Scratch
from ..types import Array
from .base import Layer, ParamSpec, activation_specs, bind_activation


class BatchNorm(Layer):
    """Normalize each feature over the batch, then scale and shift (Ioffe & Szegedy, 2015).

    Math (training, a batch of N rows, per feature; ε = ``eps``):
        μ = mean_n x,  σ² = mean_n (x − μ)²
        x̂ = (x − μ) / √(σ² + ε),  z = γ ⊙ x̂ + β,  a = act(z)
        running_mean ← m·running_mean + (1 − m)·μ
        running_var  ← m·running_var + (1 − m)·σ²·N/(N − 1)       (m = ``momentum``)
    Evaluation uses the running averages instead of the batch's statistics.
    Backward (dz = dout ⊙ act′(z), dx̂ = γ ⊙ dz):
        ∂L/∂γ = Σ_n dz ⊙ x̂,  ∂L/∂β = Σ_n dz
        ∂L/∂x = (dx̂ − mean_n dx̂ − x̂ ⊙ mean_n(dx̂ ⊙ x̂)) / √(σ² + ε)
    γ starts at 1 and β at 0; neither is weight-decayed. The running averages sit in the parameter
    buffer as non-trainable entries, so checkpoints and best weights carry them.
    """

    name = "batchnorm"
    hyper: ClassVar[dict[str, Hyper]] = {
        "momentum": Hyper(0.9, "Share of the running averages kept.", 0, 1, high_open=True),
        "eps": Hyper(1e-5, "Added to the variance.", 0, low_open=True),
    }

    def __init__(
        self,
        momentum: float | None = None,
        eps: float | None = None,
        activation: Activation | None = None,
    ) -> None:
        self.momentum: float = self.hyper["momentum"].take("batchnorm momentum", momentum)
        # A config's eps is > 0 (its declaration); the engine also takes 0, so tests can compare
        # with the textbook formula.
        self.eps = float(self.hyper["eps"].default if eps is None else eps)  # type: ignore[arg-type]
        self.activation = activation or Linear()
        self.width = 0
        empty: Array = np.empty(0)
        self.gamma, self.beta, self.running_mean, self.running_var = empty, empty, empty, empty
        self.dgamma, self.dbeta = empty, empty
        self._scratch = Scratch()
        self._inv: Array = np.empty(0)
        self._training = True

    def build(self, fan_in: int) -> int:
        self.width = fan_in
        row = Buffer((fan_in,))
        self._scratch = Scratch(xhat=row, z=row, a=row, dz=row, dx=row)
        return fan_in

    def param_specs(self) -> list[ParamSpec]:
        d = (self.width,)
        return [
            ParamSpec("gamma", d, decay=False),
            ParamSpec("beta", d, decay=False),
            ParamSpec("running_mean", d, decay=False, trainable=False),
            ParamSpec("running_var", d, decay=False, trainable=False),
            *activation_specs(self.activation, self.width),
        ]

    def initial_values(self, rng: np.random.Generator, dtype: np.dtype) -> dict[str, Array]:
        def ones() -> Array:
            return np.ones(self.width, dtype=dtype)

        def zeros() -> Array:
            return np.zeros(self.width, dtype=dtype)

        own = self.activation.initial_params(self.width, dtype)  # prelu's slopes
        return {
            "gamma": ones(), "beta": zeros(), "running_mean": zeros(), "running_var": ones(), **own
        }  # fmt: skip

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        self.gamma, self.beta = params["gamma"], params["beta"]
        self.running_mean, self.running_var = params["running_mean"], params["running_var"]
        self.dgamma, self.dbeta = grads["gamma"], grads["beta"]
        bind_activation(self.activation, self.width, params, grads)

    def forward(self, x: Array, training: bool = True) -> Array:
        n = x.shape[0]
        v = self._scratch.forward(n, self.gamma.dtype)
        self._training = training
        xhat = v.xhat
        if training:
            mean = x.mean(axis=0)
            np.subtract(x, mean, out=xhat)
            var = np.einsum("ij,ij->j", xhat, xhat) / n
            m = self.momentum
            self.running_mean *= m
            self.running_mean += (1 - m) * mean
            self.running_var *= m
            self.running_var += (1 - m) * var * (n / (n - 1) if n > 1 else 1.0)
        else:
            np.subtract(x, self.running_mean, out=xhat)
            var = self.running_var
        self._inv = 1.0 / np.sqrt(var + self.eps)
        xhat *= self._inv
        z = np.multiply(xhat, self.gamma, out=v.z)
        z += self.beta
        return self.activation.forward(z, out=v.a)

    def backward(self, dout: Array) -> Array | None:
        v = self._scratch.backward("batchnorm")
        n, xhat = len(v.xhat), v.xhat
        dz = self.activation.backward(dout, v.z, v.a, out=v.dz)
        np.einsum("ij,ij->j", dz, xhat, out=self.dgamma)
        np.sum(dz, axis=0, out=self.dbeta)
        if not self.needs_input_grad:
            return None
        dxhat = np.multiply(dz, self.gamma, out=v.dx)
        if self._training:  # the batch statistics depend on x too
            mean_dxhat = dxhat.mean(axis=0)
            mean_dxhat_xhat = np.einsum("ij,ij->j", dxhat, xhat) / n
            dxhat -= mean_dxhat
            dxhat -= np.multiply(xhat, mean_dxhat_xhat, out=dz)  # dz is spent by now
        dxhat *= self._inv
        return dxhat

    def kinks(self) -> list[Array]:
        last = self._scratch.last
        return [last.z] if self.activation.name in RELU_FAMILY and last is not None else []
