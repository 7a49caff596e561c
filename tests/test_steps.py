"""steps.csv and `bprop plot --steps`: one row per update, exact on resume, placed on the x axes
by hand-computed positions."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.config import load_config
from backprop_cli.core.batching import Batching
from backprop_cli.core.training import StepDone
from backprop_cli.runs.artifacts.step_log import COLUMNS, StepLog, read_steps
from backprop_cli.runs.reports.step_plot import StepSeries, moving_average, window_for
from backprop_cli.runs.train.plan import prepare
from backprop_cli.runs.train.run import RunFinished
from backprop_cli.runs.training import train_into

from helpers import CONFIG_DIR, cli, history_of

MOONS = CONFIG_DIR / "moons.yaml"


def train(out: Path, overrides: list[str], **kwargs: object) -> list:
    cfg = load_config(MOONS, ["output.checkpoint_every=0", *overrides])
    return list(train_into(prepare(cfg, kwargs.pop("resume", None)), out, plot=False, **kwargs))  # type: ignore[arg-type]


def test_a_row_per_update_matching_the_loop_and_the_history(tmp_path: Path) -> None:
    events = train(
        tmp_path / "r", ["training.epochs=3", "training.batching={type: minibatch, size: 64}"]
    )
    done = [e for e in events if isinstance(e, StepDone)]
    with (tmp_path / "r" / "steps.csv").open(newline="") as f:
        reader = csv.reader(f)
        assert tuple(next(reader)) == COLUMNS == ("step", "epoch", "loss", "lr", "grad_norm")
        rows = list(reader)
    assert [int(r[0]) for r in rows] == list(range(1, len(done) + 1))
    for row, event in zip(rows, done, strict=True):  # the text reads back to the same floats
        assert (int(row[1]), float(row[2]), float(row[3]), float(row[4])) == (
            event.epoch, event.loss, event.lr, event.grad_norm,
        )  # fmt: skip
    # An epoch's train_loss is the mean of its steps' losses weighted by their batch sizes.
    assert isinstance(events[-1], RunFinished)
    n = events[-1].metrics["samples"]["train"]
    sizes = [64] * (n // 64) + ([n % 64] if n % 64 else [])
    history = history_of(tmp_path / "r")
    for epoch, row in enumerate(history, start=1):
        losses = [e.loss for e in done if e.epoch == epoch]
        assert row["train_loss"] == pytest.approx(np.dot(losses, sizes) / n, rel=1e-12)
        assert row["grad_norm"] == pytest.approx(
            np.mean([e.grad_norm for e in done if e.epoch == epoch]), rel=1e-12
        )


def test_an_interrupted_epoch_keeps_its_steps_and_a_resume_redoes_them(tmp_path: Path) -> None:
    batching = "training.batching={type: minibatch, size: 64}"
    full = tmp_path / "full"
    train(full, ["training.epochs=3", batching])
    asked = []

    def stop() -> bool:  # stops after the second step of epoch 2
        asked.append(1)
        return len(asked) == len(read_steps(full)) // 3 + 2

    part = tmp_path / "part"
    events = train(part, ["training.epochs=3", batching], stop=stop)
    assert events[-1].status == "interrupted"
    rows = read_steps(part)
    steps_per_epoch = len(read_steps(full)) // 3
    assert len(rows) == steps_per_epoch + 2 and rows[-1]["epoch"] == 2  # the partial epoch too
    assert rows == read_steps(full)[: len(rows)]
    train(part, ["training.epochs=3", batching], resume=part / "checkpoints" / "last.npz")
    assert (part / "steps.csv").read_bytes() == (full / "steps.csv").read_bytes()


def test_a_resumed_log_keeps_the_rows_up_to_the_checkpoint_epoch(tmp_path: Path) -> None:
    text = (
        "step,epoch,loss,lr,grad_norm\n1,1,0.5,0.1,1.0\n2,1,0.4,0.1,1.0\n3,2,0.3,0.1,1.0\n4,2,0.2"
    )
    (tmp_path / "steps.csv").write_text(text)  # the last line torn by a crash elsewhere
    log = StepLog.resumed(tmp_path, 1)
    assert log.text() == "step,epoch,loss,lr,grad_norm\n1,1,0.5,0.1,1.0\n2,1,0.4,0.1,1.0\n"
    log.add(3, 2, math.nan, 0.1, math.inf)  # a diverged step: no spelling for NaN or ∞
    assert log.text().endswith("\n3,2,,0.1,\n") and len(log) == 3
    assert StepLog.resumed(tmp_path / "nowhere", 5).text() == "step,epoch,loss,lr,grad_norm\n"


def series(batch: str, size: int, epochs: list[int], seconds: list[float]) -> StepSeries:
    rows = [{"step": i + 1.0, "epoch": float(e), "loss": 1.0} for i, e in enumerate(epochs)]
    history = [{"epoch": i + 1, "train_seconds": s} for i, s in enumerate(seconds)]
    return StepSeries("r", rows, 10, Batching(batch, size), history)  # type: ignore[arg-type]


def test_samples_seen_count_each_batch_the_last_one_partial() -> None:
    # n = 10 in batches of 4: steps of 4, 4 and 2 samples per epoch.
    assert series("minibatch", 4, [1, 1, 1, 2, 2, 2], []).positions("samples") == [
        4, 8, 10, 14, 18, 20,
    ]  # fmt: skip
    assert series("full", 32, [1, 2, 3], []).positions("samples") == [10, 20, 30]
    assert series("sgd", 32, [1] * 3, []).positions("samples") == [1, 2, 3]
    assert series("minibatch", 32, [1, 2], []).positions("samples") == [10, 20]  # size > n


def test_seconds_spread_each_epoch_evenly_and_skip_an_unfinished_one() -> None:
    # Epoch 1: 2 s over 4 steps (0.5 s each); epoch 2: 1 s over 2 steps; epoch 3 unfinished.
    got = series("minibatch", 3, [1, 1, 1, 1, 2, 2, 3], [2.0, 1.0]).positions("seconds")
    assert got == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, None]


def test_samples_need_the_number_of_training_samples() -> None:
    from backprop_cli.errors import DataError

    s = series("minibatch", 4, [1], [])
    s.n_train = None
    with pytest.raises(DataError, match=r"metrics\.json"):
        s.positions("samples")


def test_the_moving_average_by_hand() -> None:
    values = np.array([1.0, 3.0, np.nan, 5.0, 7.0])
    # window 2: [1], [1, 3], [3, nan], [nan, 5], [5, 7] → 1, 2, 3, 5, 6
    np.testing.assert_array_equal(moving_average(values, 2), [1.0, 2.0, 3.0, 5.0, 6.0])
    np.testing.assert_array_equal(moving_average(values, 1)[[0, 1, 3]], [1.0, 3.0, 5.0])
    assert np.isnan(moving_average(values, 1)[2])
    assert (window_for(10), window_for(5000), window_for(10**6)) == (1, 100, 500)


def test_plot_steps_draws_runs_on_each_axis_and_refuses_bad_choices(tmp_path: Path) -> None:
    for b in ("full", "sgd"):
        result = cli(["train", str(CONFIG_DIR / "lessons" / f"batching-{b}.yaml"), "--quiet",
                      "--out", str(tmp_path / b), "--set", "training.epochs=2"])  # fmt: skip
        assert result.exit_code == 0, result.output
    runs = [str(tmp_path / "full"), str(tmp_path / "sgd")]
    out = tmp_path / "steps.png"
    result = cli(["plot", *runs, "--steps", "--x", "samples,seconds", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "full (2 steps)" in result.output and "sgd (700 steps)" in result.output
    for args, message in [
        (["--x", "epochs"], "--x: choose from steps, samples, seconds"),
        (["--metric", "val_loss"], "--metric: with --steps choose from loss, lr, grad_norm"),
    ]:
        result = cli(["plot", *runs, "--steps", "-o", str(tmp_path / "x.png"), *args])
        assert result.exit_code == 2 and message in result.output, result.output
    (tmp_path / "sgd" / "steps.csv").unlink()
    (tmp_path / "full" / "steps.csv").unlink()
    result = cli(["plot", *runs, "--steps", "-o", str(tmp_path / "y.png")])
    assert result.exit_code == 2 and "no steps.csv rows" in result.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
