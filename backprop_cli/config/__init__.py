"""Experiment configs: Pydantic models and YAML loading. The only place that imports either.

Importing this package imports nothing else: each name below is loaded from its module when it
is first asked for, so that using a trained model (`model_spec`) does not load the whole
experiment's models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..system.lazy import lazy_names

_HOMES = {
    "BUILTIN_DATASETS": "models",
    "ExperimentConfig": "models",
    "apply_overrides": "loading",
    "flow_yaml": "loading",
    "load_config": "loading",
    "parse_value": "loading",
    "read_yaml": "loading",
    "to_yaml": "loading",
    "validate": "loading",
    "with_optimizer": "loading",
}

if TYPE_CHECKING:
    from .loading import (
        apply_overrides,
        flow_yaml,
        load_config,
        parse_value,
        read_yaml,
        to_yaml,
        validate,
        with_optimizer,
    )
    from .models import BUILTIN_DATASETS, ExperimentConfig

__all__ = [
    "BUILTIN_DATASETS",
    "ExperimentConfig",
    "apply_overrides",
    "flow_yaml",
    "load_config",
    "parse_value",
    "read_yaml",
    "to_yaml",
    "validate",
    "with_optimizer",
]

__getattr__ = lazy_names(__name__, _HOMES)
