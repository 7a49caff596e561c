"""Where bprop keeps what it can rebuild: prepared tables (`tables`) and compiled kernels
(`kernels`), under one root, ``$BPROP_CACHE_DIR`` (default ``$XDG_CACHE_HOME/bprop`` or
``~/.cache/bprop``). ``BPROP_NO_CACHE=1`` turns both off. Each folder is private to its user
(`private.private_folder`), checked by the code that reads it."""

from __future__ import annotations

import os
from pathlib import Path


def enabled() -> bool:
    """False when ``BPROP_NO_CACHE`` is set (to anything but 0 or nothing)."""
    return os.environ.get("BPROP_NO_CACHE", "") in ("", "0")


def root() -> Path:
    """bprop's cache folder: ``$BPROP_CACHE_DIR``, else the user's cache folder's ``bprop``."""
    env = os.environ.get("BPROP_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bprop"


def tables() -> Path:
    """Where prepared tables are kept (`data.table.cache`)."""
    return root() / "tables"


def kernels() -> Path | None:
    """Where compiled kernels are kept: ``$NUMBA_CACHE_DIR``, else ``numba/`` in bprop's cache
    folder; None when bprop's cache is off."""
    if not enabled():
        return None
    folder = os.environ.get("NUMBA_CACHE_DIR")
    return Path(folder) if folder else root() / "numba"
