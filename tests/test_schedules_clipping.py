"""Learning-rate schedules and gradient clipping: golden values and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backprop_cli.core.clipping import clip_by_norm, clip_by_value, global_norm
from backprop_cli.core.schedules import SCHEDULES, build_schedule
from backprop_cli.errors import ConfigError

GOLDEN = [
    # constant: lr(e) = lr₀ = 0.1 at every epoch
    ("constant", {}, {0: 0.1, 1: 0.1, 50: 0.1}),
    # step (decay_rate 0.5, step_size 3): 0.1·0.5^⌊e/3⌋ → e 0–2: 0.1, e 3–5: 0.05, e 6: 0.025
    (
        "step",
        {"decay_rate": 0.5, "step_size": 3},
        {0: 0.1, 2: 0.1, 3: 0.05, 5: 0.05, 6: 0.025},
    ),
    # exponential (decay_rate 0.1): 0.1·e^(−0.1e) → e=1: 0.1·0.904837418035960 = 0.0904837418035960,
    #   e=10: 0.1·e^(−1) = 0.1·0.367879441171442 = 0.0367879441171442
    ("exponential", {"decay_rate": 0.1}, {0: 0.1, 1: 0.0904837418035960, 10: 0.0367879441171442}),
    # cosine (T = 4, min_lr 0.01): 0.01 + ½·0.09·(1 + cos(πe/4))
    #   e=0: 0.01 + 0.045·2 = 0.1;  e=1: 0.01 + 0.045·1.707106781186548 = 0.0868198051533946
    #   e=2: 0.01 + 0.045·1 = 0.055;  e=3: 0.01 + 0.045·0.292893218813452 = 0.0231801948466054
    #   e=4 and later: min_lr = 0.01
    (
        "cosine",
        {"min_lr": 0.01, "total_epochs": 4},
        {0: 0.1, 1: 0.0868198051533946, 2: 0.055, 3: 0.0231801948466054, 4: 0.01, 9: 0.01},
    ),
]


@pytest.mark.parametrize(("name", "params", "expected"), GOLDEN)
def test_schedule_golden_values(name: str, params: dict, expected: dict[int, float]) -> None:
    schedule = build_schedule(name, 0.1, epochs=20, **params)
    for epoch, lr in expected.items():
        assert schedule(epoch) == pytest.approx(lr, abs=1e-15), (name, epoch)


def test_every_schedule_has_golden_values() -> None:
    # plateau's rates depend on the history: its golden sequences are below.
    assert {name for name, _, _ in GOLDEN} | {"plateau"} == set(SCHEDULES)


def test_cosine_total_epochs_defaults_to_the_run() -> None:
    # T = epochs = 10: e=5 is halfway, 0 + ½·0.1·(1 + cos(π/2)) = 0.05
    schedule = build_schedule("cosine", 0.1, epochs=10)
    assert schedule(5) == pytest.approx(0.05, abs=1e-15)
    assert schedule(10) == 0.0


def test_warmup_ramps_linearly_into_the_schedule() -> None:
    # W = 2 on a constant 0.1: e=0: 0.1·1/3, e=1: 0.1·2/3, e=2 onwards: 0.1
    schedule = build_schedule("constant", 0.1, epochs=10, warmup_epochs=2)
    assert schedule(0) == pytest.approx(0.1 / 3, abs=1e-15)
    assert schedule(1) == pytest.approx(0.2 / 3, abs=1e-15)
    assert schedule(2) == 0.1


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("step", {"decay_rate": 0.0}),
        ("step", {"step_size": 0}),
        ("exponential", {"decay_rate": -1}),
        ("cosine", {"min_lr": 0.5}),
        ("nope", {}),
        ("constant", {"decay_rate": 0.1}),
    ],
)
def test_bad_schedule_parameters_are_config_errors(name: str, params: dict) -> None:
    with pytest.raises(ConfigError):
        build_schedule(name, 0.1, epochs=10, **params)


@given(
    name=st.sampled_from(SCHEDULES),
    lr0=st.floats(1e-6, 10.0),
    epoch=st.integers(0, 10_000),
    epochs=st.integers(1, 500),
    warmup=st.integers(0, 20),
    fraction=st.floats(0.0, 1.0),
    decay=st.floats(1e-3, 1.0),
    step_size=st.integers(1, 50),
)
def test_schedules_stay_within_their_bounds(
    name: str,
    lr0: float,
    epoch: int,
    epochs: int,
    warmup: int,
    fraction: float,
    decay: float,
    step_size: int,
) -> None:
    params: dict = {}
    low = 0.0
    if name == "cosine":
        params = {"min_lr": fraction * lr0}
        low = fraction * lr0 if warmup == 0 or epoch >= warmup else 0.0
    elif name == "step":
        params = {"decay_rate": decay, "step_size": step_size}
    elif name == "exponential":
        params = {"decay_rate": decay}
    schedule = build_schedule(name, lr0, epochs, warmup_epochs=warmup, **params)
    lr = schedule(epoch)
    assert low * (1 - 1e-12) <= lr <= lr0 * (1 + 1e-12)
    assert lr >= 0
    # Closed form: asking again, or asking for an earlier epoch first, changes nothing.
    assert schedule(epoch) == lr


def test_clip_by_norm_golden() -> None:
    # g = [3, 4]: ‖g‖ = 5 > 2.5 → g·2.5/5 = [1.5, 2.0]; the pre-clip norm 5 is returned.
    g = np.array([3.0, 4.0])
    assert clip_by_norm(g, 2.5) == 5.0
    np.testing.assert_array_equal(g, [1.5, 2.0])
    # Below the threshold nothing changes.
    g = np.array([3.0, 4.0])
    assert clip_by_norm(g, 10.0) == 5.0
    np.testing.assert_array_equal(g, [3.0, 4.0])


def test_clip_by_value_golden() -> None:
    # c = 3.5: [3, 4, −7] → [3, 3.5, −3.5]; pre-clip norm √(9 + 16 + 49) = √74
    g = np.array([3.0, 4.0, -7.0])
    assert clip_by_value(g, 3.5) == pytest.approx(math.sqrt(74), abs=1e-15)
    np.testing.assert_array_equal(g, [3.0, 3.5, -3.5])


def test_huge_finite_float32_gradients_still_clip() -> None:
    # 1e20² overflows float32; the norm is recomputed in float64: √2·1e20, then g·1/‖g‖.
    g = np.array([1e20, -1e20], dtype=np.float32)
    with np.errstate(over="ignore"):  # as the training loop calls it
        norm = clip_by_norm(g, 1.0)
    assert norm == pytest.approx(math.sqrt(2) * 1e20, rel=1e-6)
    np.testing.assert_allclose(g, [1 / math.sqrt(2), -1 / math.sqrt(2)], rtol=1e-6)


def test_clipping_keeps_float32() -> None:
    g = np.array([30.0, -40.0], dtype=np.float32)
    clip_by_norm(g, 1.0)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [0.6, -0.8], rtol=1e-6)


finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(arrays(np.float64, st.integers(1, 50), elements=finite), st.floats(1e-3, 1e3))
def test_clipped_norm_never_exceeds_max_norm(g: np.ndarray, max_norm: float) -> None:
    before = global_norm(g)
    original = g.copy()
    reported = clip_by_norm(g, max_norm)
    assert reported == pytest.approx(before)
    assert global_norm(g) <= max_norm * (1 + 1e-9)
    if before <= max_norm:
        np.testing.assert_array_equal(g, original)


@given(arrays(np.float64, st.integers(1, 50), elements=finite), st.floats(1e-3, 1e3))
def test_value_clipping_bounds_every_entry(g: np.ndarray, c: float) -> None:
    clip_by_value(g, c)
    assert np.all(np.abs(g) <= c)


def test_cosine_may_end_at_the_starting_rate_but_not_above_it() -> None:
    flat = build_schedule("cosine", 0.1, epochs=4, min_lr=0.1)
    assert [flat(e) for e in range(5)] == [0.1] * 5
    with pytest.raises(ConfigError) as caught:
        build_schedule("cosine", 0.1, epochs=4, min_lr=0.2)
    assert (
        str(caught.value) == "cosine min_lr must lie in [0, lr]. Received: min_lr=0.2 with lr=0.1"
    )


def test_a_negative_epoch_is_a_programming_error_that_says_so() -> None:
    with pytest.raises(ValueError, match=r"^epochs count from 0. Received: epoch=-1$"):
        build_schedule("constant", 0.1, 3)(-1)


def run_plateau(values: list[float], **params: object) -> tuple[list[float], object]:
    """The rate of each epoch when the monitored metric takes ``values``."""
    schedule = build_schedule("plateau", 1.0, len(values), 0, monitor="train_loss", **params)  # type: ignore[arg-type]
    rates = []
    for e, value in enumerate(values):
        rates.append(schedule(e))
        schedule.end_epoch({"train_loss": value})
    return rates, schedule


def test_plateau_golden_sequence_with_cooldown_and_a_floor() -> None:
    # lr₀ 1, factor ½, patience 2, cooldown 1, min_delta 0, min_lr 0.2 (Keras's rules):
    # end of e0: 5 < ∞ best 5 | e1: 4 best 4 | e2: 4 wait 1 | e3: wait 2 → lr ½, cooldown 1
    # e4: cooldown 1 → 0, wait 0; no improvement and cooldown over → wait 1
    # e5: wait 2 → lr ¼, cooldown 1 | e6: 3 < 4: cooldown → 0, best 3, wait 0
    # e7: wait 1 | e8: wait 2 → lr max(⅛, 0.2) = 0.2 | e9: cooldown → 0, wait 1
    # e10: wait 2, but lr = min_lr: no change | e11: wait 3, no change
    values = [5, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3]
    rates, schedule = run_plateau(
        values, factor=0.5, patience=2, cooldown=1, min_delta=0.0, min_lr=0.2
    )
    assert rates == [1, 1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    assert schedule.state() == {"lr": 0.2, "best": 3, "wait": 3, "cooldown_counter": 0}  # type: ignore[attr-defined]


def test_plateau_needs_an_improvement_larger_than_min_delta() -> None:
    # patience 1, min_delta 0.1: 1.0 → 0.95 is no improvement (0.95 ≮ 1.0 − 0.1) → lr·0.1;
    # 0.85 < 1.0 − 0.1 is (best 0.85); NaN never is.
    rates, _ = run_plateau([1.0, 0.95, 0.85, math.nan, 0.1], factor=0.1, patience=1, min_delta=0.1)
    assert rates == pytest.approx([1, 1, 0.1, 0.1, 0.01], rel=1e-15)


def test_plateau_state_round_trips_and_defaults_follow_keras() -> None:
    _, schedule = run_plateau([3, 2, 2, 2], factor=0.5, patience=1)
    fresh = build_schedule("plateau", 1.0, 4, 0, monitor="train_loss", factor=0.5, patience=1)
    fresh.load(schedule.state())  # type: ignore[attr-defined]
    assert fresh.state() == schedule.state() and fresh(4) == schedule(4) == 0.25  # type: ignore[attr-defined]
    default = build_schedule("plateau", 0.1, 5)
    settings = ("monitor", "factor", "patience", "min_delta", "cooldown", "min_lr")
    assert default.base.state() | {k: getattr(default.base, k) for k in settings} == {  # type: ignore[attr-defined]
        "lr": 0.1, "best": math.inf, "wait": 0, "cooldown_counter": 0, "monitor": "val_loss",
        "factor": 0.1, "patience": 10, "min_delta": 1e-4, "cooldown": 0, "min_lr": 0.0,
    }  # fmt: skip
    assert default.monitor == "val_loss" and build_schedule("cosine", 0.1, 5).monitor is None
    assert build_schedule("cosine", 0.1, 5).state() == {}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"factor": 1.0}, "factor must lie in (0, 1). Received: factor=1.0"),
        (
            {"monitor": "accuracy"},
            "monitor must be one of val_loss, train_loss. Received: monitor='accuracy'",
        ),
        ({"min_lr": 0.5}, "plateau min_lr must lie in [0, lr]. Received: min_lr=0.5 with lr=0.1"),
        ({"patience": -1}, "patience must lie in [0, ∞). Received: patience=-1"),
    ],
)
def test_plateau_refuses_bad_settings(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_schedule("plateau", 0.1, 5, **params)  # type: ignore[arg-type]
    assert str(caught.value) == message
