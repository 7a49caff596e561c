"""Compiling kernels with numba: cached on disk in a private folder, IEEE arithmetic kept.

- ``error_model="numpy"``: a division by zero gives inf or NaN as in NumPy, instead of a check in
  every division that also stops the loop from being vectorised.
- no ``fastmath``: the kernels must round as the NumPy reference does, so no reassociation
  (except the whole step's sums of products, `backprop_cli.kernels.step`, which follow BLAS's
  rounding no more than BLAS follows a loop's).
- no ``parallel``: numba's threads and OpenBLAS's would spin for the same cores.
- compiled code is kept in `cache_folder`, so only the first run on a machine compiles.

numba's cache is pickled, and loading it runs whatever the pickle says: it is read only from a
folder this user owns and no one else can write (made with mode 0700; the folder, the folders
under it and their files are checked before every load and every save, symlinks refused). A
cache that fails that check, or cannot be read (truncated, another version) or written (a
read-only folder, a full disk), is passed over: the kernel compiles in memory and the run goes
on. With bprop's cache off (``BPROP_NO_CACHE``) kernels compile in every process and nothing is
written.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..system import caches
from ..system.private import private_folder, trusted, trusted_tree


@functools.cache
def cache_folder() -> Path | None:
    """Where compiled kernels are kept (`caches.kernels`), looked up once per process."""
    return caches.kernels()


@functools.cache
def numba() -> Any:
    """The numba module (imported on first use: commands that do not train never import it)."""
    import numba as nb

    return nb


def kernel(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``fn`` compiled on first call (lazily, per argument types); ``@kernel(**options)`` adds
    numba options (the whole step's ``fastmath={"reassoc"}``)."""
    if fn is None:
        return functools.partial(kernel, **options)
    # fastmath set even where it is off: numba lets a callee compiled for a caller inherit the
    # caller's options it does not set, and a callee's compiled code serves every caller.
    options.setdefault("fastmath", False)
    dispatcher = numba().njit(error_model="numpy", nogil=True, **options)(fn)
    root = cache_folder()
    if root is not None and hasattr(dispatcher, "_cache"):  # not under NUMBA_DISABLE_JIT
        dispatcher._cache = _private_cache_class()(fn, root)  # numba's own slot for its cache
    return dispatcher


def _private_files(folder: Path) -> None:
    """Give the files numba wrote in ``folder`` mode 0600: under a umask such as 002 they would
    be group-writable, which the check before every load refuses."""
    for file in folder.iterdir():
        if file.is_file() and not file.is_symlink() and file.stat().st_uid == os.geteuid():
            file.chmod(0o600)


@functools.cache
def _private_cache_class() -> type:
    """numba's function cache, kept under a private folder and never trusted blindly."""
    from numba.core import caching

    class Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """The folder for the kernels of one source file: under ``root``, made private."""

        def __init__(self, py_func: Callable[..., Any], py_file: str, root: Path) -> None:
            self._py_file, self._lineno, self.root = py_file, py_func.__code__.co_firstlineno, root
            self._cache_path = str(root / self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self) -> str:
            return self._cache_path

        def ensure_cache_path(self) -> None:
            path = Path(self._cache_path)
            if not private_folder(self.root) or not private_folder(path):
                raise OSError(f"{path} is not a private folder")

        def private(self) -> bool:
            """The folders from ``root`` down and every file in them are this user's alone."""
            path = Path(self._cache_path)
            if not private_folder(self.root):
                return False
            if not path.exists():
                return True
            try:
                files = list(path.iterdir())
            except OSError:
                return False
            return trusted_tree(self.root, path) and all(trusted(f) for f in files)

    class Impl(caching.CompileResultCacheImpl):
        def __init__(self, py_func: Callable[..., Any], root: Path) -> None:
            source = inspect.getfile(py_func)
            self._lineno = py_func.__code__.co_firstlineno
            self._locator = Locator(py_func, source, root)
            module = os.path.splitext(os.path.basename(source))[0]
            name = f"{module}.{py_func.__qualname__}"
            self._filename_base = self.get_filename_base(name, getattr(sys, "abiflags", ""))

    class PrivateCache(caching.FunctionCache):
        def __init__(self, py_func: Callable[..., Any], root: Path) -> None:
            self._impl_class = functools.partial(Impl, root=root)  # type: ignore[assignment]
            super().__init__(py_func)

        def load_overload(self, sig: Any, target_context: Any) -> Any:
            if not self._impl.locator.private():
                return None  # compile in memory: never unpickle what another user could write
            try:
                return super().load_overload(sig, target_context)
            except Exception:  # a truncated or unreadable entry: compile instead
                return None

        def save_overload(self, sig: Any, data: Any) -> None:
            if not self._impl.locator.private():
                return
            # A read-only folder, a full disk: the kernel runs uncached.
            with contextlib.suppress(Exception):
                super().save_overload(sig, data)
                _private_files(Path(self._cache_path))

    return PrivateCache
