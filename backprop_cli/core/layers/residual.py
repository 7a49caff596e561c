"""Residual blocks: the input plus what a block of layers makes of it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..scratch import Buffer, Scratch
from ..types import Array
from .base import Layer, ParamSpec, layer_key


def width_problem(fan_in: int, end: int) -> str | None:
    """Why a residual block from width ``fan_in`` that ends at width ``end`` cannot add its input
    to its output, or None."""
    if end == fan_in:
        return None
    return (
        f"a residual block must end at its input's width {fan_in} (output = input + "
        f"block(input)); it ends at {end}"
    )


class Residual(Layer):
    """out = x + block(x), the block being ``layers`` in order (He et al., 2016).

    Math:
        out = x + f(x),   ∂L/∂x = dout + f′(x)ᵀ dout
    The identity path carries the gradient back undiminished however deep the network, which is
    why residual connections cure vanishing gradients. The block must end at its input's width.
    Parameters are named ``layers.{j}.<name>`` after the block's layer j.
    """

    name = "residual"

    def __init__(self, layers: Sequence[Layer]) -> None:
        if not layers:
            raise ValueError("a residual block needs at least one layer")
        self.layers = list(layers)
        self.width = 0
        self._scratch = Scratch()
        self._needs_input_grad = True

    @property
    def needs_input_grad(self) -> bool:
        return self._needs_input_grad

    @needs_input_grad.setter
    def needs_input_grad(self, value: bool) -> None:
        self._needs_input_grad = value
        self.layers[0].needs_input_grad = value  # inner layers after the first always need it

    def children(self) -> list[Layer]:
        return self.layers

    def build(self, fan_in: int) -> int:
        self.width = width = fan_in
        for layer in self.layers:
            width = layer.build(width)
        problem = width_problem(fan_in, width)
        if problem:
            raise ValueError(problem)
        row = Buffer((fan_in,))
        self._scratch = Scratch(out=row, dx=row)
        return fan_in

    def param_specs(self) -> list[ParamSpec]:
        return [
            ParamSpec(f"{layer_key(j)}.{s.name}", s.shape, s.decay, s.trainable)
            for j, layer in enumerate(self.layers)
            for s in layer.param_specs()
        ]

    def initial_values(self, rng: np.random.Generator, dtype: np.dtype) -> dict[str, Array]:
        return {
            f"{layer_key(j)}.{name}": value
            for j, layer in enumerate(self.layers)
            for name, value in layer.initial_values(rng, dtype).items()
        }

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        for j, layer in enumerate(self.layers):
            prefix = f"{layer_key(j)}."
            layer.bind(
                {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)},
                {k.removeprefix(prefix): v for k, v in grads.items() if k.startswith(prefix)},
            )

    def forward(self, x: Array, training: bool = True) -> Array:
        v = self._scratch.forward(x.shape[0], x.dtype)
        h = x
        for layer in self.layers:
            h = layer.forward(h, training)
        return np.add(x, h, out=v.out)

    def backward(self, dout: Array) -> Array | None:
        v = self._scratch.backward("residual")
        g: Array | None = dout
        for layer in reversed(self.layers):
            assert g is not None
            g = layer.backward(g)
        if not self.needs_input_grad:
            return None
        assert g is not None
        return np.add(dout, g, out=v.dx)

    def kinks(self) -> list[Array]:
        return [z for layer in self.layers for z in layer.kinks()]
