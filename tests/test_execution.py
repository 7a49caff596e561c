"""runs/execution: jobs give the same results here and in worker processes, and a stop request
reaches every copy of it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from backprop_cli.runs.campaigns.execution import ExecutionError, StopRequest, check_dask, run_all


def square_plus(x: int, y: int) -> int:
    return x * x + y


def test_serial_and_parallel_runs_give_the_same_results_by_index() -> None:
    jobs = [(k, 1) for k in range(5)]
    serial = list(run_all(square_plus, jobs, n_jobs=1))
    assert serial == [(k, k * k + 1) for k in range(5)]  # here: in order
    parallel = sorted(run_all(square_plus, jobs, n_jobs=2))
    assert parallel == serial


def test_one_job_runs_here_whatever_the_worker_count() -> None:
    assert list(run_all(square_plus, [(3, 0)], n_jobs=4)) == [(0, 9)]


def test_a_stop_request_reaches_a_copy_in_another_process(tmp_path: Path) -> None:
    stop = StopRequest(tmp_path)
    copy = pickle.loads(pickle.dumps(stop))  # what a worker receives
    assert not stop() and not copy()
    stop.request()
    assert stop()
    fresh = pickle.loads(pickle.dumps(stop))  # a copy asks the file at its first call
    assert fresh()
    stop.clear()
    assert not stop.path.exists()


def test_a_stale_request_of_a_killed_command_stops_nothing(tmp_path: Path) -> None:
    old = StopRequest(tmp_path)
    old.request()
    StopRequest.remove_stale(tmp_path)
    assert not old.path.exists()
    assert not StopRequest(tmp_path)()
    assert StopRequest(tmp_path).path != old.path


def test_no_dask_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ExecutionError, match=r"dask needs Dask's distributed scheduler client"):
        check_dask("tcp://127.0.0.1:1")
