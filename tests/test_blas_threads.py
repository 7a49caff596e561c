"""BLAS threads chosen by a run's size (`system.blas`): the rule, the limits as the libraries see
them (threadpoolctl's own reading), workers kept to one thread, and the line `bprop train`
prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_info

from backprop_cli.runs.campaigns.execution import run_all
from backprop_cli.system import blas

from helpers import CONFIG_DIR, cli


def blas_threads() -> dict[str, int]:
    """Each loaded BLAS library's threads, by its file."""
    return {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_two_threads_from_the_crossover_one_below_and_in_a_worker() -> None:
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # NumPy's BLAS is loaded
    # two where the machine and its BLAS allow two (OPENBLAS_NUM_THREADS=1 would not)
    two = min(2, blas.cores(), max(blas_threads().values()))
    # digits: batches of 64 rows through 17,226 parameters: 1,102,464 < 2²² multiply-adds
    assert blas.threads_for(64, 17_226) == 1
    # 784-256-128-10 at batch 128: 30,098,688 ≥ 2²²
    assert blas.threads_for(128, 235_146) == two
    assert blas.threads_for(1, blas.TWO_FROM - 1) == 1
    assert blas.threads_for(1, blas.TWO_FROM) == two
    with blas.one_per_worker():
        assert blas.threads_for(128, 235_146) == 1
        assert set(blas_threads().values()) == {1}
    assert blas.threads_for(128, 235_146) == two


def test_a_limit_holds_inside_its_block_and_is_undone_after_it() -> None:
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # NumPy's BLAS is loaded
    before = blas_threads()
    with blas.limited(1) as threads:
        assert threads == 1
        assert set(blas_threads().values()) == {1}
    assert blas_threads() == before


def test_compiled_steps_keep_numpys_blas_to_one_thread() -> None:
    """Two OpenBLAS libraries (NumPy's, and SciPy's that numba's np.dot calls) would each
    spin a worker: a compiled run gives NumPy's one thread and SciPy's the chosen count."""
    pytest.importorskip("scipy.linalg.cython_blas")
    libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    scipys = blas._numbas(libraries)
    if not scipys or len(scipys) == len(libraries):
        pytest.skip("SciPy shares NumPy's BLAS here")
    if min(lib.num_threads for lib in scipys) < 2:
        pytest.skip("SciPy's BLAS has one thread here")
    with blas.limited(2, compiled=True):
        seen = blas_threads()
        assert all(seen[lib.filepath] == 2 for lib in scipys)
        others = [path for path in seen if path not in {lib.filepath for lib in scipys}]
        assert others and all(seen[path] == 1 for path in others)


def _threads_in_job() -> list[int]:
    np.dot(np.ones((2, 2)), np.ones((2, 2)))
    return [*sorted(set(blas_threads().values())), blas.threads_for(1024, 10**6)]


def test_jobs_in_worker_processes_keep_to_one_thread() -> None:
    results = dict(run_all(_threads_in_job, [(), ()], n_jobs=2))
    assert results == {0: [1, 1], 1: [1, 1]}


def test_jobs_on_dask_workers_keep_to_one_thread() -> None:
    """A Dask worker's process may run with many BLAS threads: each job keeps to one."""
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:  # fmt: skip
        results = dict(run_all(_threads_in_job, [(), ()], dask=cluster.scheduler_address))
    assert results == {0: [1, 1], 1: [1, 1]}


def test_bprop_train_names_its_threads(tmp_path: Path) -> None:
    np.dot(np.ones((2, 2)), np.ones((2, 2)))
    if min(blas.cores(), max(blas_threads().values())) < 2:
        pytest.skip("one core, or a BLAS kept to one thread: every run takes one")
    result = cli(["train", str(CONFIG_DIR / "mnist5k.yaml"), "--out", str(tmp_path / "run"),
                  "--set", "training.epochs=1", "--set", "training.kernels=numpy"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("steps: numpy — training.kernels: numpy; 2 BLAS threads\n")


def test_a_limit_inside_another_may_give_threads_back_but_never_more_than_at_start() -> None:
    """The benchmark times NumPy's products inside a compiled run's block; and a user's
    OPENBLAS_NUM_THREADS=1 holds for every run (in a child process: OpenBLAS reads it at
    load)."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))
    start = blas_threads()
    with blas.limited(1), blas.limited(2):
        assert blas_threads() == {path: min(2, n) for path, n in start.items()}
    code = (
        "import numpy as np\nfrom backprop_cli.system import blas\n"
        "from threadpoolctl import threadpool_info\n"
        "with blas.limited(2):\n"
        "    print(sorted({p['num_threads'] for p in threadpool_info()}))\n"
        "print(blas.threads_for(128, 235_146))\n"
    )
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.split() == ["[1]", "1"]  # kept to one, and said so


def test_overlapping_jobs_in_one_process_keep_the_limit_until_the_last_ends() -> None:
    """Two jobs in the threads of one Dask worker: the first to end must not lift the limit
    from under the other (what OpenBLAS reports to a thread other than the one that set it
    varies with its build, so the limit is read as bprop's runs read it)."""
    import threading

    np.dot(np.ones((2, 2)), np.ones((2, 2)))
    before = blas_threads()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[set[int]] = []

    def first() -> None:
        with blas.one_per_worker():
            first_in.set()
            assert second_in.wait(60)
        first_out.set()

    def second() -> None:
        assert first_in.wait(60)
        with blas.one_per_worker():
            second_in.set()
            assert first_out.wait(60)
            seen.append(blas.threads_for(1024, 10**6))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen == [1]  # still one: the first job's end did not lift the limit
    assert blas_threads() == before
    assert blas.threads_for(1024, 10**6) == min(2, blas.cores(), max(before.values()))


def test_blocks_closed_out_of_order_leave_the_libraries_as_they_were() -> None:
    """Two runs of the Python API open side by side, the first closed first: the second's
    limit holds until it closes, then every library has its own count again."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))
    before = blas_threads()
    first, second = blas.limited(2), blas.limited(1)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert set(blas_threads().values()) == {1}
    second.__exit__(None, None, None)
    assert blas_threads() == before
