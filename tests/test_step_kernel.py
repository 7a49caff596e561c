"""The compiled whole step (bprop[fast] at small batches) against the NumPy reference: the seed's
worked example by hand, finite differences, 100 steps in both dtypes, random networks
(Hypothesis), which networks it takes, and runs through the training loop."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.core.activations import get_activation
from backprop_cli.core.clipping import global_norm
from backprop_cli.core.gradcheck import (
    DEFAULT_EPS,
    kink_signature,
    numerical_gradient,
    relative_error,
)
from backprop_cli.core.layers import BatchNorm, Dense, Dropout
from backprop_cli.core.network import Network

from helpers import (
    CONFIG_DIR,
    DENSE_LOSSES,
    assert_within_scale,
    cli,
    dense_network,
    history_of,
    seed_weights,
)

pytest.importorskip("numba")
from backprop_cli.kernels.step import MAX_WORK, UNITS, dense_step_for

#: (loss, output activation) pairs the step computes.
LOSSES = DENSE_LOSSES


build = dense_network


def targets(net: Network, n: int, rng: np.random.Generator) -> np.ndarray:
    k = net.output_dim
    if net.loss.name == "cross_entropy":
        return net.prepare_targets(rng.integers(0, k, n))
    if net.loss.name == "mse":
        return net.prepare_targets(rng.standard_normal((n, k)))
    return net.prepare_targets((rng.random((n, k)) > 0.5).astype(float))


def reference_step(net: Network, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    out = net.forward(X)
    loss = net.loss.forward(out, y)
    net.backward()
    return out.copy(), loss, global_norm(net.grads)


def histories_on_both_paths(tmp_path: Path, config: str, args: list[str]) -> dict[str, list]:
    """`bprop train config args` on the numpy and the fused path: each run's history."""
    histories = {}
    for path in ("numpy", "fused"):
        out = tmp_path / path
        result = cli(["train", config, "--out", str(out), *args,
                      "--set", f"training.kernels={path}"])  # fmt: skip
        assert result.exit_code == 0, result.output
        histories[path] = history_of(out)
    return histories


def test_the_seeds_worked_example_by_hand() -> None:
    # The seed's network (tests/test_seed_examples.py derives every number): x = (1, 2),
    # W1 = [[.1, .2], [.3, .4], [.5, .6]], b1 = (.1, .2, .3), W2 = [[.7, .8, .9]], b2 = .4,
    # sigmoid units, mse with the ½, y = 1:
    #   z1 = (0.6, 1.3, 2.0), a1 = σ(z1), z2 = 2.273344770972198, a2 = 0.906645273226531
    #   L = ½(a2 − 1)² = 0.004357552505474513
    #   δ2 = (a2 − 1)·a2(1 − a2) = −0.007901508763849790 = ∂L/∂b2
    #   δ1 = (W2ᵀ δ2) ⊙ a1(1 − a1) = ∂L/∂b1, ∂L/∂W1 = δ1 xᵀ
    net = build([(3, "sigmoid")], (1, "sigmoid"), "mse", inputs=2)
    net.load_state_dict(seed_weights())
    step = dense_step_for(net, 1)
    assert step is not None
    stepped = step(np.array([[1.0, 2.0]]), net.prepare_targets(np.array([1.0])))
    assert stepped is not None
    out, loss, norm = stepped
    np.testing.assert_allclose(out, [[0.906645273226531]], atol=1e-15)
    assert abs(loss - 0.004357552505474513) < 1e-16
    np.testing.assert_allclose(net.grad("layers.1.b"), [-0.007901508763849790], atol=1e-17)
    np.testing.assert_allclose(
        net.grad("layers.1.W"),
        [[-0.005101658962078007, -0.006209282005450528, -0.006959625830815525]], atol=1e-17,
    )  # fmt: skip
    delta1 = [-0.001265418476699297, -0.001063848788792678, -0.0007466469616924364]
    np.testing.assert_allclose(net.grad("layers.0.b"), delta1, atol=1e-17)
    np.testing.assert_allclose(net.grad("layers.0.W")[:, 1], 2 * np.array(delta1), atol=1e-17)
    # ‖g‖² = δ2²(1 + ‖a1‖²) + ‖δ1‖²(1 + 1² + 2²)
    a1 = np.array([0.645656306225795, 0.785834983042559, 0.880797077977882])
    expected = math.sqrt(0.007901508763849790**2 * (1 + a1 @ a1) + 6 * np.dot(delta1, delta1))
    assert abs(norm - expected) < 1e-15


