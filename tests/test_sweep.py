"""`bprop sweep`: search spaces, validation, failures, --resume, and identical results whether
trials run here, in local processes or on a Dask cluster."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.config import load_config
from backprop_cli.errors import ConfigError
from backprop_cli.runs.campaigns.sweep import Space, make_trials

from helpers import CONFIG_DIR, assert_same_arrays, cli

SPIRALS = CONFIG_DIR / "spirals.yaml"
FAST = ["--set", "training.epochs=3", "--set", "data.options.n_samples=120"]


def sweep(out: Path, *args: str) -> object:
    return cli(["sweep", str(SPIRALS), "--out", str(out), "--quiet", *FAST, *args])


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open() as fh:
        return list(csv.DictReader(fh))


def without_seconds(table: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in table]


GRID = ["--grid", "optimizer.lr=0.1,0.01", "--grid", "training.batching.size=16,32"]


def test_serial_local_processes_and_dask_agree_exactly(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    serial, local, remote = tmp_path / "serial", tmp_path / "jobs", tmp_path / "dask"
    assert sweep(serial, *GRID).exit_code == 0  # type: ignore[attr-defined]
    assert sweep(local, *GRID, "--jobs", "2").exit_code == 0  # type: ignore[attr-defined]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:  # fmt: skip
        result = sweep(remote, *GRID, "--dask", cluster.scheduler_address)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    reference = without_seconds(rows(serial))
    assert len(reference) == 4 and all(r["status"] == "ok" for r in reference)
    assert without_seconds(rows(local)) == reference
    assert without_seconds(rows(remote)) == reference
    for row in reference:  # every weight of every trial
        for other in (local, remote):
            for name in ("last.npz", "best.npz"):
                a = serial / row["name"] / "checkpoints" / name
                assert_same_arrays(a, other / row["name"] / "checkpoints" / name)
    assert (serial / "best.yaml").read_text() == (remote / "best.yaml").read_text()
    best_cfg = load_config(serial / "best.yaml")  # ready for bprop train
    assert best_cfg.optimizer.lr == float(reference[0]["optimizer.lr"])
    assert (serial / "sweep.png").stat().st_size > 10_000


def test_grids_multiply_and_random_draws_follow_the_seed() -> None:
    cfg = load_config(SPIRALS)
    grid = Space.build(cfg, ["optimizer.lr=0.1,0.01,0.001", "training.batching.size=16,32"])
    trials = grid.trials(cfg.seed)
    assert len(trials) == 6 and trials[0] == {"optimizer.lr": 0.1, "training.batching.size": 16}
    spec = ["optimizer.lr=loguniform:1e-4:1e-1", "training.batching.size=choice:16,32,64",
            "model.layers.0.units=int:8:12", "data.validation_split=uniform:0.1:0.3"]  # fmt: skip
    space = Space.build(cfg, [], spec, random=50)
    draws = space.trials(cfg.seed)
    assert draws == space.trials(cfg.seed)  # the same seed, the same trials
    assert draws != space.trials(cfg.seed + 1)
    lrs = np.array([d["optimizer.lr"] for d in draws])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-1
    assert np.median(np.log10(lrs)) == pytest.approx(-2.5, abs=0.5)  # uniform in log space
    assert {d["training.batching.size"] for d in draws} == {16, 32, 64}
    assert {d["model.layers.0.units"] for d in draws} == {8, 9, 10, 11, 12}  # inclusive
    both = Space.build(cfg, ["optimizer.lr=0.1,0.01"], ["training.batching.size=choice:16,32"], 3)
    assert len(both.trials(cfg.seed)) == 6  # every draw with every grid point


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--space", "optimizer.lr=loguniform:0:1", "--random", "3"],
            "needs low < high and low > 0",
        ),
        (["--space", "optimizer.lr=normal:0:1", "--random", "3"], "is not a distribution"),
        (["--space", "optimizer.lr=uniform:0.1:1"], "sampled by --random N trials"),
        (["--grid", "optimizer.lr"], "expected key.path=..."),
        ([], "nothing to sweep"),
        (["--grid", "optimizer.lr=0,-1"], "no valid trial"),
    ],
)
def test_bad_search_spaces_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = sweep(out, *args)
    assert result.exit_code == 2 and message in result.output  # type: ignore[attr-defined]
    assert not out.exists()


def test_invalid_trials_are_reported_and_skipped(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = sweep(out, "--grid", "training.batching.size=0,16", "--grid", "optimizer.lr=0.01")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    table = {r["training.batching.size"]: r for r in rows(out)}
    assert table["0"]["status"] == "invalid"
    assert (
        "training.batching.size: Input should be greater than or equal to 1" in table["0"]["detail"]
    )
    assert table["16"]["status"] == "ok" and table["16"]["rank"] == "1"
    assert not (out / table["0"]["name"]).exists()


def test_failing_and_diverging_trials_are_recorded_while_the_rest_finish(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    # lr 1e6 diverges; an output layer of 5 units cannot fit 3 classes and fails when it runs.
    result = sweep(out, "--grid", "optimizer={type: sgd, lr: 1.0e+6},{type: sgd, lr: 0.1}",
                   "--grid", "model.layers.2.units=3,5")  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    by = {(r["optimizer"], r["model.layers.2.units"]): r for r in rows(out)}
    statuses = {k: r["status"] for k, r in by.items()}
    assert sorted(statuses.values()) == ["diverged", "error", "error", "ok"]
    errors = [r for r in by.values() if r["status"] == "error"]
    assert all(
        "the data has 3 classes (0, 1, 2) but the output layer has 5 units" in r["detail"]
        for r in errors
    )
    assert rows(out)[0]["status"] == "ok"  # the finished trial ranks first


def test_resume_runs_only_the_missing_trials(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert sweep(out, *GRID).exit_code == 0  # type: ignore[attr-defined]
    first = rows(out)
    kept = {r["name"]: (out / r["name"] / "metrics.json").stat().st_mtime_ns for r in first}
    lost = first[-1]["name"]
    (out / lost / "metrics.json").unlink()  # as if the sweep had stopped before it finished
    result = cli(["sweep", str(SPIRALS), "--out", str(out), *FAST, *GRID, "--resume"])
    assert result.exit_code == 0, result.output
    assert "1 trials on this process" in result.output and "3 already finished" in result.output
    for name, mtime in kept.items():
        if name != lost:
            assert (out / name / "metrics.json").stat().st_mtime_ns == mtime
    assert without_seconds(rows(out)) == without_seconds(first)


def test_an_existing_sweep_is_not_overwritten_without_resume(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert sweep(out, "--grid", "optimizer.lr=0.1").exit_code == 0  # type: ignore[attr-defined]
    result = sweep(out, "--grid", "optimizer.lr=0.1")
    assert result.exit_code == 2 and "--resume" in result.output  # type: ignore[attr-defined]


def test_resume_refuses_a_folder_of_the_users_files(tmp_path: Path) -> None:
    """A folder holding ``t1-notes.txt`` (and a ``t2`` folder) is the user's, not a sweep: resuming
    into it is refused and nothing there is written or replaced."""
    out = tmp_path / "notes"
    (out / "t2").mkdir(parents=True)
    (out / "t1-notes.txt").write_text("mine\n")
    (out / "best.yaml").write_text("my own best\n")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    result = sweep(out, *GRID, "--resume")
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "holds no sweep bprop wrote" in result.output  # type: ignore[attr-defined]
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / "best.yaml").read_text() == "my own best\n"


def test_an_interrupted_sweep_is_marked_and_resumable(tmp_path: Path) -> None:
    """A sweep marks its folder before its first trial: one stopped before sweep.json was
    written (here: removed) is still resumed."""
    out = tmp_path / "sweep"
    assert sweep(out, "--grid", "optimizer.lr=0.1,0.01").exit_code == 0  # type: ignore[attr-defined]
    assert (out / ".bprop-sweep").is_file()
    for name in ("sweep.json", "sweep.csv", "best.yaml"):
        (out / name).unlink()
    result = sweep(out, "--grid", "optimizer.lr=0.1,0.01", "--resume")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (out / "sweep.json").is_file()


def test_resume_moves_a_trial_folder_of_other_files_aside_never_writing_over_them(
    tmp_path: Path,
) -> None:
    """A marked sweep whose trial folder holds a user's files (named like a run's, but with no
    config of bprop's): they are moved to superseded/, byte for byte, and the trial runs anew."""
    out = tmp_path / "sweep"
    assert sweep(out, "--grid", "optimizer.lr=0.1").exit_code == 0  # type: ignore[attr-defined]
    (trial,) = [p for p in out.iterdir() if p.name.startswith("t001")]
    shutil.rmtree(trial)
    trial.mkdir()
    (trial / "history.csv").write_text("precious\n")
    (trial / "notes.txt").write_text("mine\n")
    result = sweep(out, "--grid", "optimizer.lr=0.1", "--resume")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "moved to superseded/" in result.output  # type: ignore[attr-defined]
    kept = out / "superseded" / trial.name
    assert (kept / "history.csv").read_text() == "precious\n"
    assert (kept / "notes.txt").read_text() == "mine\n"
    assert (trial / "metrics.json").is_file() and not (trial / "notes.txt").exists()


