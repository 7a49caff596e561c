"""Early stopping: patience, min_delta, restore_best and a resume in the middle of the patience.

The runs monitor train_loss with a min_delta so large that only the first epoch counts as an
improvement (anything < ∞ − 10⁹ = ∞ improves; nothing later is 10⁹ below a finite best): with
patience p the run must stop exactly at epoch 1 + p, whatever the numbers of the training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.core.history import EarlyStopping

from helpers import CONFIG_DIR, cli

MOONS = CONFIG_DIR / "moons.yaml"


def test_min_delta_decides_what_counts_as_an_improvement() -> None:
    # patience 2, min_delta 0.05: 0.90 beats 1.0 by more than 0.05; 0.88 and 0.86 beat 0.90 by
    # less, so they are two epochs without improvement and the run stops after the fourth.
    stopper = EarlyStopping("val_loss", patience=2, min_delta=0.05)
    improved = [stopper.update(epoch, v) for epoch, v in enumerate([1.0, 0.9, 0.88, 0.86], 1)]
    assert improved == [True, True, False, False]
    assert stopper.best == 0.9 and stopper.best_epoch == 2 and stopper.should_stop
    # without min_delta every one of them is an improvement: never a stop
    plain = EarlyStopping("val_loss", patience=2)
    assert all(plain.update(epoch, v) for epoch, v in enumerate([1.0, 0.9, 0.88, 0.86], 1))
    assert not plain.should_stop


def test_without_patience_the_tracker_never_stops() -> None:
    stopper = EarlyStopping.tracker("val_loss")
    for epoch in range(1, 50):
        stopper.update(epoch, 1.0)
    assert stopper.best_epoch == 1 and not stopper.should_stop


def train(out: Path, epochs: int, patience: int, restore: bool, *extra: str) -> dict:
    stopping = (
        f"training.early_stopping={{monitor: train_loss, patience: {patience}, "
        f"min_delta: 1.0e9, restore_best: {str(restore).lower()}}}"
    )
    args = ["train", str(MOONS), "--out", str(out), "--quiet", "--set", stopping, "--set",
            f"training.epochs={epochs}", "--set", "output.checkpoint_every=1", *extra]  # fmt: skip
    result = cli(args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text())


def weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as checkpoint:
        return {k: checkpoint[k] for k in checkpoint.files if k.startswith("layers.")}


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("patience", [1, 3])
def test_the_run_stops_after_patience_epochs_without_improvement(
    patience: int, tmp_path: Path
) -> None:
    metrics = train(tmp_path / "run", 20, patience, restore=False)
    assert metrics["stop_reason"] == "early_stopping"
    assert metrics["stop_epoch"] == metrics["epochs_run"] == 1 + patience
    assert metrics["best"]["epoch"] == 1
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, 2 + patience))
    # without restore_best the run ends with the weights of its last epoch
    checkpoints = tmp_path / "run" / "checkpoints"
    last = weights(checkpoints / "last.npz")
    assert same(last, weights(checkpoints / f"epoch-{1 + patience:04d}.npz"))
    assert not same(last, weights(checkpoints / "epoch-0001.npz"))


def test_restore_best_ends_with_the_best_epochs_weights(tmp_path: Path) -> None:
    train(tmp_path / "run", 20, 3, restore=True)
    checkpoints = tmp_path / "run" / "checkpoints"
    best = weights(checkpoints / "epoch-0001.npz")
    assert same(weights(checkpoints / "last.npz"), best)
    assert same(weights(checkpoints / "best.npz"), best)
    assert not same(weights(checkpoints / "epoch-0004.npz"), best)


def test_a_run_resumed_mid_patience_stops_where_the_uninterrupted_one_did(tmp_path: Path) -> None:
    whole = train(tmp_path / "whole", 20, 3, restore=True)
    assert whole["stop_epoch"] == 4
    # two epochs (one without improvement), then resumed with the full budget: the second
    # part must count the epoch already waited and stop at 4, not at 5
    part = train(tmp_path / "part", 2, 3, restore=True)
    assert part["stop_reason"] == "completed"
    resumed = train(tmp_path / "resumed", 20, 3, True, "--resume",
                    str(tmp_path / "part" / "checkpoints" / "last.npz"))  # fmt: skip
    assert resumed["stop_reason"] == "early_stopping" and resumed["stop_epoch"] == 4
    # restored to epoch 1's weights, which the first part's best.npz holds
    whole_best = weights(tmp_path / "whole" / "checkpoints" / "best.npz")
    assert same(weights(tmp_path / "resumed" / "checkpoints" / "last.npz"), whole_best)
    assert same(weights(tmp_path / "part" / "checkpoints" / "best.npz"), whole_best)


def test_the_epoch_limit_also_ends_with_the_best_epochs_weights(tmp_path: Path) -> None:
    """restore_best holds when the epoch limit comes first: the model (last.npz, what evaluate,
    predict and export use) is the best epoch's, metrics.json names that epoch, and evaluating
    the validation split gives back the best validation loss, not the last epoch's."""
    run = tmp_path / "run"
    stopping = "training.early_stopping={monitor: val_loss, patience: 100, restore_best: true}"
    args = ["train", str(MOONS), "--out", str(run), "--quiet", "--set", stopping,
            "--set", "training.epochs=12", "--set", "optimizer.lr=0.5"]  # fmt: skip
    assert cli(args).exit_code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    history = json.loads((run / "history.json").read_text())
    best = min(history, key=lambda row: row["val_loss"])
    assert metrics["stop_reason"] == "completed" and metrics["epochs_run"] == 12
    assert best["epoch"] < 12, "the lr of 0.5 must overshoot for this test to mean anything"
    assert metrics["weights_epoch"] == metrics["best"]["epoch"] == best["epoch"]
    with np.load(run / "checkpoints" / "last.npz") as last:
        assert int(last["params_epoch"]) == best["epoch"] and int(last["epoch"]) == 12
    evaluated = cli(["evaluate", str(run), "--split", "val", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    loss = json.loads(evaluated.output)["loss"]
    assert loss == pytest.approx(best["val_loss"], rel=1e-4)
    assert loss < history[-1]["val_loss"] * (1 - 1e-3)


def test_a_run_ended_on_its_best_weights_resumes_from_its_last_epoch(tmp_path: Path) -> None:
    """A finished run that holds its best epoch's weights still resumes exactly: 7 epochs, then
    resumed to 9, trains as 9 epochs in one go (same history, same final checkpoint)."""
    stopping = "training.early_stopping={monitor: val_loss, patience: 100, restore_best: true}"
    common = ["--quiet", "--set", stopping, "--set", "optimizer.lr=0.5"]

    def run(out: Path, epochs: int, *extra: str) -> None:
        args = ["train", str(MOONS), "--out", str(out), *common,
                "--set", f"training.epochs={epochs}", *extra]  # fmt: skip
        assert cli(args).exit_code == 0

    run(tmp_path / "whole", 9)
    run(tmp_path / "part", 7)
    with np.load(tmp_path / "part" / "checkpoints" / "last.npz") as part:
        assert int(part["params_epoch"]) < 7, "the first part must end on an earlier best"
        assert any(k.startswith("resume.layers.") for k in part.files)
    run(tmp_path / "resumed", 9, "--resume", str(tmp_path / "part" / "checkpoints" / "last.npz"))

    def rows(name: str) -> list[dict]:
        history = json.loads((tmp_path / name / "history.json").read_text())
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in history]

    assert rows("resumed") == rows("whole")
    whole = np.load(tmp_path / "whole" / "checkpoints" / "last.npz")
    resumed = np.load(tmp_path / "resumed" / "checkpoints" / "last.npz")
    assert whole.files == resumed.files
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole.files if "state" not in k)