@pytest.mark.parametrize(("loss", "output"), LOSSES)
@pytest.mark.parametrize("hidden", sorted(UNITS))
def test_gradients_match_finite_differences(loss: str, output: str, hidden: str) -> None:
    rng = np.random.default_rng(3)
    net = build([(6, hidden), (4, "tanh")], (3, output), loss)
    net.params[net.n_decay :] += rng.normal(0.0, 0.1, net.n_params - net.n_decay)
    X, y = rng.standard_normal((4, 5)), targets(net, 4, rng)
    step = dense_step_for(net, 4)
    assert step is not None and step(X, y) is not None
    analytic = net.grads.copy()
    signature = kink_signature(net)  # entries whose differences cross a ReLU kink: NaN
    for name, slot in net.slots.items():
        idx = np.arange(slot.size)
        loss_of = lambda: net.loss_value(X, y)  # noqa: E731
        numeric = numerical_gradient(loss_of, net.param(name), idx, DEFAULT_EPS, signature)
        exact = analytic[slot.offset : slot.offset + slot.size]
        smooth = ~np.isnan(numeric)
        assert smooth.sum() > slot.size // 2, name
        assert relative_error(exact[smooth], numeric[smooth]) < 1e-7, name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("loss", "output"), LOSSES)
def test_100_steps_follow_the_reference(loss: str, output: str, dtype: str) -> None:
    """Same start, same batches, SGD by hand: the kernel's run and the reference's stay together.
    Its sums are ordered unlike BLAS's, whose order depends on the OpenBLAS kernel, so float32
    agrees to rounding: within 1e-5 of each tensor's largest weight (about 80 float32 ε; the
    largest difference measured under the Haswell, SkylakeX, Sandybridge and Prescott kernels
    was 1.7e-6, in the gradient norm under SkylakeX); float64 within 1e-12 relative, entry by
    entry."""
    make = lambda: build([(16, "relu"), (8, "tanh")], (3, output), loss, dtype=dtype)  # noqa: E731
    reference, fused = make(), make()
    step = dense_step_for(fused, 4)
    assert step is not None
    rng = np.random.default_rng(7)
    for _ in range(100):
        X = rng.standard_normal((4, 5)).astype(dtype)
        y = targets(reference, 4, rng)
        out, loss_ref, norm_ref = reference_step(reference, X, y)
        stepped = step(X, y)
        assert stepped is not None
        tol = 1e-5 if dtype == "float32" else 1e-12
        assert abs(stepped[1] - loss_ref) <= tol * max(1.0, abs(loss_ref))
        assert abs(stepped[2] - norm_ref) <= tol * max(1.0, norm_ref)
        np.testing.assert_allclose(stepped[0], out, rtol=tol, atol=tol)
        for net in (reference, fused):
            net.params -= np.asarray(0.05, dtype) * net.grads
    for name in reference.slots:
        ref, got = reference.param(name), fused.param(name)
        if dtype == "float64":
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
        else:
            assert_within_scale(got, ref, 1e-5)
        assert got.dtype == np.dtype(dtype)


