"""Compiling kernels with numba: cached on disk, IEEE arithmetic kept.

- ``error_model="numpy"``: a division by zero gives inf or NaN as in NumPy, instead of a check in
  every division that also stops the loop from being vectorised.
- no ``fastmath``: the kernels must round as the NumPy reference does, so no reassociation
  (except the whole step's sums of products, `backprop_cli.kernels.step`, which follow BLAS's
  rounding no more than BLAS follows a loop's).
- no ``parallel``: numba's threads and OpenBLAS's would spin for the same cores.
- ``cache=True`` into ``$NUMBA_CACHE_DIR`` (default: bprop's cache folder, ``numba/``), so only
  the first run on a machine compiles; where no folder is writable, compile without a cache.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any


@functools.cache
def numba() -> Any:
    """The numba module, its cache folder set before it is first imported."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        from ..data.cache import cache_dir

        folder = cache_dir() / "numba"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
        except OSError:
            pass  # numba's own default, or no cache (see kernel)
    import numba as nb

    return nb


def kernel(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``fn`` compiled on first call (lazily, per argument types); ``@kernel(**options)`` adds
    numba options (the whole step's ``fastmath={"reassoc"}``)."""
    if fn is None:
        return functools.partial(kernel, **options)
    nb = numba()
    try:
        return nb.njit(cache=True, error_model="numpy", nogil=True, **options)(fn)
    except (OSError, RuntimeError):  # no writable cache folder
        return nb.njit(cache=False, error_model="numpy", nogil=True, **options)(fn)
