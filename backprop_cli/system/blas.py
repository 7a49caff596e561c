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
import os
from collections.abc import Iterator

#: Multiply-adds of one forward pass (batch rows × weights) from which a second thread pays.
TWO_FROM = 2**22

_pinned: int | None = None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_for(rows: int, weights: int) -> int:
    """BLAS threads for products of batches of ``rows`` rows through ``weights`` weights: one,
    or two where they pay (and the process may use two cores); one in a worker."""
    if _pinned is not None:
        return _pinned
    return min(2, cores()) if rows * weights >= TWO_FROM else 1


@contextlib.contextmanager
def limited(threads: int) -> Iterator[int]:
    """BLAS libraries loaded in this process use at most ``threads`` threads inside the block
    (restored after it); yields ``threads``."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield threads


@contextlib.contextmanager
def one_per_worker() -> Iterator[None]:
    """A job that runs beside others: one BLAS thread, and every run inside keeps to it."""
    global _pinned
    saved, _pinned = _pinned, 1
    try:
        with limited(1):
            yield
    finally:
        _pinned = saved
