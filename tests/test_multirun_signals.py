"""SIGTERM or Ctrl-C to `bprop sweep` and `bprop compare-optimizers`, serial, in local processes
or on Dask: every running run stops after its current step, queued ones are cancelled, the
partial results are written, the command exits 130 and leaves no process behind."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backprop_cli.config import load_config

from helpers import CONFIG_DIR, cli

TOY = CONFIG_DIR / "moons.yaml"
ROOT = Path(__file__).resolve().parents[1]
#: Runs that go on until they are stopped.
ENDLESS = ["training.epochs=100000", "data.options.n_samples=120", "output.checkpoint_every=0",
           "training.batching={type: minibatch, size: 8}"]  # fmt: skip
LRS = ["--grid", "optimizer.lr=0.01,0.02,0.03"]


def sets(overrides: list[str]) -> list[str]:
    return [a for item in overrides for a in ("--set", item)]


def start(args: list[str]) -> subprocess.Popen[str]:
    """`bprop ARGS` as the leader of a new session (as a terminal would run it)."""
    command = [sys.executable, "-m", "backprop_cli", *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip


def wait_until_training(runs: list[Path], process: subprocess.Popen[str]) -> None:
    """Until each run has finished an epoch (a condition, not a guess at a duration)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.communicate())
        done = 0
        for run in runs:
            with contextlib.suppress(OSError, ValueError):
                done += len(json.loads((run / "history.json").read_text())) > 0
        if done == len(runs):
            return
        time.sleep(0.05)
    raise AssertionError(f"{runs} did not start training")


