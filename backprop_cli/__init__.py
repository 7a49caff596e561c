"""bprop: backpropagation you can read, trust and run fast.

As a library (see `backprop_cli.api`): ``import backprop_cli as bp``, then ``bp.load_config``,
``bp.train``, ``bp.training_events`` and ``bp.load``, and the errors they raise
(``bp.BpropError`` and its kinds, ``bp.DataError`` ...). They are imported on first use, so that
``import backprop_cli`` (and the command line's start) stays light.

The numerical core (activations, losses, layers, network, optimizers, schedules, clipping,
gradcheck) imports only NumPy and the standard library; the command line lives in
`backprop_cli.cli`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

API = ("load_config", "train", "training_events", "load", "TrainResult", "TrainedModel")
#: The errors the API raises, to catch as ``bp.DataError`` and so on.
ERRORS = ("BpropError", "ConfigError", "DataError", "CheckpointError")


def __getattr__(name: str) -> Any:
    if name in API:
        from . import api

        return getattr(api, name)
    if name in ERRORS:
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'backprop_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API, *ERRORS])
