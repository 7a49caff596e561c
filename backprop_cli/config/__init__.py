"""Experiment configs: Pydantic models and YAML loading. The only place that imports either."""

from .loading import apply_overrides, load_config, to_yaml, validate, with_optimizer
from .models import BUILTIN_DATASETS, ExperimentConfig

__all__ = [
    "BUILTIN_DATASETS",
    "ExperimentConfig",
    "apply_overrides",
    "load_config",
    "to_yaml",
    "validate",
    "with_optimizer",
]