def test_val_loss_needs_validation_data_and_train_loss_does_not() -> None:
    from backprop_cli.core.history import monitor_problem

    assert monitor_problem("val_loss", has_validation=True) is None
    assert monitor_problem("train_loss", has_validation=False) is None
    problem = monitor_problem("val_loss", has_validation=False)
    assert problem == (
        "val_loss needs validation data, and the data set has none (data.validation_split is 0); "
        "set a validation_split or monitor train_loss"
    )


def test_a_checkpoint_of_another_epochs_weights_cannot_be_resumed(tmp_path: Path) -> None:
    """A checkpoint holding the best epoch's weights with a later epoch's counters and no
    resume.* (a best.npz written at a later flush, or a last.npz stripped of them) would go on
    from the wrong weights: refused, pointing at last.npz."""
    run = tmp_path / "run"
    stopping = "training.early_stopping={monitor: val_loss, patience: 100, restore_best: true}"
    args = ["train", str(MOONS), "--out", str(run), "--quiet", "--set", stopping,
            "--set", "training.epochs=12", "--set", "optimizer.lr=0.5"]  # fmt: skip
    assert cli(args).exit_code == 0
    with np.load(run / "checkpoints" / "last.npz") as last:
        kept = {k: last[k] for k in last.files if not k.startswith("resume.")}
    assert int(kept["params_epoch"]) != int(kept["epoch"])
    stripped = tmp_path / "stripped.npz"
    np.savez(stripped, **kept)
    again = ["train", str(MOONS), "--out", str(tmp_path / "again"), "--set", stopping,
             "--set", "training.epochs=14", "--set", "optimizer.lr=0.5", "--resume",
             str(stripped)]  # fmt: skip
    result = cli(again)
    assert result.exit_code == 2, result.output
    assert "resume from the run's checkpoints/last.npz" in " ".join(result.output.split())
