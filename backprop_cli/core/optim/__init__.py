"""Optimizers, one module per family (`sgd`, `momentum`, `rmsprop`, `adam`, ...), each a chain of
transforms (`transforms`: clip, decay, the family's update rule, −lr) that updates a flat parameter
buffer in place under the contract of `base.Optimizer`.

The registry finds them: every `Optimizer` subclass with a ``name`` defined in a module of this
package is registered, listed by its ``rank``. The config models, the JSON schema, the config
reference and the optimizers' own checks derive from what each class declares, so adding an
optimizer is one new module (and its golden test).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ...errors import ConfigError
from .adam import Adam, AdamW, ScaleByAdam
from .base import Optimizer
from .momentum import Momentum, Nesterov, NesterovTrace, Trace
from .rmsprop import RMSprop, ScaleByRms
from .sgd import SGD
from .transforms import (
    AddDecayedWeights,
    ClipByGlobalNorm,
    ClipByValue,
    DecoupledWeightDecay,
    FuseChain,
    ScaleByLearningRate,
    State,
    Transform,
)


# Called once, at import: mutation testing cannot swap it, so it is exempt (test_registries.py
# checks what it finds).
def _registry() -> dict[str, type[Optimizer]]:  # pragma: no mutate block
    found: list[type[Optimizer]] = []
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        for value in vars(loaded).values():
            is_optimizer = isinstance(value, type) and issubclass(value, Optimizer)
            if is_optimizer and value.name and value.__module__ == loaded.__name__:
                found.append(value)
    return {cls.name: cls for cls in sorted(found, key=lambda cls: (cls.rank, cls.name))}


OPTIMIZERS: dict[str, type[Optimizer]] = _registry()
#: The optimizers `bprop compare-optimizers` races when none are named: the seed's four.
DEFAULT_RACE = ("sgd", "momentum", "rmsprop", "adam")


def build_optimizer(name: str, fuse: FuseChain | None = None, **hyperparams: Any) -> Optimizer:
    """Build an optimizer by name with its hyperparameters, e.g. ``build_optimizer("adam",
    beta2=0.99)``; the learning rate comes with each ``step``. With ``fuse``
    (`backprop_cli.kernels.fuse_chain`) its chain takes the fused kernels it has."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        known = ", ".join(OPTIMIZERS)
        raise ConfigError(f"unknown optimizer {name!r}; choose one of: {known}") from None
    return cls(fuse, **hyperparams)


__all__ = [
    "DEFAULT_RACE",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "AddDecayedWeights",
    "ClipByGlobalNorm",
    "ClipByValue",
    "DecoupledWeightDecay",
    "FuseChain",
    "Momentum",
    "Nesterov",
    "NesterovTrace",
    "Optimizer",
    "RMSprop",
    "ScaleByAdam",
    "ScaleByLearningRate",
    "ScaleByRms",
    "State",
    "Trace",
    "Transform",
    "build_optimizer",
]
