"""Guided sweeps (bprop[tune]): Optuna's samplers and pruners on a tiny task, the study kept in
the sweep directory, a resumed search equal to an uninterrupted one after a kill at a chosen
write of its journal, and trials started as soon as a worker is free, here, in local processes
and on Dask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from backprop_cli.config import load_config
from backprop_cli.errors import ConfigError
from backprop_cli.runs.campaigns.sweep import Space

from helpers import cli, history_of

pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[1]
#: A task that trains in a few milliseconds an epoch: moons, 200 points, a tanh layer of 8.
TINY: dict[str, Any] = {
    "name": "tiny",
    "data": {"dataset": "moons", "options": {"n_samples": 200}},
    "model": {
        "layers": [
            {"type": "dense", "units": 8, "activation": "tanh"},
            {"type": "dense", "units": 2, "activation": "softmax"},
        ]
    },
    "loss": "cross_entropy",
    "training": {"epochs": 12},
    "output": {"checkpoint_every": 0},
}
LR = {"optimizer.lr": "loguniform:1e-4:1e-1"}


def config(tmp_path: Path, sweep: dict[str, Any], **extra: Any) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY | extra | {"sweep": sweep}), encoding="utf-8")
    return path


def search(tmp_path: Path, sweep: dict[str, Any], *args: str, out: str = "sweep") -> Any:
    result = cli(["sweep", str(config(tmp_path, sweep)), "--out", str(tmp_path / out),
                  "--quiet", *args])  # fmt: skip
    return result


def trials_of(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "sweep.json").read_text())["trials"]


def by_place(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """sweep.json's trials in the order of their places, without the seconds they took."""
    rows = sorted(trials, key=lambda t: t["id"])
    return [{k: v for k, v in t.items() if k != "seconds"} for t in rows]


# ------------------------------------------------------------------ samplers
@pytest.mark.parametrize("sampler", ["random", "tpe", "cmaes", "gp"])
def test_each_sampler_draws_its_trials_within_the_space(tmp_path: Path, sampler: str) -> None:
    if sampler == "gp":
        pytest.importorskip("torch")
    space = LR | {"model.layers.0.units": "int:4:16"}
    sweep = {"space": space, "search": {"type": sampler, "trials": 6, "seed": 3}}
    result = search(tmp_path, sweep)
    assert result.exit_code == 0, result.output
    out = tmp_path / "sweep"
    trials = by_place(trials_of(out))
    assert [t["id"] for t in trials] == [1, 2, 3, 4, 5, 6]
    for t in trials:
        assert 1e-4 <= t["params"]["optimizer.lr"] <= 1e-1
        assert t["params"]["model.layers.0.units"] in range(4, 17)
        assert t["status"] == "ok" and t["epochs"] == 12
        config_ = yaml.safe_load((out / t["name"] / "config.yaml").read_text())
        assert config_["optimizer"]["lr"] == t["params"]["optimizer.lr"]  # the run is the trial's
    assert len({t["params"]["optimizer.lr"] for t in trials}) == 6
    assert (out / "study.journal").exists() == (sampler != "random")  # random needs no study
    assert (out / "best.yaml").is_file()
    again = search(tmp_path, sweep, out="again")  # the same seed, the same trials
    assert again.exit_code == 0
    assert by_place(trials_of(tmp_path / "again")) == trials


