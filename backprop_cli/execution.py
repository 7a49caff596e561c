"""Running independent jobs (optimizer races, sweep trials): in this process, in local worker
processes, or on a Dask cluster, all through joblib, so the same code serves every case.

Each job is a top-level function and picklable arguments; its result comes back as it finishes.
Jobs are seeded by their own configs, so where they run never changes what they compute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any, TypeVar

from .errors import BpropError

R = TypeVar("R")

DASK_HINT = (
    "--dask needs Dask's distributed scheduler client: pip install 'bprop[dask]' "
    "(or pip install 'dask[distributed]')"
)


class ExecutionError(BpropError):
    """The jobs could not be started where they were asked to run (exit code 2)."""


def connect(address: str) -> Any:
    """A client of the Dask scheduler at ``address`` (e.g. tcp://10.0.0.5:8786)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ExecutionError(DASK_HINT) from None
    try:
        return Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise ExecutionError(
            f"--dask: cannot reach a Dask scheduler at {address} ({exc}); start one with "
            "`dask scheduler` and workers with `dask worker ADDRESS`"
        ) from None


def check_dask(address: str) -> None:
    """Fail early (before any file is written) when the Dask scheduler cannot be used."""
    connect(address).close()


def run_all(
    fn: Callable[..., R],
    jobs: Sequence[tuple[Any, ...]],
    n_jobs: int = 1,
    dask: str | None = None,
) -> Iterator[tuple[int, R]]:
    """(index, result) of ``fn(*args)`` for each args in ``jobs``, in completion order.

    ``n_jobs`` 1 runs them here, one after another; more runs them in that many local processes;
    ``dask`` sends them to the workers of the scheduler at that address.
    """
    if dask is None and (n_jobs <= 1 or len(jobs) <= 1):
        for index, args in enumerate(jobs):
            yield index, fn(*args)
        return

    from joblib import Parallel, delayed, parallel_config

    with ExitStack() as stack:
        if dask is not None:
            stack.enter_context(connect(dask))  # the default client while it is open
            stack.enter_context(parallel_config(backend="dask"))
            workers = -1
        else:
            workers = min(n_jobs, len(jobs))
        tasks = (delayed(_indexed)(fn, index, args) for index, args in enumerate(jobs))
        parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
        yield from parallel(tasks)


def _indexed(fn: Callable[..., R], index: int, args: tuple[Any, ...]) -> tuple[int, R]:
    return index, fn(*args)
