"""Layers: `dense`, `batchnorm`, `dropout` and `residual` blocks, one module each.

`LAYER_TYPES` registers them by their config ``type``; each declares its hyperparameters, and the
config models derive from those declarations."""

from .base import Layer, ParamSpec
from .batchnorm import BatchNorm
from .dense import Dense
from .dropout import Dropout
from .residual import Residual

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.name: cls for cls in (Dense, BatchNorm, Dropout, Residual)
}

__all__ = ["LAYER_TYPES", "BatchNorm", "Dense", "Dropout", "Layer", "ParamSpec", "Residual"]
