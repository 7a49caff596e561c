"""Layers: `dense`, `batchnorm`, `dropout` and `residual` blocks, one module each."""

from .base import Layer, ParamSpec
from .batchnorm import BatchNorm
from .dense import Dense
from .dropout import Dropout
from .residual import Residual

__all__ = ["BatchNorm", "Dense", "Dropout", "Layer", "ParamSpec", "Residual"]
