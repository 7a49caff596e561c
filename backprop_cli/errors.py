"""The exceptions bprop raises.

Library code raises these; only the CLI turns them into exit codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class BpropError(Exception):
    """Base class of every error bprop reports to a user."""


class ConfigError(BpropError):
    """An experiment or model description that cannot work (bad key, value or combination)."""


class DataError(BpropError):
    """A data set that cannot be used (missing, malformed, wrong shape)."""


class CheckpointError(BpropError):
    """A checkpoint that cannot be loaded (missing, corrupt, mismatched)."""


#: How messages spell the caller's arguments (see `argument` and `spelled`).
_SPELLINGS: dict[str, str] = {}


def argument(name: str) -> str:
    """How an error message names the caller's argument ``name`` (a parameter of a library
    function, such as ``out``): by that name, unless the caller spells it otherwise within
    `spelled` (the CLI: ``--out``). Library code never names a command-line flag."""
    return _SPELLINGS.get(name, name)


@contextlib.contextmanager
def spelled(spellings: dict[str, str]) -> Iterator[None]:
    """Within the block, messages name the arguments as the caller knows them."""
    saved = dict(_SPELLINGS)
    _SPELLINGS.update(spellings)
    try:
        yield
    finally:
        _SPELLINGS.clear()
        _SPELLINGS.update(saved)
