"""Compiling kernels with numba: cached on disk, IEEE arithmetic kept.

- ``error_model="numpy"``: a division by zero gives inf or NaN as in NumPy, instead of a check in
  every division that also stops the loop from being vectorised.
- no ``fastmath``: the kernels must round as the NumPy reference does, so no reassociation
  (except the whole step's sums of products, `backprop_cli.kernels.step`, which follow BLAS's
  rounding no more than BLAS follows a loop's).
- no ``parallel``: numba's threads and OpenBLAS's would spin for the same cores.
- ``cache=True`` into `cache_folder`, so only the first run on a machine compiles; where that
  folder cannot be written, or bprop's cache is off (``BPROP_NO_CACHE``), kernels compile in
  every process and nothing is written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


@functools.cache
def cache_folder() -> str | None:
    """Where compiled kernels are kept: ``$NUMBA_CACHE_DIR``, else ``numba/`` in bprop's cache
    folder; None where it cannot be made or written, or bprop's cache is off."""
    from ..data.cache import cache_dir, enabled

    if not enabled():
        return None
    folder = os.environ.get("NUMBA_CACHE_DIR") or str(cache_dir().parent / "numba")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


@functools.cache
def numba() -> Any:
    """The numba module, its cache folder set before it is first imported."""
    folder = cache_folder()
    if folder is not None:
        os.environ["NUMBA_CACHE_DIR"] = folder
    import numba as nb

    return nb


def kernel(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``fn`` compiled on first call (lazily, per argument types); ``@kernel(**options)`` adds
    numba options (the whole step's ``fastmath={"reassoc"}``)."""
    if fn is None:
        return functools.partial(kernel, **options)
    nb = numba()
    cache = cache_folder() is not None
    try:
        return nb.njit(cache=cache, error_model="numpy", nogil=True, **options)(fn)
    except (OSError, RuntimeError):  # the folder went away or turned read-only since
        return nb.njit(cache=False, error_model="numpy", nogil=True, **options)(fn)
