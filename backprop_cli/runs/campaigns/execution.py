"""Running independent jobs (optimizer races, sweep trials): in this process, in local worker
processes, or on a Dask cluster, all through joblib, so the same code serves every case.

Each job is a top-level function and picklable arguments; its result comes back as it finishes.
Jobs are seeded by their own configs, so where they run never changes what they compute.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from ...errors import BpropError, argument
from ...system import blas
from ...system.lifetime import die_with
from ...system.locking import held_by
from .scheduler_address import tcp_endpoint

R = TypeVar("R")
#: How long the first look at a scheduler's port may take.
PROBE_SECONDS = 3.0


def dask_hint() -> str:
    return (
        f"{argument('dask')} needs Dask's distributed scheduler client, bprop's dask extra: "
        "pip install '.[dask]' in bprop's folder (or pip install 'dask[distributed]')"
    )


class ExecutionError(BpropError):
    """The jobs could not be started where they were asked to run (exit code 2)."""


class OrphanedJobError(BpropError):
    """The command that started a job has ended (or another took its directory over): the job
    stops without writing another file."""


def connect(address: str) -> Any:
    """A client of the Dask scheduler at ``address`` (e.g. tcp://10.0.0.5:8786)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ExecutionError(dask_hint()) from None
    try:
        _probe(address)
        return Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise ExecutionError(
            f"{argument('dask')}: cannot reach a Dask scheduler at {address} ({exc}); start one "
            "with `dask scheduler` and workers with `dask worker ADDRESS`"
        ) from None


def _probe(address: str) -> None:
    """Raise at once when nothing listens at a tcp:// ``address`` (a refused connection or an
    unknown host), instead of after Dask's connection timeout; a slow network is left to Dask."""
    endpoint = tcp_endpoint(address)
    if endpoint is None:
        return
    try:
        socket.create_connection(endpoint, timeout=PROBE_SECONDS).close()
    except (ConnectionRefusedError, socket.gaierror):
        raise
    except OSError:
        pass


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
            stack.callback(shutdown_workers)
            workers = min(n_jobs, len(jobs))
        parent = os.getpid() if dask is None else None  # local workers end with this process
        tasks = (delayed(_indexed)(fn, index, args, parent) for index, args in enumerate(jobs))
        parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
        yield from parallel(tasks)


def _indexed(
    fn: Callable[..., R], index: int, args: tuple[Any, ...], parent: int | None
) -> tuple[int, R]:
    """A job in a worker: Ctrl-C, which a terminal sends to every process of the command, is
    left to the parent, which stops the jobs through their `StopRequest`. A local worker
    (``parent``, its parent process) ends when its parent does, however it ends. Its BLAS runs
    on one thread: a worker is one of several jobs side by side (`system.blas`)."""
    if parent is not None:
        die_with(parent)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    with blas.one_per_worker():
        return index, fn(*args)


#: What each local worker process starts with: BLAS on one thread from its first import.
ONE_THREAD_ENV = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                         "MKL_NUM_THREADS")}  # fmt: skip


class WorkerPool:
    """Jobs handed out one at a time, each to the next free worker (of ``n_jobs`` local
    processes, or of the Dask cluster at ``dask``), and their results as each ends: a search
    asks for its next trial only when a worker is free, never waiting for a batch."""

    def __init__(self, n_jobs: int, dask: str | None, stack: ExitStack) -> None:
        self._pending: dict[Any, int] = {}
        if dask is not None:
            from dask.distributed import wait

            self._client = stack.enter_context(connect(dask))
            self._wait = wait
            self.capacity = max(1, sum(self._client.nthreads().values()))
            self._parent: int | None = None
        else:
            from joblib.externals.loky import get_reusable_executor

            self._client = get_reusable_executor(max_workers=n_jobs, env=ONE_THREAD_ENV)
            stack.callback(shutdown_workers)
            self.capacity = n_jobs
            self._parent = os.getpid()  # local workers end with this process

    def __len__(self) -> int:
        """How many jobs are running or waiting for a worker."""
        return len(self._pending)

    def submit(self, index: int, fn: Callable[..., R], *args: Any) -> None:
        """Start ``fn(*args)`` as the job ``index``."""
        if self._parent is None:
            future = self._client.submit(
                _indexed, fn, index, args, None, pure=False, key=f"bprop-{index}-"
                f"{secrets.token_hex(4)}",
            )  # fmt: skip
        else:
            future = self._client.submit(_indexed, fn, index, args, self._parent)
        self._pending[future] = index

    def next_done(self) -> tuple[int, Any]:
        """(index, result) of a job that has ended, waiting for one if none has; a job's
        exception is raised here."""
        if self._parent is None:
            done = self._wait(list(self._pending), return_when="FIRST_COMPLETED").done
        else:
            done, _ = futures.wait(list(self._pending), return_when=futures.FIRST_COMPLETED)
        future = next(iter(done))
        del self._pending[future]
        index, result = future.result()
        return int(index), result


@contextlib.contextmanager
def worker_pool(n_jobs: int, dask: str | None) -> Iterator[WorkerPool]:
    """A `WorkerPool`, its local workers ended (or its Dask client closed) with the block."""
    with ExitStack() as stack:
        yield WorkerPool(n_jobs, dask, stack)


def shutdown_workers() -> None:
    """End joblib's local worker processes now rather than after their idle timeout, so that no
    worker outlives the command."""
    with contextlib.suppress(ImportError, AttributeError):
        from joblib.externals.loky import reusable_executor

        executor = reusable_executor._executor
        if executor is not None:
            executor.shutdown(wait=True)


class StopRequest:
    """ "Stop after the current step", for jobs wherever they run: `request` creates a file in the
    output directory, which local processes and Dask workers share, and calling the object asks
    whether it exists (at most every CHECK_SECONDS, so the per-step question costs nothing).

    The file's name is new for each command, so a file left by a killed one stops nothing.

    When the command holds the directory's lock (`locking.hold`), each question also checks
    that it still does: once the command has ended (killed, its lock gone with it) or another
    command has taken the directory over, the question raises `OrphanedJobError`, so a job on a
    Dask worker stops without another write (a run writes only between steps).
    """

    PREFIX = ".bprop-stop-"
    CHECK_SECONDS = 0.05

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / f"{self.PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self._requested = False
        self._next_check = 0.0
        self.holder = os.getpid() if held_by(directory, os.getpid()) else None

    def request(self) -> None:
        self._requested = True
        with contextlib.suppress(OSError):
            self.path.touch()

    def __call__(self) -> bool:
        if self._requested:
            return True
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.CHECK_SECONDS
            if self.holder is not None and not held_by(self.path.parent, self.holder):
                raise OrphanedJobError(
                    f"{self.path.parent}: the command that started this job has ended (its lock "
                    "is gone); stopped without writing more"
                )
            self._requested = self.path.exists()
        return self._requested

    def clear(self) -> None:
        """Remove the file (once every job has ended)."""
        with contextlib.suppress(OSError):
            self.path.unlink()

    @classmethod
    def remove_stale(cls, directory: Path) -> None:
        """Remove the files of earlier commands that were killed before they could."""
        for path in Path(directory).glob(f"{cls.PREFIX}*"):
            with contextlib.suppress(OSError):
                path.unlink()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "holder": self.holder}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self._requested, self._next_check = state["path"], False, 0.0
        self.holder = state["holder"]
