"""Weight initializers. Every draw comes from an explicit `np.random.Generator`.

Values are drawn in float64 and then cast, so float32 and float64 runs with the same seed start from
the same weights (up to rounding).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .activations import RELU_FAMILY
from .hyper import Hyper, check_all
from .types import Array


@dataclass(frozen=True)
class Initializer:
    """A named way to draw a (fan_out, fan_in) weight matrix, with its hyperparameters."""

    draw: Callable[..., Array]
    hyper: dict[str, Hyper] = field(default_factory=dict)


def xavier_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> Array:
    """Glorot/Xavier uniform.

    Math:
        W ~ U(−l, l),  l = √(6 / (fan_in + fan_out))
    """
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in)).astype(dtype)


def xavier_normal(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> Array:
    """Glorot/Xavier normal.

    Math:
        W ~ N(0, s²),  s = √(2 / (fan_in + fan_out))
    """
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal(size=(fan_out, fan_in)) * std).astype(dtype)


def he_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> Array:
    """He/Kaiming uniform, for the ReLU family.

    Math:
        W ~ U(−l, l),  l = √(6 / fan_in)
    """
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_out, fan_in)).astype(dtype)


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> Array:
    """He/Kaiming normal, for the ReLU family.

    Math:
        W ~ N(0, s²),  s = √(2 / fan_in)
    """
    std = math.sqrt(2.0 / fan_in)
    return (rng.standard_normal(size=(fan_out, fan_in)) * std).astype(dtype)


def normal(
    rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype, std: float
) -> Array:
    """Plain normal with a chosen standard deviation.

    Math:
        W ~ N(0, std²)
    """
    return (rng.standard_normal(size=(fan_out, fan_in)) * std).astype(dtype)


def zeros(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> Array:
    """All zeros (every unit of a layer then stays identical: a lesson, rarely a choice)."""
    return np.zeros((fan_out, fan_in), dtype=dtype)


INITIALIZERS: dict[str, Initializer] = {
    "xavier_uniform": Initializer(xavier_uniform),
    "xavier_normal": Initializer(xavier_normal),
    "he_uniform": Initializer(he_uniform),
    "he_normal": Initializer(he_normal),
    "normal": Initializer(
        normal, {"std": Hyper(0.01, "Standard deviation of the weights.", 0, low_open=True)}
    ),
    "zeros": Initializer(zeros),
}


def default_initializer(activation: str) -> str:
    """He normal for the ReLU family, Xavier uniform for every other activation."""
    return "he_normal" if activation in RELU_FAMILY else "xavier_uniform"


def initialize(
    name: str,
    rng: np.random.Generator,
    fan_in: int,
    fan_out: int,
    dtype: np.dtype,
    **params: float,
) -> Array:
    """Draw a (fan_out, fan_in) weight matrix with the initializer ``name``."""
    try:
        init = INITIALIZERS[name]
    except KeyError:
        known = ", ".join(sorted(INITIALIZERS))
        raise ConfigError(f"unknown initializer {name!r}; choose one of: {known}") from None
    checked = check_all(f"initializer {name}", init.hyper, params)
    return init.draw(rng, fan_in, fan_out, dtype, **checked)