@settings(max_examples=40, deadline=None)
@given(
    widths=st.lists(st.integers(1, 7), min_size=0, max_size=3),
    hidden=st.sampled_from(sorted(UNITS)),
    pair=st.sampled_from(LOSSES),
    outputs=st.integers(2, 4),
    rows=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_random_networks_give_the_references_gradient(
    widths: list[int], hidden: str, pair: tuple[str, str], outputs: int, rows: int, seed: int
) -> None:
    loss, output = pair
    net = build([(w, hidden) for w in widths], (outputs, output), loss, inputs=3, seed=seed)
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((rows, 3)) * 3, targets(net, rows, rng)
    out, loss_ref, norm_ref = reference_step(net, X, y)
    grads = net.grads.copy()
    net.grads[...] = np.nan  # the kernel must write every entry
    step = dense_step_for(net, 5)
    assert step is not None
    stepped = step(X, y)
    assert stepped is not None
    np.testing.assert_allclose(net.grads, grads, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(stepped[0], out, rtol=1e-12, atol=1e-14)
    assert stepped[1] == pytest.approx(loss_ref, rel=1e-12, abs=1e-15)
    assert stepped[2] == pytest.approx(norm_ref, rel=1e-10, abs=1e-15)


def test_what_it_takes_and_what_runs_the_reference() -> None:
    plain = build([(8, "relu")], (3, "softmax"), "cross_entropy")
    assert dense_step_for(plain, 4) is not None
    assert dense_step_for(plain, MAX_WORK // plain.n_params + 1) is None  # BLAS wins there
    relu, softmax = get_activation("relu"), get_activation("softmax")
    for odd in (
        Network([Dense(8, relu), Dropout(0.5), Dense(3, softmax)], 5, "cross_entropy",
                np.random.default_rng(0), dtype="float64"),
        Network([Dense(8, relu), BatchNorm(), Dense(3, softmax)], 5, "cross_entropy",
                np.random.default_rng(0), dtype="float64"),
        build([(8, "prelu")], (3, "softmax"), "cross_entropy"),
        build([(8, "elu")], (3, "softmax"), "cross_entropy"),
        build([(8, "relu")], (3, "softmax"), "mse"),
    ):  # fmt: skip
        assert dense_step_for(odd, 4) is None
    step = dense_step_for(plain, 4)
    assert step is not None
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 5))
    soft = rng.dirichlet(np.ones(3), 4)  # rows of class probabilities
    assert step(X, plain.prepare_targets(soft)) is None
    assert step(rng.standard_normal((5, 5)), plain.prepare_targets(np.zeros(5, int))) is None
    assert step(rng.standard_normal((4, 6)), plain.prepare_targets(np.zeros(4, int))) is None
    plain.loss.set_class_weights(np.array([1.0, 2.0, 3.0]))
    assert step(X, plain.prepare_targets(np.zeros(4, int))) is None


def test_a_non_finite_step_is_seen() -> None:
    net = build([(8, "relu")], (3, "softmax"), "cross_entropy")
    step = dense_step_for(net, 2)
    assert step is not None
    net.params[0] = np.inf
    stepped = step(np.ones((2, 5)), net.prepare_targets(np.array([0, 1])))
    assert stepped is not None
    assert not (math.isfinite(stepped[1]) and math.isfinite(stepped[2]))


def test_a_small_batch_run_uses_it_resumes_exactly_and_diverges_as_the_reference(
    tmp_path: Path,
) -> None:
    config = str(CONFIG_DIR / "moons.yaml")  # 2-16-1, batches of 32: the whole step applies
    base = ["--quiet", "--set", "output.checkpoint_every=0", "--set", "training.epochs=6"]
    runs = histories_on_both_paths(tmp_path, config, base)
    for ref, got in zip(runs["numpy"], runs["fused"], strict=True):
        assert got["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-5)
        assert got["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-5)
    part = tmp_path / "part"
    fused = ["--set", "training.kernels=fused"]
    assert cli(["train", config, "--out", str(part), *base, *fused,
                "--set", "training.epochs=3"]).exit_code == 0  # fmt: skip
    resumed = cli(["train", config, "--resume", str(part / "checkpoints/last.npz"), *base, *fused])
    assert resumed.exit_code == 0, resumed.output
    a = np.load(tmp_path / "fused/checkpoints/last.npz")
    b = np.load(part / "checkpoints/last.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith("layers."))
    diverged = {}
    for path in ("numpy", "fused"):
        out = tmp_path / f"hot-{path}"
        result = cli(["train", config, "--out", str(out), *base, "--set", "optimizer.lr=1e30",
                      "--set", "model.layers.0.activation=relu",
                      "--set", f"training.kernels={path}"])  # fmt: skip
        metrics = json.loads((out / "metrics.json").read_text())
        diverged[path] = (result.exit_code, metrics["stop_reason"], metrics["stop_detail"])
    assert diverged["fused"] == diverged["numpy"]
    assert diverged["fused"][:2] == (3, "diverged")


def test_the_gradient_check_battery_passes_on_the_fused_path() -> None:
    from backprop_cli import kernels
    from backprop_cli.core.gradcheck import run_battery

    taken: list[bool] = []

    def fuse(net: Network, batch: int):  # type: ignore[no-untyped-def]
        step = kernels.fuse_network(net, batch)
        if step is None:
            return None

        def counted(X: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
            stepped = step(X, y)
            taken.append(stepped is not None)
            return stepped

        return counted

    results = list(run_battery(fuse=fuse))
    assert results and all(r.passed for r in results), [r for r in results if not r.passed]
    assert sum(taken) >= 15  # the battery's dense networks: the whole step ran (17 of them)


def test_diagnostics_watch_the_layers_so_the_whole_step_stands_aside(tmp_path: Path) -> None:
    """Diagnostics read each layer's own z, a and δ, which the compiled step does not leave:
    with them on, a fused run takes the layers' path, and its history (diagnostics columns
    included) is the NumPy run's to rounding."""
    config = str(CONFIG_DIR / "moons.yaml")
    base = ["--quiet", "--set", "training.epochs=3", "--set", "training.diagnostics=true"]
    histories = histories_on_both_paths(tmp_path, config, base)
    assert any(key.startswith("layers.") for key in histories["fused"][0])
    for got, ref in zip(histories["fused"], histories["numpy"], strict=True):
        assert got.keys() == ref.keys()
        for key, value in ref.items():
            if key != "train_seconds":
                assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key


@pytest.mark.parametrize("clip", ["{type: norm, max_norm: 0.05}", "{type: value, max_value: 0.01}"])
def test_clipping_applies_to_the_whole_steps_gradient(tmp_path: Path, clip: str) -> None:
    """The step leaves ∂L/∂θ in the buffer; clipping then rescales it and reports the norm before
    clipping, as on the reference path."""
    config = str(CONFIG_DIR / "moons.yaml")
    base = ["--quiet", "--set", "training.epochs=4", "--set", f"training.clip={clip}"]
    histories = histories_on_both_paths(tmp_path, config, base)
    unclipped = tmp_path / "unclipped"
    assert cli(["train", config, "--out", str(unclipped), "--quiet",
                "--set", "training.epochs=4"]).exit_code == 0  # fmt: skip
    assert histories["numpy"][-1]["train_loss"] != history_of(unclipped)[-1]["train_loss"]
    for got, ref in zip(histories["fused"], histories["numpy"], strict=True):
        for key in ("train_loss", "val_loss", "grad_norm"):
            assert got[key] == pytest.approx(ref[key], rel=1e-5), key


def test_it_compiles_when_built_and_once_for_data_of_any_layout() -> None:
    """Compiling happens before the first step, and read-only or strided data (a memory-mapped
    cache, a column slice) reuses that one compiled signature instead of compiling mid-run."""
    from backprop_cli.kernels.step import dense_step

    net = build([(8, "relu")], (3, "softmax"), "cross_entropy", dtype="float32")
    step = dense_step_for(net, 4)
    assert step is not None
    compiled = list(dense_step.signatures)
    assert compiled  # compiled by the constructor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 10)).astype(np.float32)[:, ::2]  # strided columns
    X.flags.writeable = False
    labels = net.prepare_targets(rng.integers(0, 3, 4))
    labels.flags.writeable = False
    stepped = step(X, labels)
    assert stepped is not None and np.isfinite(stepped[1])
    assert list(dense_step.signatures) == compiled