def test_tpe_learns_from_the_trials_before(tmp_path: Path) -> None:
    """After its random start, TPE draws near the good learning rates: on this task the loss
    falls as the rate grows over [1e-4, 0.1], so its later draws lie above the earlier ones."""
    sweep = {"space": LR, "search": {"type": "tpe", "trials": 24, "seed": 0}}
    assert search(tmp_path, sweep).exit_code == 0
    lrs = [t["params"]["optimizer.lr"] for t in by_place(trials_of(tmp_path / "sweep"))]
    start, later = sorted(lrs[:10]), sorted(lrs[10:])
    assert later[len(later) // 2] > start[len(start) // 2]  # the medians


def test_a_grid_and_random_search_with_a_pruner_run_bprops_own_points(tmp_path: Path) -> None:
    """With a pruner, a grid or random search goes through a study, its trials the very points
    it runs without one."""
    grid = {"grid": {"optimizer.lr": [0.1, 0.01, 0.001]}, "search": {"type": "grid"}}
    plain = search(tmp_path, grid, out="plain")
    pruned = search(tmp_path, grid | {"pruner": {"type": "median", "min_epochs": 1,
                                                  "startup_trials": 1}}, out="pruned")  # fmt: skip
    assert plain.exit_code == 0 and pruned.exit_code == 0, pruned.output
    assert [t["params"] for t in by_place(trials_of(tmp_path / "plain"))] == [
        t["params"] for t in by_place(trials_of(tmp_path / "pruned"))
    ]
    assert not (tmp_path / "plain" / "study.journal").exists()
    random = {"space": LR, "search": {"type": "random", "trials": 4}}
    search(tmp_path, random, out="r1")
    search(tmp_path, random | {"pruner": {"type": "hyperband"}}, out="r2")
    assert [t["params"] for t in by_place(trials_of(tmp_path / "r1"))] == [
        t["params"] for t in by_place(trials_of(tmp_path / "r2"))
    ]


# ------------------------------------------------------------------ pruners
@pytest.mark.parametrize(
    "pruner",
    [{"type": "median", "min_epochs": 2, "startup_trials": 2},
     {"type": "successive_halving", "min_epochs": 1, "reduction_factor": 2},
     {"type": "hyperband", "min_epochs": 1, "reduction_factor": 3}],
    ids=lambda p: p["type"],
)  # fmt: skip
def test_a_pruned_trial_stops_and_keeps_its_run_directory(
    tmp_path: Path, pruner: dict[str, Any]
) -> None:
    sweep = {"space": LR, "search": {"type": "random", "trials": 10, "seed": 1}, "pruner": pruner}
    result = search(tmp_path, sweep)
    assert result.exit_code == 0, result.output
    out = tmp_path / "sweep"
    trials = trials_of(out)
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert pruned, "a pruner over lrs from 1e-4 to 0.1 stops some"
    assert any(t["status"] == "ok" for t in trials)
    for t in pruned:
        run = out / t["name"]
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["stop_reason"] == "pruned" and metrics["epochs_run"] == t["pruned_at"]
        assert "pruner" in metrics["stop_detail"]
        assert t["epochs"] == t["pruned_at"] < 12 and t["pruned_at"] >= pruner["min_epochs"]
        assert [r["epoch"] for r in history_of(run)] == list(range(1, t["pruned_at"] + 1))
        assert (run / "checkpoints" / "last.npz").is_file()
    assert all(t["pruned_at"] is None for t in trials if t["status"] != "pruned")
    ranks = [t["status"] for t in trials]  # finished trials first, then the pruned ones
    assert ranks == sorted(ranks, key=lambda s: s == "pruned")
    csv_text = (out / "sweep.csv").read_text()
    assert "pruned_at" in csv_text.splitlines()[0] and ",pruned," in csv_text
    listing = cli(["runs", str(out), "--json"])
    assert {r["status"] for r in json.loads(listing.output)} >= {"pruned", "completed"}


def test_the_median_pruner_spares_its_startup_trials_and_first_epochs(tmp_path: Path) -> None:
    pruner = {"type": "median", "min_epochs": 4, "startup_trials": 3}
    sweep = {"space": LR, "search": {"type": "random", "trials": 8, "seed": 1}, "pruner": pruner}
    assert search(tmp_path, sweep).exit_code == 0
    trials = by_place(trials_of(tmp_path / "sweep"))
    assert all(t["status"] == "ok" for t in trials[:3])
    assert all(t["pruned_at"] is None or t["pruned_at"] >= 4 for t in trials)


# ------------------------------------------------------------------ resuming
def killed_then_resumed(
    tmp_path: Path, sweep: dict[str, Any], at: int, name: str, check: bool = False
) -> Path:
    """The sweep killed right after the ``at``-th line of its journal lands, then resumed; with
    ``check``, that the resume ran no finished trial again and asked the one that was running
    again (a new study trial of the same name, the old one failed)."""
    path, out = config(tmp_path, sweep), tmp_path / name
    env = os.environ | {"BPROP_TEST_SIGNAL": f"SIGKILL@journal#{at}"}
    command = [sys.executable, "-m", "backprop_cli", "sweep", str(path), "--out", str(out),
               "--quiet"]  # fmt: skip
    killed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    before = study_trials(out)
    ended = [t.user_attrs["bprop.name"] for t in before if t.state.name in ("COMPLETE", "PRUNED")]
    finished = {trial: (out / trial / "metrics.json").stat().st_mtime_ns for trial in ended}
    running = [t.user_attrs.get("bprop.name") for t in before if t.state.name == "RUNNING"]
    quiet = [] if check else ["--quiet"]
    result = cli(["sweep", str(path), "--out", str(out), "--resume", *quiet])
    assert result.exit_code == 0, result.output
    if check:
        named = [name for name in running if name]
        assert ("asking again" in result.output) == bool(named), result.output
        assert all(name in result.output for name in named)
        for trial, stamp in finished.items():  # kept as they were, not trained again
            assert (out / trial / "metrics.json").stat().st_mtime_ns == stamp
        after = study_trials(out)
        for trial in filter(None, running):
            states = [t.state.name for t in after if t.user_attrs.get("bprop.name") == trial]
            assert states[0] == "FAIL" and states[-1] in ("COMPLETE", "PRUNED"), states
    return out


def study_trials(out: Path) -> list[Any]:
    """The trials of a sweep's study, as Optuna reads its journal."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if not (out / "study.journal").exists():
        return []
    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    return optuna.load_study(study_name="bprop-sweep", storage=storage).trials


GUIDED = {"space": LR | {"model.layers.0.units": "choice:4,8,16"},
          "search": {"type": "tpe", "trials": 6, "seed": 5},
          "pruner": {"type": "median", "min_epochs": 2, "startup_trials": 2}}  # fmt: skip


def journal_lines(out: Path) -> int:
    return len((out / "study.journal").read_bytes().splitlines())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], int]:
    """The guided sweep never stopped: its trials, and how many lines its journal holds."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    assert search(tmp, GUIDED).exit_code == 0
    return by_place(trials_of(tmp / "sweep")), journal_lines(tmp / "sweep")


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0], ids=["first", "middle", "last"])
def test_a_search_killed_at_a_journal_write_resumes_as_if_never_stopped(
    tmp_path: Path, uninterrupted: tuple[list[dict[str, Any]], int], share: float
) -> None:
    reference, lines = uninterrupted
    at = max(1, round(share * (lines - 1)))
    out = killed_then_resumed(tmp_path, GUIDED, at, "resumed", check=True)
    assert by_place(trials_of(out)) == reference


