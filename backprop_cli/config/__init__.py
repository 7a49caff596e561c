"""Experiment configs: Pydantic models and YAML loading. The only place that imports either."""

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