def test_a_trial_folder_held_by_another_run_is_neither_written_nor_moved(tmp_path: Path) -> None:
    """A `bprop train --resume` running in a trial's folder holds its lock: the sweep's run of
    that trial fails "in use" without writing there, and a resume that would move the folder
    aside (its config changed) exits 2 instead."""
    from backprop_cli.system.locking import hold

    out = tmp_path / "sweep"
    assert sweep(out, "--grid", "optimizer.lr=0.1").exit_code == 0  # type: ignore[attr-defined]
    (trial,) = [p for p in out.iterdir() if p.name.startswith("t001")]
    (trial / "metrics.json").unlink()  # unfinished: resume reruns it in its folder

    def files() -> dict[str, bytes]:
        return {
            p.name: p.read_bytes()
            for p in trial.rglob("*")
            if p.is_file() and p.name != ".bprop.lock"
        }

    before = files()
    with hold(trial):  # as `bprop train --resume` in that folder does
        rerun = sweep(out, "--grid", "optimizer.lr=0.1", "--resume")
        assert rerun.exit_code == 2, rerun.output  # type: ignore[attr-defined]
        assert "in use by another run" in rows(out)[0]["detail"]
        assert files() == before
        config = trial / "config.yaml"
        config.write_text(config.read_text().replace("lr: 0.1", "lr: 0.2"))  # changed: move it
        moved = sweep(out, "--grid", "optimizer.lr=0.1", "--resume")
        assert moved.exit_code == 2, moved.output  # type: ignore[attr-defined]
        assert "in use by another run" in moved.output  # type: ignore[attr-defined]
        assert trial.is_dir() and not (out / "superseded").exists()