@pytest.mark.slow
def test_a_search_killed_at_every_journal_write_resumes_as_if_never_stopped(
    tmp_path: Path, uninterrupted: tuple[list[dict[str, Any]], int]
) -> None:
    reference, lines = uninterrupted
    for at in range(1, lines):
        out = killed_then_resumed(tmp_path, GUIDED, at, f"resumed-{at}", check=True)
        assert by_place(trials_of(out)) == reference, f"killed after journal line {at}"


def test_a_journal_line_cut_short_is_taken_back(
    tmp_path: Path, uninterrupted: tuple[list[dict[str, Any]], int]
) -> None:
    reference, lines = uninterrupted
    out = killed_then_resumed(tmp_path, GUIDED, lines // 2, "torn")
    journal = out / "study.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code": 5, "worker_id": "x", "tri')  # a kill mid-append
    result = search(tmp_path, GUIDED, "--resume", out="torn")
    assert result.exit_code == 0, result.output
    after = journal.read_bytes()
    assert after.startswith(whole)  # the torn tail gone, nothing before it touched
    assert all(json.loads(line) for line in after.splitlines())
    assert by_place(trials_of(out)) == reference


def test_a_resume_of_a_changed_search_is_refused(tmp_path: Path) -> None:
    assert search(tmp_path, GUIDED).exit_code == 0
    changed = GUIDED | {"search": {"type": "tpe", "trials": 6, "seed": 6}}
    result = search(tmp_path, changed, "--resume")
    assert result.exit_code == 2 and "changed since this guided sweep began" in result.output


# ------------------------------------------------------------------ side by side
def test_two_workers_and_dask_run_every_trial(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    sweep = {"space": LR, "search": {"type": "tpe", "trials": 6, "seed": 2},
             "pruner": {"type": "median", "min_epochs": 2, "startup_trials": 2}}  # fmt: skip
    assert search(tmp_path, sweep, "--jobs", "2", out="jobs").exit_code == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:  # fmt: skip
        result = search(tmp_path, sweep, "--dask", cluster.scheduler_address, out="dask")
        assert result.exit_code == 0, result.output
    for name in ("jobs", "dask"):
        trials = by_place(trials_of(tmp_path / name))
        assert [t["id"] for t in trials] == list(range(1, 7))
        assert {t["status"] for t in trials} <= {"ok", "pruned"}
        for t in trials:
            run = tmp_path / name / t["name"]
            assert json.loads((run / "metrics.json").read_text())["epochs_run"] == t["epochs"]


# ------------------------------------------------------------------ config errors
@pytest.mark.parametrize(
    ("sweep", "words"),
    [({"space": LR, "search": {"type": "tpe"}}, "set trials"),
     ({"grid": {"optimizer.lr": [0.1]}, "search": {"type": "grid", "trials": 3}},
      "leave out trials"),
     ({"space": LR, "random": 3, "search": {"type": "random", "trials": 3}}, "not both"),
     ({"space": LR, "search": {"type": "tpx", "trials": 3}}, "tpe"),
     ({"space": LR, "search": {"type": "tpe", "trials": 0}}, "greater than or equal to 1"),
     ({"space": LR, "search": {"type": "tpe", "trials": 3}, "pruner": {"type": "median",
       "min_epoch": 2}}, "min_epochs"),
     ({"space": LR, "search": {"type": "tpe", "trials": 3}, "pruner": {"type": "hyperband",
       "reduction_factor": 1}}, "greater than or equal to 2"),
     ({"space": LR, "search": {"type": "tpe", "trials": 3, "time_budget": -1}}, "time_budget"),
     ({"grid": {"optimizer.lr": [0.1]}, "space": LR, "search": {"type": "grid"}},
      "grid search runs the combinations"),
     ({"search": {"type": "tpe", "trials": 3}}, "give at least one"),
     ({"space": LR, "search": {"type": "tpe", "trials": 10**9}}, "at most 100,000"),
     ({"space": {"optimizer.lr": "choice:0.01,0.01,0.1"}, "search": {"type": "tpe", "trials": 3}},
      "list each value once"),
     ({"grid": {"optimizer.lr": [1, 1.0]}, "search": {"type": "grid"}, "pruner": {"type":
       "median"}}, "the same choice to the study"),
     ({"space": LR, "search": {"type": "tpe", "trials": 3}, "pruner": {"type": "hyperband",
       "min_epochs": 12}}, "would never stop a trial")],
)  # fmt: skip
def test_a_search_or_pruner_config_error_names_the_key(
    tmp_path: Path, sweep: dict[str, Any], words: str
) -> None:
    result = search(tmp_path, sweep)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "sweep").exists()  # nothing written


def test_folds_with_a_guided_search_are_refused(tmp_path: Path) -> None:
    result = search(tmp_path, GUIDED, "--folds", "2")
    assert result.exit_code == 2 and "bprop cv" in result.output


def test_without_optuna_a_guided_search_is_refused_with_the_install_hint(tmp_path: Path) -> None:
    path = config(tmp_path, GUIDED)
    code = ("import sys; sys.modules['optuna'] = None; from backprop_cli.cli.app import main; "
            f"sys.argv = ['bprop', 'sweep', {str(path)!r}, '--out', {str(tmp_path / 'o')!r}]; "
            "main()")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "pip install '.[tune]'" in done.stdout + done.stderr
    assert not (tmp_path / "o").exists()
    grid = config(tmp_path, {"grid": {"optimizer.lr": [0.1, 0.01]}})  # no study: no Optuna
    code = code.replace(str(path), str(grid))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_space_of_a_model_based_search(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, {"space": LR, "grid": {"training.batching.size": [16, 32]},
                                        "search": {"type": "cmaes", "trials": 7}}))  # fmt: skip
    space = Space.build(cfg)
    assert space.model_based and space.guided and space.planned == 7
    assert space.keys == ["training.batching.size", "optimizer.lr"]
    with pytest.raises(ConfigError, match=r"sweep\.search\.trials"):
        Space.build(cfg, random=3)


