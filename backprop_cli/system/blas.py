"""How many threads BLAS gets for a run, chosen from the size of its products (threadpoolctl).

OpenBLAS starts as many threads as there are cores, and its threads spin while they wait for
work. For a small network that costs more than it gains, and on a busy machine two threads
spinning against another load collapse: configs/digits.yaml trained 4× slower with two threads
than with one beside a single busy loop (`make bench`, the busy-machine rows). Two threads pay
from about 2²² multiply-adds per forward pass on this kind of machine (784-256-128-10 at batch
128: 1.4× faster with two; 64-128-64-10 at batch 64: no faster; measured in `make bench`).

A run that is one of several side by side (a worker of `sweep`, `cv` or `compare-optimizers`,
local or on Dask) gets one thread, whatever its size: the workers already share the cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Multiply-adds of one forward pass (batch rows × parameters) from which a second thread pays.
TWO_FROM = 2**22

_pinned: int | None = None
#: Each BLAS library's threads when bprop first saw it, by its file: the most it is given.
_first_seen: dict[str, int] = {}
#: The counts each open `limited` block wants, oldest first, and what the libraries had before.
_open: list[dict[str, int]] = []
_before: dict[str, int] = {}
_lock = threading.RLock()
#: Jobs running in this process as workers (`one_per_worker`), and the limit they share.
_workers = 0
_workers_lock = threading.Lock()
_lifted = contextlib.ExitStack()


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_for(rows: int, parameters: int) -> int:
    """BLAS threads for products of batches of ``rows`` rows through ``parameters``
    parameters: one, or two where they pay (and the process may use two cores, and its BLAS
    was allowed two: OPENBLAS_NUM_THREADS=1 holds); one in a worker."""
    if _pinned is not None:
        return _pinned
    if rows * parameters < TWO_FROM:
        return 1
    return min(2, cores(), _most())


def _most() -> int:
    """The most threads any loaded BLAS library had when bprop first saw it (1 with none)."""
    counts = [_first_seen.setdefault(lib.filepath, lib.num_threads) for lib in _libraries()]
    return max(counts, default=1)


@contextlib.contextmanager
def limited(threads: int, compiled: bool = False) -> Iterator[int]:
    """BLAS libraries loaded in this process use at most ``threads`` threads inside the block;
    yields ``threads``. Blocks may close in any order (two runs of the Python API side by
    side): the newest block still open holds, and when none is, each library has again what
    it had before the first.

    With ``compiled`` (a run whose steps are compiled, `backprop_cli.kernels.epoch`), the steps'
    products go through the BLAS that numba calls, SciPy's, and NumPy's own BLAS (evaluation)
    gets one thread: two OpenBLAS libraries each with a worker thread spinning after its last
    call fight for two cores (784-256-128-10's compiled epoch took 0.95 to 1.1 ms a step instead
    of 0.50 when NumPy's BLAS had just run)."""
    libraries = _libraries()
    kernels = _numbas(libraries) if compiled else []
    with _lock:
        if not _open:
            _before.clear()
            _before.update({lib.filepath: lib.num_threads for lib in libraries})
        wanted = {}
        for library in libraries:
            count = threads if not kernels or library in kernels else 1
            # never more than the library had when first seen (OPENBLAS_NUM_THREADS=1 holds)
            first = _first_seen.setdefault(library.filepath, library.num_threads)
            wanted[library.filepath] = min(count, first)
        _open.append(wanted)
        _apply(libraries, wanted)
    try:
        yield threads
    finally:
        with _lock:
            _open.remove(wanted)
            _apply(_libraries(), _open[-1] if _open else _before)


def _libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process."""
    from threadpoolctl import ThreadpoolController

    return list(ThreadpoolController().select(user_api="blas").lib_controllers)


def _apply(libraries: list[Any], counts: dict[str, int]) -> None:
    """Give each library its count (one loaded since: what it had when first seen)."""
    for library in libraries:
        count = counts.get(library.filepath, _first_seen.get(library.filepath))
        if count is not None and library.num_threads != count:
            library.set_num_threads(count)


def _numbas(libraries: list[Any]) -> list[Any]:
    """The BLAS libraries SciPy's wheel brings (what numba's ``np.dot`` calls), in
    ``scipy.libs`` or ``scipy/.libs``; none where SciPy shares NumPy's."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or spec.origin is None:
        return []
    scipy = Path(spec.origin).parent
    folders = (scipy, scipy.parent / "scipy.libs")
    return [lib for lib in libraries if any(Path(lib.filepath).is_relative_to(f) for f in folders)]


@contextlib.contextmanager
def one_per_worker() -> Iterator[None]:
    """A job that runs beside others: one BLAS thread, and every run inside keeps to it. Jobs
    may overlap in one process (a Dask worker's threads): the first to start sets the limit,
    the last to end lifts it."""
    global _pinned, _workers, _lifted
    with _workers_lock:
        _workers += 1
        if _workers == 1:
            _pinned = 1
            _lifted = contextlib.ExitStack()
            _lifted.enter_context(limited(1))
    try:
        yield
    finally:
        with _workers_lock:
            _workers -= 1
            if _workers == 0:
                _lifted.close()
                _pinned = None
