"""The network a model section describes, built layer by layer (what training and using a
trained model share; nothing here trains)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...config.model_spec import BatchNormConfig, DenseConfig, DropoutConfig, ModelConfig
from ...core.activations import get_activation
from ...core.layers import BatchNorm, Dense, Dropout, Layer, Residual
from ...core.layers.residual import width_problem
from ...core.network import Network, layout, walk
from ...errors import ConfigError
from ...system.resources import check_fits


def network_of(
    model: ModelConfig,
    loss: str,
    dtype: str,
    input_dim: int,
    rng: np.random.Generator | None,
    noise_rng: np.random.Generator | None = None,
    batch_rows: int = 1,
) -> Network:
    """The network ``model`` describes, once its size (with batches of ``batch_rows``) is known
    to fit in memory; its weights drawn from ``rng`` (None: zeros, for weights to be loaded)."""
    layers = build_layers(model, input_dim)
    check_network_size(layers, input_dim, np.dtype(dtype), batch_rows)
    return Network(layers, input_dim, loss, rng, dtype=dtype, noise_rng=noise_rng)


def build_layers(model: ModelConfig, input_dim: int) -> list[Layer]:
    """The engine layers of ``model``, built for ``input_dim`` features: their shapes are known
    and nothing of their size is allocated yet."""
    layers = _build_layers(model.layers, input_dim, "model.layers")
    width = input_dim
    for layer in layers:
        width = layer.build(width)
    return layers


#: Copies of the parameters a run keeps: the weights, gradients, up to two optimizer moments,
#: the best epoch's weights and the state being written to a checkpoint.
PARAMETER_COPIES = 6
#: Buffers per unit and batch row: pre-activations, activations, their gradients, the input's.
BUFFERS_PER_UNIT = 4


def check_network_size(layers: list[Layer], input_dim: int, dtype: np.dtype, rows: int) -> None:
    """Raise ConfigError (model.layers) when the network would not fit in this machine's memory."""
    n_params = sum(slot.size for slot in layout(layers).values())
    units = input_dim + sum(layer.units for _, layer in walk(layers) if isinstance(layer, Dense))
    n_bytes = dtype.itemsize * (
        PARAMETER_COPIES * n_params + BUFFERS_PER_UNIT * max(rows, 1) * units
    )
    what = f"a network of {n_params:,} parameters ({dtype.name}, batches of {max(rows, 1):,})"
    check_fits("model.layers", what, n_bytes)


def _build_layers(specs: list[Any], width: int, where: str) -> list[Layer]:
    """Engine layers for config layers, checking residual widths (errors name the key)."""
    layers: list[Layer] = []
    for k, spec in enumerate(specs):
        key = f"{where}.{k}"
        if isinstance(spec, DenseConfig):
            activation = get_activation(spec.activation, **spec.activation_params())
            layers.append(Dense(spec.units, activation, spec.init, spec.init_params(), spec.bias))
            width = spec.units
        elif isinstance(spec, BatchNormConfig):
            layers.append(BatchNorm(spec.momentum, spec.eps, get_activation(spec.activation)))
        elif isinstance(spec, DropoutConfig):
            layers.append(Dropout(spec.rate))
        else:
            block = _build_layers(spec.layers, width, f"{key}.layers")
            problem = width_problem(width, _width_after(spec.layers, width))
            if problem:
                raise ConfigError(f"{key}.layers: {problem}")
            layers.append(Residual(block))
    return layers


def _width_after(specs: list[Any], width: int) -> int:
    for spec in specs:
        if isinstance(spec, DenseConfig):
            width = spec.units
    return width
