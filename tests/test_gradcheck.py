"""`bprop gradcheck`: the battery passes, covers everything, and can fail."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli.cli.app import app
from backprop_cli.core.activations import ACTIVATIONS, Tanh
from backprop_cli.core.gradcheck import (
    battery_cases,
    check_activation,
    check_network,
    relative_error,
    run_battery,
)
from backprop_cli.core.layers import Dense
from backprop_cli.core.losses import LOSSES, REQUIRED_OUTPUT
from backprop_cli.core.network import Network

runner = CliRunner()


@pytest.fixture(scope="module")
def battery() -> list:
    return list(run_battery())


def test_every_gradient_in_the_battery_passes(battery: list) -> None:
    failures = [(r.case, r.tensor, r.max_rel_error) for r in battery if not r.passed]
    assert not failures
    # Far inside the tolerance, not just under it.
    assert max(r.max_rel_error for r in battery) < 1e-7


def test_battery_covers_every_activation_loss_and_depth(battery: list) -> None:
    cases = list(battery_cases())
    pairs = {(acts[-1], loss) for _, _, acts, loss, _ in cases}
    for name in ACTIVATIONS:
        assert (name, "mse") in pairs
        assert any(name in acts[:-1] for _, _, acts, _, _ in cases), f"{name} as a hidden layer"
        assert any(r.case == f"activation {name}" for r in battery)
    for loss, output in REQUIRED_OUTPUT.items():
        assert (output, loss) in pairs
    assert {loss for _, _, _, loss, _ in cases} == set(LOSSES)
    assert {len(widths) - 1 for _, widths, _, _, _ in cases} == {1, 2, 3}
    tensors = {r.tensor for r in battery}
    assert {"layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b", "input"} <= tensors


def test_relative_error_definition() -> None:
    # |a − n| / max(|a|, |n|, tiny): (1.0 vs 1.1) → 0.1/1.1; tiny floor for zeros; NaN → inf
    assert relative_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 1.1)
    assert relative_error(np.array([0.0]), np.array([0.0])) == 0.0
    assert relative_error(np.array([0.0]), np.array([1e-12]), tiny=1e-6) == pytest.approx(1e-6)
    assert relative_error(np.array([np.nan]), np.array([1.0])) == float("inf")


def test_a_wrong_derivative_is_caught_by_the_core(monkeypatch: pytest.MonkeyPatch) -> None:
    # tanh′ = 1 − a² replaced by 1 − a: off wherever a ∉ {0, 1}
    monkeypatch.setattr(Tanh, "derivative", lambda self, z, a, out=None: 1 - a)
    check = check_activation(Tanh(), np.linspace(-2, 2, 12).reshape(3, 4) + 0.05)
    assert not check.passed and check.max_rel_error > 0.1


def test_a_wrong_derivative_makes_the_command_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Tanh, "derivative", lambda self, z, a, out=None: 1 - a)
    result = runner.invoke(app, ["gradcheck", "--failures-only"])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output
    assert "tanh" in result.output


def test_a_dropped_batch_mean_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A classic bug: forgetting the 1/N in the fused cross-entropy gradient."""
    from backprop_cli.core.losses import SoftmaxCrossEntropy

    original = SoftmaxCrossEntropy.backward
    monkeypatch.setattr(SoftmaxCrossEntropy, "backward", lambda self: original(self) * len(self._y))
    assert not all(r.passed for r in run_battery())


def test_the_command_passes_and_summarises() -> None:
    result = runner.invoke(app, ["gradcheck", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "passed: all" in result.output


def test_sampled_entries(battery: list) -> None:
    results = list(run_battery(samples=2))
    assert all(r.passed for r in results)
    assert max(r.checked + r.skipped for r in results if r.tensor != "z") <= 2


def test_tolerance_zero_fails_and_bad_options_are_usage_errors() -> None:
    assert runner.invoke(app, ["gradcheck", "--tol", "0"]).exit_code == 1
    assert runner.invoke(app, ["gradcheck", "--eps", "-1"]).exit_code == 2
    assert runner.invoke(app, ["gradcheck", "--samples", "0"]).exit_code == 2
    assert runner.invoke(app, ["gradcheck", "--bogus"]).exit_code == 2


def test_kinks_are_skipped_not_failed() -> None:
    """A ReLU unit sitting exactly on its kink (z = 0) has no derivative: the entries whose
    perturbation crosses it are skipped, and the rest still pass."""
    from backprop_cli.core.activations import get_activation

    net = Network(
        [Dense(2, get_activation("relu")), Dense(2, get_activation("softmax"))],
        2,
        "cross_entropy",
        np.random.default_rng(0),
        dtype="float64",
    )
    net.param("layers.0.W")[...] = [[1.0, -1.0], [0.5, 0.25]]
    X = np.array([[1.0, 1.0], [0.3, -0.7]])  # unit 0 of sample 0: z = 1 − 1 + 0 = 0, on the kink
    results = check_network(net, X, net.prepare_targets(np.array([0, 1])), eps=1e-4)
    assert all(r.passed for r in results)
    assert sum(r.skipped for r in results) > 0