def test_a_time_budget_starts_no_trial_once_spent(tmp_path: Path) -> None:
    sweep = {"space": LR, "search": {"type": "tpe", "trials": 5, "time_budget": 1e-9}}
    result = cli(["sweep", str(config(tmp_path, sweep)), "--out", str(tmp_path / "s"), "--quiet"])
    assert "time budget" in result.output and "0 of 5 trials started" in result.output
    assert result.exit_code != 0  # no trial finished


class HeldUntil:
    """A judge that holds its run at the end of its first epoch until ``release`` exists (for at
    most two minutes), then lets it go on: a trial that cannot end before the others have."""

    def __init__(self, release: Path) -> None:
        self.release = release

    def __call__(self, event: Any) -> None:
        from threadpoolctl import threadpool_info

        threads = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        (self.release.parent / "blas-threads").write_text(json.dumps(threads))
        for _ in range(1200):  # bounded in count and time
            if self.release.exists():
                return None
            time.sleep(0.1)
        return None


class Feed:
    """Four trials of the tiny task, the first held until the other three have ended."""

    total, varied = 4, ("optimizer.lr",)

    def __init__(self, cfg: Any, release: Path) -> None:
        self.cfg, self.release, self.asked = cfg, release, 0
        self.log: list[str] = []

    def next(self) -> Any:
        from backprop_cli.runs.campaigns.campaign import RunJob

        if self.asked == 4:
            return None
        self.asked += 1
        judge = HeldUntil(self.release) if self.asked == 1 else None
        self.log.append(f"start {self.asked}")
        return RunJob(f"trial-{self.asked}", self.cfg, judge)

    def ended(self, job: Any, summary: Any) -> None:
        self.log.append(f"end {job.name[-1]}")
        if sum(line.startswith("end") for line in self.log) == 3:
            self.release.touch()


