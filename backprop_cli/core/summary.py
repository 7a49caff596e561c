"""A network described layer by layer, like Keras' ``summary()``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .layers import BatchNorm, Dense, Dropout, Layer, Residual
from .network import ParamSlot, walk


@dataclass
class LayerRow:
    name: str  # as in checkpoints, e.g. layers.2.layers.0
    type: str
    width: int  # output units per sample
    activation: str
    init: str
    trainable: int  # parameters the optimizer updates
    fixed: int  # non-trainable entries (batchnorm's running averages)
    depth: int  # 0 for top-level layers, 1 inside a residual block...


def describe(layers: Sequence[Layer], slots: dict[str, ParamSlot]) -> list[LayerRow]:
    """One row per layer, residual blocks followed by their inner layers, from built layers and
    their parameter layout (`network.layout`): nothing of the network's size is allocated."""
    rows = []
    for name, layer in walk(layers):
        own = [s for n, s in slots.items() if n.rsplit(".", 1)[0] == name]
        rows.append(
            LayerRow(
                name,
                _type(layer),
                _width(layer),
                _activation(layer),
                layer.init if isinstance(layer, Dense) else "",
                sum(s.size for s in own if s.trainable),
                sum(s.size for s in own if not s.trainable),
                name.count(".layers."),
            )
        )
    return rows


def _type(layer: Layer) -> str:
    names = {Dense: "dense", BatchNorm: "batchnorm", Dropout: "dropout", Residual: "residual"}
    kind = names.get(type(layer), type(layer).__name__.lower())
    return f"dropout {layer.rate:g}" if isinstance(layer, Dropout) else kind


def _width(layer: Layer) -> int:
    if isinstance(layer, Dense):
        return layer.units
    return int(getattr(layer, "width", 0))


def _activation(layer: Layer) -> str:
    activation = getattr(layer, "activation", None)
    return "" if activation is None else str(activation.name)
