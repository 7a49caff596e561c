"""What every layer is: it declares its parameters, is bound to views into the network's flat
buffers, and implements ``forward`` (keeping exactly what ``backward`` needs) and ``backward``
(overwriting its parameter gradients and returning the gradient with respect to its input)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..activations import Activation
from ..hyper import Hyper
from ..types import Array


@dataclass(frozen=True)
class ParamSpec:
    """One tensor of a layer: its local name, its shape, whether weight decay applies, and whether
    it is trained (batchnorm's running statistics live in the parameter buffer but are not: their
    gradient stays zero, so no optimizer ever changes them)."""

    name: str
    shape: tuple[int, ...]
    decay: bool
    trainable: bool = True


def layer_key(index: int) -> str:
    """The name of layer ``index`` of a sequence of layers (a network's, a residual block's):
    ``layers.{index}``; its parameter ``W`` is ``layers.{index}.W``, the key a state dict and a
    checkpoint give it."""
    return f"layers.{index}"


def activation_specs(activation: Activation, units: int) -> list[ParamSpec]:
    """The tensors an activation learns (prelu's slopes), stored with its layer's parameters and
    never weight-decayed."""
    return [ParamSpec(k, shape, decay=False) for k, shape in activation.param_shapes(units).items()]


def bind_activation(
    activation: Activation, units: int, params: dict[str, Array], grads: dict[str, Array]
) -> None:
    """Give an activation the views of its own tensors among its layer's."""
    own = activation.param_shapes(units)
    activation.bind({k: params[k] for k in own}, {k: grads[k] for k in own})


class Layer:
    """Base class of the network's layers."""

    #: The layer's ``type`` in a config.
    name: ClassVar[str] = ""
    #: Its hyperparameters, as config keys (what describes its shape, like units, is the
    #: config's own).
    hyper: ClassVar[dict[str, Hyper]] = {}

    #: Set by the network: False on the first layer while training, so dX is not computed.
    needs_input_grad: bool = True

    def build(self, fan_in: int) -> int:
        """Fix the input width; return the output width."""
        raise NotImplementedError

    def param_specs(self) -> list[ParamSpec]:
        return []

    def initial_values(self, rng: np.random.Generator, dtype: np.dtype) -> dict[str, Array]:
        return {}

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        """Attach views of the network's flat parameter and gradient buffers."""

    def forward(self, x: Array, training: bool = True) -> Array:
        raise NotImplementedError

    def backward(self, dout: Array) -> Array | None:
        raise NotImplementedError

    def children(self) -> list[Layer]:
        """Layers nested inside this one (a residual block's)."""
        return []

    def walk(self, prefix: str) -> Iterator[tuple[str, Layer]]:
        """(name, layer) for this layer and every nested one, names as in the checkpoint."""
        yield prefix, self
        for j, child in enumerate(self.children()):
            yield from child.walk(f"{prefix}.layers.{j}")

    def kinks(self) -> list[Array]:
        """Pre-activations of units with a kink (the ReLU family) from the last forward pass."""
        return []