@pytest.mark.parametrize("where", ["jobs", "dask"])
def test_a_trial_starts_as_soon_as_a_worker_is_free(tmp_path: Path, where: str) -> None:
    """Two workers, four trials, the first held until the other three have ended: the second
    worker runs trials 2, 3 and 4 one after another while the first is still busy (a runner that
    waited for whole batches would wait on the first trial before starting the third)."""
    import contextlib

    from backprop_cli.runs.campaigns.campaign import Campaign

    cfg = load_config(config(tmp_path, {"space": LR, "random": 1}))
    feed = Feed(cfg, tmp_path / "release")
    with contextlib.ExitStack() as stack:
        dask = None
        if where == "dask":
            from dask.distributed import LocalCluster

            cluster = stack.enter_context(LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None))  # fmt: skip
            dask = cluster.scheduler_address
        campaign = Campaign(tmp_path / "campaign", n_jobs=2, dask=dask, plot=False)
        summaries = campaign.run(feed)
    assert sorted(s.status for s in summaries) == ["ok"] * 4
    assert feed.log == ["start 1", "start 2", "end 2", "start 3", "end 3", "start 4", "end 4",
                        "end 1"]  # fmt: skip
    threads = json.loads((tmp_path / "blas-threads").read_text())  # as the worker saw them
    assert threads and set(threads) == {1}


# ------------------------------------------------------------------ the judge and the pictures
def test_a_judge_that_answers_prunes_the_run_after_that_epoch(tmp_path: Path) -> None:
    from backprop_cli.core.training import Stopped
    from backprop_cli.runs.train.plan import prepare
    from backprop_cli.runs.train.run import RunFinished, execute

    seen: list[int] = []

    def judge(event: Any) -> str | None:
        seen.append(event.epoch)
        return "poor" if event.epoch == 3 else None

    plan = prepare(load_config(config(tmp_path, {"space": LR, "random": 1})))
    events = list(execute(plan, judge=judge))
    (stopped,) = [e for e in events if isinstance(e, Stopped)]
    assert (stopped.reason, stopped.epoch, stopped.detail) == ("pruned", 3, "poor")
    assert seen == [1, 2, 3] and plan.training.epoch == 3
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.metrics["epochs_run"] == 3
    assert finished.metrics["stop_reason"] == "pruned"


def test_the_best_so_far_counts_finished_trials_only() -> None:
    """By hand: finished 0.5, finished 0.7, pruned 0.3 (of fewer epochs: not a result), finished
    0.2. Lowest so far: 0.5, 0.5, 0.5, 0.2; highest: 0.5, 0.7, 0.7, 0.7."""
    from backprop_cli.runs.reports.search_plots import TrialPoint, best_so_far

    points = [TrialPoint(1, {}, 0.5, "ok", 9), TrialPoint(2, {}, 0.7, "early-stopped", 9),
              TrialPoint(3, {}, 0.3, "pruned", 2), TrialPoint(4, {}, 0.2, "ok", 9)]  # fmt: skip
    assert best_so_far(points, "min") == [0.5, 0.5, 0.5, 0.2]
    assert best_so_far(points, "max") == [0.5, 0.7, 0.7, 0.7]
    assert best_so_far([TrialPoint(1, {}, 0.4, "pruned", 1), *points], "min")[0] is None


