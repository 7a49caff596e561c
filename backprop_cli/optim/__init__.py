"""Optimizers, one module per family: `sgd`, `momentum` (momentum, nesterov), `rmsprop`,
`adam` (adam, adamw). Each updates a flat parameter buffer in place."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .adam import Adam, AdamW
from .base import Optimizer
from .momentum import Momentum, Nesterov
from .rmsprop import RMSprop
from .sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, RMSprop, Adam, AdamW)
}


def build_optimizer(name: str, **hyperparams: Any) -> Optimizer:
    """Build an optimizer by name, e.g. ``build_optimizer("adam", lr=1e-3)``."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        known = ", ".join(OPTIMIZERS)
        raise ConfigError(f"unknown optimizer {name!r}; choose one of: {known}") from None
    try:
        return cls(**hyperparams)
    except TypeError as exc:
        raise ConfigError(f"optimizer {name!r}: {exc}") from None


__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "build_optimizer",
]