def test_a_symlinked_marker_does_not_make_a_sweep(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (tmp_path / "elsewhere").write_text("written by bprop sweep: this directory holds a sweep\n")
    (out / ".bprop-sweep").symlink_to(tmp_path / "elsewhere")
    (out / "best.yaml").write_text("my own\n")
    result = sweep(out, "--grid", "optimizer.lr=0.1", "--resume")
    assert result.exit_code == 2 and (out / "best.yaml").read_text() == "my own\n"  # type: ignore[attr-defined]


def test_dask_unavailable_or_unreachable_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = sweep(tmp_path / "a", "--grid", "optimizer.lr=0.1", "--dask", "tcp://127.0.0.1:9")
    assert result.exit_code == 2 and "cannot reach a Dask scheduler" in result.output  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if Dask were not installed
    result = sweep(tmp_path / "b", "--grid", "optimizer.lr=0.1", "--dask", "tcp://127.0.0.1:9")
    assert result.exit_code == 2 and "pip install '.[dask]' in bprop's folder" in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_sweep_section_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(SPIRALS.read_text() + "sweep:\n  grid: {optimizer.lr: [0.1, 0.01]}\n"
                      "  metric: val_accuracy\n  mode: max\n")  # fmt: skip
    out = tmp_path / "out"
    result = cli(["sweep", str(config), "--out", str(out), "--quiet", *FAST])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "sweep.json").read_text())
    assert document["metric"] == "val_accuracy" and document["mode"] == "max"
    scores = [t["score"] for t in document["trials"]]
    assert scores == sorted(scores, reverse=True)
    cfg = load_config(config)
    assert [t.name for t in make_trials(cfg, Space.build(cfg), "x")] == [
        "t001_lr=0.1",
        "t002_lr=0.01",
    ]
    with pytest.raises(ConfigError, match="sampled by `random: N`"):
        load_config(config, ["sweep.space={optimizer.lr: 'uniform:0:1'}"])