def test_a_guided_sweep_draws_its_search_and_the_keys_importance(tmp_path: Path) -> None:
    space = LR | {"model.layers.0.units": "int:2:16"}
    sweep = {"space": space, "search": {"type": "tpe", "trials": 8, "seed": 4},
             "pruner": {"type": "median", "min_epochs": 3, "startup_trials": 3}}  # fmt: skip
    result = search(tmp_path, sweep)
    assert result.exit_code == 0, result.output
    out = tmp_path / "sweep"
    for name in ("sweep.png", "search.png", "parallel.png", "importance.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    one_key = search(tmp_path, sweep | {"space": LR}, out="one")  # nothing to rank
    assert one_key.exit_code == 0 and not (tmp_path / "one" / "importance.png").exists()


# ------------------------------------------------------------------ a hostile folder
def test_a_kill_while_a_resume_asks_a_trial_again_loses_nothing(
    tmp_path: Path, uninterrupted: tuple[list[dict[str, Any]], int]
) -> None:
    """Killed mid-trial, then killed again at each of the resume's first journal writes (while
    it fails the running trial and asks it again), then resumed: the same trials."""
    reference, lines = uninterrupted
    path = config(tmp_path, GUIDED)
    for second in range(1, 5):
        out = tmp_path / f"twice-{second}"
        for at, resume in ((lines // 2, []), (second, ["--resume"])):
            env = os.environ | {"BPROP_TEST_SIGNAL": f"SIGKILL@journal#{at}"}
            command = [sys.executable, "-m", "backprop_cli", "sweep", str(path), "--out",
                       str(out), "--quiet", *resume]  # fmt: skip
            subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=300)
        result = cli(["sweep", str(path), "--out", str(out), "--resume", "--quiet"])
        assert result.exit_code == 0, result.output
        assert by_place(trials_of(out)) == reference, f"second kill at journal line {second}"


@pytest.mark.parametrize("odd", ["link", "fifo", "lock", "garbage", "middle", "missing"])
def test_a_journal_bprop_did_not_write_is_refused_and_left_alone(tmp_path: Path, odd: str) -> None:
    assert search(tmp_path, GUIDED).exit_code == 0
    out = tmp_path / "sweep"
    journal = out / "study.journal"
    precious = tmp_path / "precious.txt"
    precious.write_bytes(b"line 1\nline 2 without an end")
    if odd == "link":
        journal.unlink()
        journal.symlink_to(precious)
    elif odd == "fifo":
        journal.unlink()
        os.mkfifo(journal)
    elif odd == "lock":
        (out / "study.journal.lock").write_text("mine")
    elif odd == "garbage":
        with journal.open("ab") as fh:
            fh.write(b"GARBAGE\n")
    elif odd == "middle":
        first, rest = journal.read_bytes().split(b"\n", 1)
        journal.write_bytes(first + b"\n{}\n" + rest)
    else:
        journal.unlink()
    before = journal.read_bytes() if odd in ("garbage", "middle", "lock") else b""
    result = search(tmp_path, GUIDED, "--resume")
    assert result.exit_code == 2, result.output
    assert "this is a bug" not in result.output
    words = {"missing": "holds no study", "middle": "not a study journal Optuna can read"}
    assert words.get(odd, "bprop leaves it alone") in result.output
    assert precious.read_bytes() == b"line 1\nline 2 without an end"
    if odd == "lock":
        assert (out / "study.journal.lock").read_text() == "mine"
    if before:
        assert journal.read_bytes() == before


def test_a_study_that_cannot_be_written_stops_the_search_with_one_message(
    tmp_path: Path,
) -> None:
    from backprop_cli.runs.campaigns.search import StudyError
    from backprop_cli.runs.campaigns.trials import open_sweep

    path = config(tmp_path, GUIDED)
    with open_sweep(path, [], out=tmp_path / "s") as run:
        guided = run.guided
        assert guided is not None
        journal = guided.spec.path
        journal.unlink()
        journal.mkdir()  # every append now fails, as on a full disk
        with pytest.raises(StudyError, match="could not be written"):
            guided.next()
        journal.rmdir()


def test_a_feeds_own_error_reaches_the_user(tmp_path: Path) -> None:
    from backprop_cli.runs.campaigns.campaign import Campaign

    class Broken:
        total, varied = 1, ()

        def next(self) -> Any:
            raise ConfigError("the feed's own problem")

        def ended(self, job: Any, summary: Any) -> None:
            raise AssertionError("never")

    campaign = Campaign(tmp_path / "c", plot=False)
    with pytest.raises(ConfigError, match="the feed's own problem"):
        campaign.run(Broken())
