"""The learning-rate range test: its ramp, smoothing, stop and suggestion derived by hand, its
updates checked against SGD's formula, and the command's files and messages."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.config import load_config
from backprop_cli.core import lr_find
from backprop_cli.core.lr_find import RangeTest, range_test, rates, training_steps
from backprop_cli.runs.train.plan import prepare

from helpers import CONFIG_DIR, cli


def test_the_ramp_is_geometric_from_start_to_end() -> None:
    np.testing.assert_allclose(rates(1.0, 100.0, 3), [1.0, 10.0, 100.0], rtol=1e-15)
    ramp = rates(1e-7, 10.0, 100)
    assert ramp[0] == 1e-7 and ramp[-1] == pytest.approx(10.0, rel=1e-14)
    np.testing.assert_allclose(ramp[1:] / ramp[:-1], 1e8 ** (1 / 99), rtol=1e-12)


def fed(losses: list[float], beta: float) -> RangeTest:
    """The test when the updates' losses are ``losses``, rates 1, 2, 3, ..."""
    feed = iter(losses)
    return list(range_test(lambda lr: next(feed), np.arange(1.0, len(losses) + 1), beta))[-1]


def test_the_smoothing_is_a_bias_corrected_average() -> None:
    # β = ½, losses 2 then 1: m₀ = ½·0 + ½·2 = 1, s₀ = 1/(1 − ½) = 2;
    # m₁ = ½·1 + ½·1 = 1, s₁ = 1/(1 − ¼) = 4/3
    test = fed([2.0, 1.0], beta=0.5)
    assert test.smoothed == [2.0, pytest.approx(4 / 3, rel=1e-15)]
    assert test.losses == [2.0, 1.0] and test.lrs == [1.0, 2.0] and test.stop == "completed"


def test_the_test_stops_once_the_loss_passes_four_times_its_minimum() -> None:
    # β = 0: s = L. Minimum 1 after the second update; 4 is not above 4·1, 4.5 is.
    test = fed([2.0, 1.0, 4.0, 4.5, 3.0], beta=0.0)
    assert (len(test.lrs), test.stop) == (4, "diverged")
    nan = fed([2.0, math.nan, 1.0], beta=0.0)
    assert (len(nan.lrs), nan.stop) == (2, "diverged")


def test_the_suggestion_is_the_steepest_descent_before_the_minimum() -> None:
    # β = 0 on 20 rates from 10⁻⁴ to 1 (x = log₁₀ lr in steps of 4/19). The first 10 updates
    # are left out (the average still swings); the minimum 1.0 is at update 16.
    # ds/dx by central differences: at 11: (2.5 − 3)/2Δ; at 12: (1.5 − 2.9)/2Δ = −0.7/Δ (the
    # steepest); at 13: (1.2 − 2.5)/2Δ = −0.65/Δ; later ones are gentler.
    losses = [9.0, 0.5, *[3.0] * 8, 3.0, 2.9, 2.5, 1.5, 1.2, 1.1, 1.0, 1.5, 3.0, 3.9]
    test = RangeTest(list(rates(1e-4, 1.0, 20)), losses, losses)
    assert test.suggestion() == rates(1e-4, 1.0, 20)[13 - 1]
    assert RangeTest([1.0] * 11, [1.0] * 11, [1.0] * 11).suggestion() is None  # too few
    assert lr_find.SKIP_START == 10


def test_each_update_is_the_optimizers_at_the_ramps_rate() -> None:
    cfg = load_config(CONFIG_DIR / "moons.yaml", ["optimizer={type: sgd, lr: 0.01}",
                                                  "training.shuffle=false"])  # fmt: skip
    prepared = prepare(cfg)
    net, data = prepared.net, prepared.train
    size = prepared.training.batching.batch_size(len(data))
    before = net.params.copy()
    expected_loss = net.loss_and_grad(data.X[:size], data.y[:size])
    grads = net.grads.copy()
    loss = training_steps(prepared.training, data)(0.5)
    assert loss == expected_loss  # the first batch's loss, before its update
    np.testing.assert_allclose(net.params, before - 0.5 * grads, rtol=1e-6)  # w ← w − lr·g


def test_lr_find_writes_its_files_prints_a_ready_set_and_leaves_the_config(tmp_path: Path) -> None:
    config = tmp_path / "digits.yaml"
    config.write_text((CONFIG_DIR / "digits.yaml").read_text())
    stamp = (config.read_bytes(), config.stat().st_mtime_ns)
    out = tmp_path / "lr"
    result = cli(["lr-find", str(config), "--out", str(out), "--steps", "60", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (config.read_bytes(), config.stat().st_mtime_ns) == stamp
    with (out / "lr_find.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "lr", "loss", "smoothed_loss"] and 3 <= len(rows) <= 60
    np.testing.assert_allclose([float(r["lr"]) for r in rows], rates(1e-7, 10.0, 60)[: len(rows)])
    assert (out / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    line = next(x for x in result.output.splitlines() if "--set optimizer.lr=" in x)
    suggested = float(line.split("optimizer.lr=")[1])
    assert 1e-4 < suggested < 1.0  # Adam on digits: the loss falls fastest around 10⁻²
    again = cli(["lr-find", str(config), "--out", str(out), "--steps", "5"])
    assert again.exit_code == 2 and "not empty" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "0"], "--start: a rate must be a positive number"),
        (["--start", "1", "--end", "0.5"], "--end (0.5) must be a number larger than --start (1)"),
        (["--end", "inf"], "must be a number larger than --start"),
        (["--steps", "2"], "--steps"),
    ],
)
def test_lr_find_refuses_bad_ranges(args: list[str], message: str, tmp_path: Path) -> None:
    result = cli(["lr-find", str(CONFIG_DIR / "moons.yaml"), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()