def session_members(sid: int) -> list[str]:
    """Live processes (not zombies) of session ``sid``: pid and command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == sid and fields[0] != "Z":  # the session id; the state
                found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()!r}")
        except (OSError, ValueError):
            continue
    return found


def assert_no_process_left(sid: int) -> None:
    """The workers are ended before the command exits; the resource trackers of Python's
    multiprocessing and of joblib end when they read the end of their pipe from it."""
    deadline = time.monotonic() + 60
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not session_members(sid), session_members(sid)
    workers = [p for p in session_members(sid) if b"loky" in p.encode()]
    assert not workers


def stop_and_finish(process: subprocess.Popen[str], how: str) -> tuple[str, str]:
    if how == "SIGTERM":
        process.send_signal(signal.SIGTERM)
    else:  # Ctrl-C in a terminal: SIGINT to every process of the foreground group
        os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert_no_process_left(process.pid)
    return out, err


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def trial_dirs(out: Path) -> list[Path]:
    return [out / f"t{k:03d}_lr={lr}" for k, lr in enumerate([0.01, 0.02, 0.03], 1)]


@pytest.mark.parametrize(("jobs", "how"), [(2, "SIGTERM"), (1, "Ctrl-C"), (2, "Ctrl-C")])
def test_a_sweep_stops_every_trial_writes_the_partial_results_and_exits_130(
    jobs: int, how: str, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", str(TOY), "--out", str(out), *LRS, *sets(ENDLESS), "--jobs", str(jobs)]
    process = start(args)
    running = trial_dirs(out)[:jobs]
    wait_until_training(running, process)
    stdout, _ = stop_and_finish(process, how)
    table = {r["name"]: r["status"] for r in rows(out / "sweep.csv")}
    names = [p.name for p in trial_dirs(out)]
    assert [table[n] for n in names] == ["interrupted"] * jobs + ["cancelled"] * (3 - jobs)
    for run in running:
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["stop_reason"] == "interrupted" and metrics["epochs_run"] >= 1
    for name in names[jobs:]:
        assert not (out / name).exists()
    assert json.loads((out / "sweep.json").read_text())["trials"]
    command = shlex.split(stdout.split("continue with: ", 1)[1].strip())
    assert command[:4] == ["python", "-m", "backprop_cli", "sweep"] and "--resume" in command
    assert command[command.index("--out") + 1] == str(out)
    assert sorted(p.name for p in out.glob(".bprop-*")) == [".bprop-sweep"]  # lock, stop: gone


@pytest.mark.parametrize(("jobs", "how"), [(2, "SIGTERM"), (1, "Ctrl-C")])
def test_a_comparison_stops_every_optimizer_writes_the_partial_results_and_exits_130(
    jobs: int, how: str, tmp_path: Path
) -> None:
    out = tmp_path / "cmp"
    args = ["compare-optimizers", str(TOY), "--out", str(out), "--optimizers", "sgd,adam,rmsprop",
            *sets(ENDLESS), "--jobs", str(jobs)]  # fmt: skip
    process = start(args)
    running = [out / name for name in ("sgd", "adam", "rmsprop")[:jobs]]
    wait_until_training(running, process)
    stop_and_finish(process, how)
    table = {r["optimizer"]: r["status"] for r in rows(out / "comparison.csv")}
    expected = {"sgd": "interrupted", "adam": "interrupted" if jobs > 1 else "cancelled",
                "rmsprop": "cancelled"}  # fmt: skip
    assert table == expected
    for run in running:
        assert json.loads((run / "metrics.json").read_text())["stop_reason"] == "interrupted"
    assert not list(out.glob(".bprop-*"))


@pytest.mark.parametrize(("jobs", "how"), [(2, "SIGTERM"), (1, "Ctrl-C")])
def test_a_cross_validation_stops_every_fold_summarizes_and_exits_130(
    jobs: int, how: str, tmp_path: Path
) -> None:
    out = tmp_path / "cv"
    args = ["cv", str(TOY), "--folds", "3", "--out", str(out), *sets(ENDLESS), "--jobs", str(jobs)]
    process = start(args)
    running = [out / f"fold-{k}" for k in range(1, jobs + 1)]
    wait_until_training(running, process)
    stdout, _ = stop_and_finish(process, how)
    table = {r["fold"]: r["status"] for r in rows(out / "cv.csv")}
    expected = ["interrupted"] * jobs + ["cancelled"] * (3 - jobs)
    assert [table[str(k)] for k in (1, 2, 3)] == expected
    for run in running:
        assert json.loads((run / "metrics.json").read_text())["stop_reason"] == "interrupted"
    assert not (out / f"fold-{jobs + 1}").exists()
    command = shlex.split(stdout.split("Run again: ", 1)[1].strip())
    assert command[:4] == ["python", "-m", "backprop_cli", "cv"]
    assert "--out" not in command  # a new directory
    assert not list(out.glob(".bprop-*"))


def test_a_sweep_and_a_comparison_on_dask_stop_too(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    out, cmp = tmp_path / "sweep", tmp_path / "cmp"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:  # fmt: skip
        dask = ["--dask", cluster.scheduler_address]
        process = start(["sweep", str(TOY), "--out", str(out), *LRS, *sets(ENDLESS), *dask])
        wait_until_training(trial_dirs(out)[:2], process)
        stop_and_finish(process, "SIGTERM")
        process = start(["compare-optimizers", str(TOY), "--out", str(cmp), "--optimizers",
                         "sgd,adam,rmsprop", *sets(ENDLESS), *dask])  # fmt: skip
        wait_until_training([cmp / "sgd", cmp / "adam"], process)
        stop_and_finish(process, "SIGTERM")
    statuses = sorted(r["status"] for r in rows(out / "sweep.csv"))
    assert statuses == ["cancelled", "interrupted", "interrupted"]
    table = {r["optimizer"]: r["status"] for r in rows(cmp / "comparison.csv")}
    assert table == {"sgd": "interrupted", "adam": "interrupted", "rmsprop": "cancelled"}


def test_sigterm_while_loading_data_exits_130(tmp_path: Path) -> None:
    env = os.environ | {"BPROP_TEST_SIGNAL": "SIGTERM@load#1"}
    for args in (["train", str(TOY), "--out", str(tmp_path / "run")],
                 ["sweep", str(TOY), *LRS, "--out", str(tmp_path / "sweep")]):  # fmt: skip
        command = [sys.executable, "-m", "backprop_cli", *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 130, done.stderr
        assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


# ------------------------------------------------------------ failures and resume
def test_a_contestant_failing_with_any_error_is_recorded_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backprop_cli.runs.campaigns.campaign as campaign_module
    from backprop_cli.runs.campaigns.race import contestants

    real_prepare = campaign_module.prepare

    def fragile(cfg: object) -> object:
        if cfg.optimizer.type == "adam":  # type: ignore[attr-defined]
            raise RuntimeError("adam fell over")
        return real_prepare(cfg)  # type: ignore[arg-type]

    monkeypatch.setattr(campaign_module, "prepare", fragile)
    out = tmp_path / "cmp"
    result = cli(["compare-optimizers", str(TOY), "--out", str(out), "--optimizers",
                  "sgd,adam,rmsprop", "--quiet", "--set", "training.epochs=2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = {r["optimizer"]: r["status"] for r in rows(out / "comparison.csv")}
    assert table == {"sgd": "ok", "adam": "error", "rmsprop": "ok"}
    detail = json.loads((out / "comparison.json").read_text())["results"]
    assert any("adam fell over" in r["detail"] for r in detail)
    # The worker's entry point too (what --jobs and --dask run).
    lineup = contestants(load_config(TOY), ["adam"], str(TOY))
    (tmp_path / "w").mkdir()
    worker = campaign_module.Campaign(tmp_path / "w")
    assert campaign_module.run_job(worker, lineup[0]).status == "error"


QUICK = ["data.options.n_samples=120", "training.batching={type: minibatch, size: 32}"]


def test_sweep_resume_reruns_interrupted_trials_and_says_what_changed(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    base = ["sweep", str(TOY), "--out", str(out)]
    first = cli([*base, *LRS, *sets([*QUICK, "training.epochs=2"])])
    assert first.exit_code == 0, first.output
    # An interrupted trial is rerun, not taken as finished.
    t2 = out / "t002_lr=0.02"
    metrics = json.loads((t2 / "metrics.json").read_text())
    (t2 / "metrics.json").write_text(json.dumps(metrics | {"stop_reason": "interrupted"}))
    again = cli([*base, *LRS, *sets([*QUICK, "training.epochs=2"]), "--resume"])
    assert again.exit_code == 0, again.output
    assert "1 trials on this process" in again.output and "2 already finished" in again.output
    # A changed base config reruns every trial, the earlier runs kept apart.
    changed = cli([*base, *LRS, *sets([*QUICK, "training.epochs=3"]), "--resume"])
    assert changed.exit_code == 0, changed.output
    assert "the config or the space changed" in changed.output
    assert "t001_lr=0.01: training.epochs differ" in changed.output
    assert {r["epochs"] for r in rows(out / "sweep.csv")} == {"3"}
    assert sorted(p.name for p in (out / "superseded").iterdir()) == [
        "t001_lr=0.01", "t002_lr=0.02", "t003_lr=0.03"]  # fmt: skip
    # A changed space: the trial that stayed is kept, the new one runs, the dropped one is named.
    space = cli([*base, "--grid", "optimizer.lr=0.01,0.05", *sets([*QUICK, "training.epochs=3"]),
                 "--resume"])  # fmt: skip
    assert space.exit_code == 0, space.output
    assert "1 trials on this process" in space.output and "1 already finished" in space.output
    assert "not in this space" in space.output and "t003_lr=0.03" in space.output
    assert sorted(r["name"] for r in rows(out / "sweep.csv")) == ["t001_lr=0.01", "t002_lr=0.05"]


def test_a_cross_validation_on_dask_equals_the_serial_one(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    common = ["cv", str(TOY), "--folds", "2", "--quiet", "--set", "training.epochs=3"]
    assert cli([*common, "--out", str(tmp_path / "serial")]).exit_code == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:  # fmt: skip
        result = cli([*common, "--out", str(tmp_path / "dask"), "--dask",
                      cluster.scheduler_address])  # fmt: skip
    assert result.exit_code == 0, result.output
    serial = json.loads((tmp_path / "serial" / "cv.json").read_text())
    remote = json.loads((tmp_path / "dask" / "cv.json").read_text())
    assert remote["mean"] == serial["mean"] and remote["std"] == serial["std"]


# ------------------------------------------------------- workers end with their parent
@pytest.mark.parametrize(
    "command",
    [  # all three start their workers through `execution.run_all`: one in the quick suite
        "sweep",
        pytest.param("cv", marks=pytest.mark.slow),
        pytest.param("compare-optimizers", marks=pytest.mark.slow),
    ],
)
def test_local_workers_end_when_the_command_is_killed(command: str, tmp_path: Path) -> None:
    """``kill -9`` of the command alone (not its process group): its worker processes end at
    once with it (the kernel's parent-death signal) instead of training on, writing into a
    directory whose lock died with the command."""
    out = tmp_path / "out"
    extra = {
        "sweep": [*LRS],
        "cv": ["--folds", "3"],
        "compare-optimizers": ["--optimizers", "sgd,adam,rmsprop"],
    }[command]
    process = start([command, str(TOY), "--out", str(out), *extra, *sets(ENDLESS), "--jobs", "2"])
    running = {
        "sweep": trial_dirs(out)[:2],
        "cv": [out / "fold-1", out / "fold-2"],
        "compare-optimizers": [out / "sgd", out / "adam"],
    }[command]
    wait_until_training(running, process)
    workers = [p for p in session_members(process.pid) if "LokyProcess" in p]
    assert len(workers) == 2, session_members(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    try:
        assert_no_process_left(process.pid)
    finally:  # whatever the outcome, no worker outlives the test
        for line in session_members(process.pid):
            with contextlib.suppress(OSError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)


HOLDER = """\
import base64, pickle, sys
from pathlib import Path
from backprop_cli.runs.campaigns.execution import StopRequest
from backprop_cli.system.locking import hold

with hold(Path(sys.argv[1])):
    print(base64.b64encode(pickle.dumps(StopRequest(Path(sys.argv[1])))).decode(), flush=True)
    sys.stdin.read()
"""


def test_a_job_whose_command_is_gone_stops_without_writing(tmp_path: Path) -> None:
    """What a Dask worker holds: the command's `StopRequest`, pickled. While the command holds
    its directory's lock the job goes on; once the command is killed (its lock dies with it),
    the next question raises, so the job stops between two steps, before any further write."""
    import base64
    import pickle

    from backprop_cli.runs.campaigns.execution import OrphanedJobError, StopRequest

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None
        stop = pickle.loads(base64.b64decode(holder.stdout.readline()))
        assert isinstance(stop, StopRequest) and stop.holder == holder.pid
        assert stop() is False  # the command is alive and holds the directory
    finally:
        holder.kill()
        holder.communicate()
    stop._next_check = 0.0  # ask again now rather than after CHECK_SECONDS
    with pytest.raises(OrphanedJobError, match="the command that started this job has ended"):
        stop()
    from backprop_cli.runs.campaigns.campaign import Campaign, RunJob, run_job

    config = load_config(TOY, ["training.epochs=5", "data.options.n_samples=60"])
    campaign = Campaign(tmp_path)
    campaign.stop = stop
    stop._next_check = 0.0
    with pytest.raises(OrphanedJobError):
        run_job(campaign, RunJob("t001", config))
    assert not (tmp_path / "t001").exists()
