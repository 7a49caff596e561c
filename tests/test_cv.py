"""Cross-validation: folds that partition the rows left after the test split (stratified, one
permutation per seed), and bprop cv's runs, table and files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.config import load_config
from backprop_cli.data.splits import Fold, split_indices
from backprop_cli.errors import ConfigError

from helpers import CONFIG_DIR, cli

IRIS = CONFIG_DIR / "iris.yaml"


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(10, 200), k=st.integers(2, 6), seed=st.integers(0, 2**32 - 1),
    classes=st.integers(1, 4), test=st.sampled_from([0.0, 0.1, 0.25]),
)  # fmt: skip
def test_the_folds_partition_the_rows_left_after_the_test_split(
    n: int, k: int, seed: int, classes: int, test: float
) -> None:
    labels = np.random.default_rng(seed).integers(0, classes, n)
    splits = [split_indices(n, Fold(i, k), test, np.random.default_rng(seed), labels)
              for i in range(k)]  # fmt: skip
    tests = [tuple(te) for _, _, te in splits]
    assert len(set(tests)) == 1  # one test split for every fold
    held = [va for _, va, _ in splits]
    everything = np.concatenate(held)
    assert len(everything) == len(set(everything.tolist()))  # no row in two folds
    rest = sorted(set(range(n)) - set(tests[0]))
    assert sorted(everything.tolist()) == rest  # together the folds are the non-test rows
    for tr, va, te in splits:
        assert sorted([*tr, *va, *te]) == list(range(n))
    for c in range(classes):  # stratified: a class's rows spread over the folds within one
        per_fold = [int(np.sum(labels[va] == c)) for va in held]
        assert max(per_fold) - min(per_fold) <= 1


def test_folds_of_many_small_classes_are_all_the_same_size() -> None:
    """40 classes of 5 rows in 10 folds: cut class by class, half the folds held no row; the
    parts one row longer take turns over the classes, so every fold has 20 rows, at most one of
    each class."""
    labels = np.repeat(np.arange(40), 5)
    for i in range(10):
        _, val, _ = split_indices(200, Fold(i, 10), 0.0, np.random.default_rng(0), labels)
        assert len(val) == 20 and np.bincount(labels[val]).max() == 1


def test_fold_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="set folds too"):
        load_config(IRIS, ["data.fold=1"])
    with pytest.raises(ConfigError, match=r"`fold` must lie in \[0, 2\] for 3 folds"):
        load_config(IRIS, ["data.folds=3", "data.fold=3"])
    with pytest.raises(ConfigError, match=r"data\.folds"):
        load_config(IRIS, ["data.folds=1"])
    assert load_config(IRIS, ["data.folds=3", "data.validation_split=0"]).has_validation()


def test_a_file_with_its_own_validation_split_cannot_be_cross_validated(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((40, 4)), y=rng.integers(0, 3, 40),
             X_val=rng.standard_normal((8, 4)), y_val=rng.integers(0, 3, 8))  # fmt: skip
    result = cli(["cv", str(IRIS), "--folds", "3", "--out", str(tmp_path / "cv"),
                  "--set", f"data={{path: {tmp_path / 'd.npz'}}}"])  # fmt: skip
    assert result.exit_code == 2 and "gives its own validation split" in result.output
    assert not (tmp_path / "cv").exists()


def test_cv_trains_a_run_per_fold_and_reports_mean_and_std(tmp_path: Path) -> None:
    out = tmp_path / "cv"
    result = cli(["cv", str(IRIS), "--folds", "3", "--out", str(out), "--quiet",
                  "--set", "training.epochs=15"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with (out / "cv.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["fold"] for r in rows] == ["1", "2", "3", "mean", "std"]
    accuracy = [float(r["final_val_accuracy"]) for r in rows[:3]]
    assert float(rows[3]["final_val_accuracy"]) == pytest.approx(np.mean(accuracy), rel=1e-12)
    assert float(rows[4]["final_val_accuracy"]) == pytest.approx(np.std(accuracy), rel=1e-12)
    line = next(x for x in result.output.splitlines() if x.startswith("val accuracy: "))
    assert f"{np.mean(accuracy):.4f} ± {np.std(accuracy):.4f} over 3 folds" in line
    for k in range(3):
        saved = yaml.safe_load((out / f"fold-{k + 1}" / "config.yaml").read_text())
        assert (saved["data"]["folds"], saved["data"]["fold"]) == (3, k)
        history = json.loads((out / f"fold-{k + 1}" / "history.json").read_text())
        assert history[-1]["val_accuracy"] == accuracy[k]
    document = json.loads((out / "cv.json").read_text())
    assert document["mean"]["final_val_accuracy"] == pytest.approx(np.mean(accuracy))
    # every test figure of the folds' metrics.json, the balanced accuracy among them
    tested = [json.loads((out / f"fold-{k + 1}" / "metrics.json").read_text())["test"]
              for k in range(3)]  # fmt: skip
    assert [float(r["test_balanced_accuracy"]) for r in rows[:3]] == [
        t["balanced_accuracy"] for t in tested
    ]
    assert document["mean"]["test_f1_macro"] == pytest.approx(
        np.mean([t["f1_macro"] for t in tested])
    )
    assert "test_roc_auc" in result.output
    assert (out / "cv.png").read_bytes()[:4] == b"\x89PNG"
    again = cli(["cv", str(IRIS), "--folds", "3", "--out", str(out)])
    assert again.exit_code == 2  # never over an earlier cross-validation


def test_cv_in_worker_processes_gives_the_same_folds(tmp_path: Path) -> None:
    common = ["--folds", "2", "--quiet", "--set", "training.epochs=3"]
    assert cli(["cv", str(IRIS), "--out", str(tmp_path / "a"), *common]).exit_code == 0
    assert cli(["cv", str(IRIS), "--out", str(tmp_path / "b"), "--jobs", "2", *common]
               ).exit_code == 0  # fmt: skip
    a = json.loads((tmp_path / "a" / "cv.json").read_text())
    b = json.loads((tmp_path / "b" / "cv.json").read_text())
    assert a["mean"] == b["mean"] and a["std"] == b["std"]


def test_a_sweep_ranks_trials_by_their_cross_validated_score(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = cli(["sweep", str(IRIS), "--grid", "optimizer.lr=0.1,0.001", "--folds", "2",
                  "--out", str(out), "--quiet", "--set", "training.epochs=8"])  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((out / "sweep.json").read_text())
    for row in document["trials"]:
        folds = [json.loads((out / row["name"] / f"fold-{k}" / "history.json").read_text())
                 for k in (1, 2)]  # fmt: skip
        best = [min(r["val_loss"] for r in history) for history in folds]
        assert row["score"] == pytest.approx(np.mean(best), rel=1e-12)  # the folds' mean
    best_yaml = yaml.safe_load((out / "best.yaml").read_text())
    assert best_yaml["data"]["folds"] is None and best_yaml["name"] == "iris"
    assert load_config(out / "best.yaml").optimizer.lr in (0.1, 0.001)
    # A fold that did not finish (its metrics.json gone) is all a resume reruns.
    first = document["trials"][0]["name"]
    (out / first / "fold-2" / "metrics.json").unlink()
    before = {r["name"]: r["score"] for r in document["trials"]}
    again = cli(["sweep", str(IRIS), "--grid", "optimizer.lr=0.1,0.001", "--folds", "2",
                 "--out", str(out), "--resume", "--set", "training.epochs=8"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "1 trials on this process" in again.output and "3 already finished" in again.output
    after = {r["name"]: r["score"] for r in json.loads((out / "sweep.json").read_text())["trials"]}
    assert after == before  # the rerun fold trains exactly as before
    assert not (out / "superseded").exists()


def test_more_folds_than_rows_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    result = cli(["cv", str(IRIS), "--folds", "500", "--out", str(tmp_path / "cv")])
    assert result.exit_code == 2
    assert "150 samples are too few for 500 folds and test_split=0.2" in result.output
    assert not (tmp_path / "cv").exists()


def test_a_changed_cross_validated_sweep_moves_each_old_fold_under_its_trial(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sweep"
    base = ["sweep", str(IRIS), "--grid", "optimizer.lr=0.1", "--folds", "2", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert cli([*base, "--set", "training.epochs=3"]).exit_code == 0
    again = cli([*base, "--resume", "--set", "training.epochs=4"])
    assert again.exit_code == 0, again.output
    trial = "t001_lr=0.1"
    assert sorted(p.name for p in (out / "superseded" / trial).iterdir()) == ["fold-1", "fold-2"]
    for k in (1, 2):
        history = json.loads((out / trial / f"fold-{k}" / "history.json").read_text())
        assert len(history) == 4


def test_the_summary_counts_only_the_folds_that_trained_to_their_end() -> None:
    """A fold interrupted at epoch 12 of 40 (or diverged) keeps its row but stays out of the
    mean and std: golden, the mean of the two finished folds' 0.05 and 0.15 is 0.1 and their
    std √((0.05² + 0.05²)/2) = 0.05."""
    from backprop_cli.runs.artifacts.outcomes import RunStatus, RunSummary
    from backprop_cli.runs.campaigns.cv import Fold as FoldRun
    from backprop_cli.runs.campaigns.cv import summary

    def fold(k: int, status: RunStatus, loss: float) -> FoldRun:
        row = {"epoch": 3.0, "train_loss": loss, "val_loss": loss}
        return FoldRun(k, RunSummary(f"fold-{k}", status, history=[row]))

    folds = [fold(1, RunStatus.OK, 0.05), fold(2, RunStatus.INTERRUPTED, 0.9),
             fold(3, RunStatus.EARLY_STOPPED, 0.15), fold(4, RunStatus.DIVERGED, 7.0)]  # fmt: skip
    stats = summary(folds)
    assert stats["mean"]["final_train_loss"] == pytest.approx(0.1, rel=1e-12)
    assert stats["std"]["final_train_loss"] == pytest.approx(0.05, rel=1e-12)
    assert summary(folds[1:2]) == {"mean": {}, "std": {}}


def test_each_fold_holds_validation_data_so_val_loss_can_be_watched(tmp_path: Path) -> None:
    """validation_split 0 leaves a plain run without validation data, but each fold of a
    cross-validation holds one out: early stopping on val_loss is accepted. (A sweep with
    --folds still refuses it: its best.yaml must train on its own.)"""
    sets = ["--set", "data.validation_split=0", "--set", "training.epochs=3",
            "--set", "training.early_stopping={monitor: val_loss, patience: 2}"]  # fmt: skip
    result = cli(["cv", str(IRIS), "--folds", "2", "--out", str(tmp_path / "o"), "--quiet",
                  *sets])  # fmt: skip
    assert result.exit_code == 0, result.output
    with pytest.raises(ConfigError, match="val_loss needs validation data"):
        load_config(IRIS, [s for s in sets if s != "--set"])
