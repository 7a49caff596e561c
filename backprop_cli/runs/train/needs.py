"""What a run needs installed beyond bprop's own dependencies: the package of each logger its
config names (``output.loggers``), checked before anything is trained. The loggers themselves
are `runs.loggers`."""

from __future__ import annotations

import importlib.util

from ...config import ExperimentConfig
from ...errors import ConfigError

#: Each logger's package, and how to install it.
LOGGER_EXTRAS = {
    "tensorboard": (
        "tensorboardX",
        "bprop's tensorboard extra: pip install '.[tensorboard]' in bprop's folder (the "
        "tensorboardX package)",
    ),
    "mlflow": (
        "mlflow",
        "bprop's mlflow extra: pip install '.[mlflow]' in bprop's folder (the mlflow package)",
    ),
}


def check_installed(cfg: ExperimentConfig) -> None:
    """Raise ConfigError when a logger ``cfg`` asks for is not installed (found without
    importing it)."""
    for name in cfg.output.loggers:
        problem = missing_package(name, LOGGER_EXTRAS[name])
        if problem:
            raise ConfigError(f"output.loggers: {problem}, or remove {name} from output.loggers")


def missing_package(name: str, extra: tuple[str, str]) -> str:
    """Why the logger ``name`` cannot be used ("" when its package is installed)."""
    package, hint = extra
    if importlib.util.find_spec(package) is not None:
        return ""
    return f"the {name} logger needs the {package} package, which is not installed; install {hint}"
