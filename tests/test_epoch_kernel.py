"""The compiled epoch (bprop[fast]) against the NumPy reference: the seed's worked example by hand,
whole epochs through the training loop for every loss, optimizer and clipping it takes (loops and
BLAS products, both dtypes), random networks (Hypothesis), how an epoch is cut into calls,
divergence, what it takes, and runs of the CLI that stop and resume."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.core.activations import get_activation
from backprop_cli.core.batching import Batching
from backprop_cli.core.gradcheck import (
    DEFAULT_EPS,
    kink_signature,
    numerical_gradient,
    relative_error,
)
from backprop_cli.core.history import EarlyStopping
from backprop_cli.core.layers import Dense, Dropout
from backprop_cli.core.network import Network
from backprop_cli.core.optim import ClipByGlobalNorm, ClipByValue, build_optimizer
from backprop_cli.core.schedules import build_schedule
from backprop_cli.core.split import Split
from backprop_cli.core.training import EpochEnded, StepDone, Stopped, TrainingState, train

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
from backprop_cli.kernels import fuse_chain
from backprop_cli.kernels.epoch import BLAS_FROM, dense_epoch_for

LOSSES = DENSE_LOSSES
OPTIMIZERS: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {}), ("momentum", {"momentum": 0.9}), ("nesterov", {}),
    ("rmsprop", {}), ("adam", {}), ("adam", {"amsgrad": True}),
]  # fmt: skip


build = dense_network


def data(net: Network, n: int, seed: int = 1) -> Split:
    """``n`` rows for ``net``, with class labels where its loss is a classifier's (and so the
    train accuracy in the history)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, net.input_dim)).astype(net.dtype)
    k = net.output_dim
    if net.loss.name == "cross_entropy":
        return Split(X, rng.integers(0, k, n)).for_loss(net, True)
    if net.loss.name == "mse":
        return Split(X, rng.standard_normal((n, k))).for_loss(net, False)
    y = (rng.random((n, k)) > 0.5).astype(float)
    return Split(X, y[:, 0] if k == 1 else y).for_loss(net, k == 1)


def trainings(
    make: Any,
    optimizer: tuple[str, dict[str, Any]],
    batch: int,
    clip: Any = None,
    epochs: int = 3,
    lr: float = 0.01,
) -> tuple[TrainingState, TrainingState]:
    """The same training twice from the same start: the reference, and the compiled epoch."""
    states = []
    for compiled in (False, True):
        net = make()
        opt = build_optimizer(optimizer[0], fuse_chain if compiled else None, **optimizer[1])
        opt.init(net.n_params, net.n_decay, net.dtype)
        epoch = dense_epoch_for(net, opt, clip, batch) if compiled else None
        assert epoch is not None or not compiled
        states.append(TrainingState(
            net, opt, build_schedule("constant", lr, epochs), Batching("minibatch", batch),
            epochs, True, np.random.default_rng(5), clip, EarlyStopping("train_loss"),
            kernels="fused" if compiled else "numpy", epoch_kernel=epoch,
        ))  # fmt: skip
    return states[0], states[1]


def events(training: TrainingState, split: Split, **kwargs: Any) -> list[Any]:
    return list(train(training, split, **kwargs))


def assert_same_training(ref: list[Any], got: list[Any], tol: float) -> None:
    """The same events in the same order, their figures equal to ``tol`` relative."""
    assert [type(e) for e in got] == [type(e) for e in ref]
    for a, b in zip(ref, got, strict=True):
        if isinstance(a, StepDone):
            assert (b.epoch, b.step, b.update, b.lr) == (a.epoch, a.step, a.update, a.lr)
            assert b.loss == pytest.approx(a.loss, rel=tol, abs=tol)
            assert b.grad_norm == pytest.approx(a.grad_norm, rel=tol, abs=tol)
        elif isinstance(a, EpochEnded):
            assert b.row.keys() == a.row.keys()
            for key, value in a.row.items():
                if key != "train_seconds":
                    assert b.row[key] == pytest.approx(value, rel=tol, abs=tol), key


def test_the_seeds_worked_example_by_hand() -> None:
    # The seed's network (tests/test_seed_examples.py derives every number): x = (1, 2),
    # W1 = [[.1, .2], [.3, .4], [.5, .6]], b1 = (.1, .2, .3), W2 = [[.7, .8, .9]], b2 = .4,
    # sigmoid units, mse with the ½, y = 1:
    #   L = ½(a2 − 1)² = 0.004357552505474513
    #   ∂L/∂b2 = δ2 = −0.007901508763849790;  ∂L/∂W2 = δ2·a1
    #   ∂L/∂b1 = δ1 = (−0.001265418476699297, −0.001063848788792678, −0.0007466469616924364)
    # One SGD step with rate 0.5 takes θ to θ − 0.5·∂L/∂θ: b2 = 0.4 + 0.5·0.007901508763849790
    # = 0.403950754381924895, W2 = (0.7, 0.8, 0.9) − 0.5·δ2·a1, W1[:, 1] = (0.2, 0.4, 0.6) − δ1.
    net = build([(3, "sigmoid")], (1, "sigmoid"), "mse", inputs=2)
    net.load_state_dict(seed_weights())
    opt = build_optimizer("sgd", fuse_chain)
    opt.init(net.n_params, net.n_decay, net.dtype)
    epoch = dense_epoch_for(net, opt, None, 1)
    assert epoch is not None
    epoch.start(1, 1)
    X, y = np.array([[1.0, 2.0]]), net.prepare_targets(np.array([[1.0]]))
    assert epoch.run(X, y, np.array([0]), 0, 1, 0.5) == 1
    assert abs(epoch.losses[0] - 0.004357552505474513) < 1e-16
    a1 = np.array([0.645656306225795, 0.785834983042559, 0.880797077977882])
    delta1 = np.array([-0.001265418476699297, -0.001063848788792678, -0.0007466469616924364])
    norm = math.sqrt(0.007901508763849790**2 * (1 + a1 @ a1) + 6 * np.dot(delta1, delta1))
    assert abs(epoch.norms[0] - norm) < 1e-15
    np.testing.assert_allclose(net.param("layers.1.b"), [0.403950754381924895], atol=1e-16)
    np.testing.assert_allclose(
        net.param("layers.1.W")[0], [0.7, 0.8, 0.9] + 0.5 * 0.007901508763849790 * a1, atol=1e-15
    )
    np.testing.assert_allclose(net.param("layers.0.W")[:, 1], [0.2, 0.4, 0.6] - delta1, atol=1e-16)
    assert opt.step_count == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("loss", "output"), LOSSES)
@pytest.mark.parametrize("batch", [1, 7, 40])
def test_epochs_follow_the_reference(loss: str, output: str, dtype: str, batch: int) -> None:
    """Shuffled epochs of 83 rows (the last batch partial) with momentum, event by event: three
    in float64, one in float32, whose rounding differences grow with the steps (Adam's update is
    ±lr whatever the gradient's size, so a float32 gradient of rounding noise may flip it: every
    optimizer is compared in float64 below). At batch 40 the first layer's products (40 × 5 × 48
    multiply-adds) go through BLAS, at 1 and 7 through the kernel's loops. Sums are ordered
    unlike the reference's, so float64 agrees to 1e-10 relative and float32 to 1e-4 (losses,
    norms) and within 1e-5 of each tensor's largest weight."""
    assert 40 * 5 * 48 >= BLAS_FROM > 7 * 5 * 48

    def make() -> Network:
        return build([(48, "relu"), (8, "tanh")], (3, output), loss, dtype=dtype)

    epochs = 3 if dtype == "float64" else 1
    ref, got = trainings(make, ("momentum", {}), batch, epochs=epochs)
    split = data(ref.net, 83)
    tol = 1e-10 if dtype == "float64" else 1e-4
    assert_same_training(events(ref, split), events(got, split), tol)
    for name in ref.net.slots:
        if dtype == "float64":
            np.testing.assert_allclose(got.net.param(name), ref.net.param(name), rtol=1e-9)
        else:
            assert_within_scale(got.net.param(name), ref.net.param(name), 1e-5)
    for key, value in ref.optimizer.state.items():  # the velocity: sums of rounded gradients
        assert_within_scale(got.optimizer.state[key], value, tol)
    assert (
        got.optimizer.step_count == ref.optimizer.step_count == got.step == epochs * -(-83 // batch)
    )


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: f"{o[0]}{o[1]}")
@pytest.mark.parametrize("clip", [None, ClipByGlobalNorm(0.5), ClipByValue(0.02)], ids=str)
def test_every_optimizer_and_clipping_follow_the_reference(
    optimizer: tuple[str, dict[str, Any]], clip: Any
) -> None:
    def make() -> Network:
        return build([(16, "leaky_relu"), (8, "sigmoid")], (4, "softmax"), "cross_entropy")

    ref, got = trainings(make, optimizer, 9, clip=clip, lr=0.05)
    split = data(ref.net, 60)
    assert_same_training(events(ref, split), events(got, split), 1e-10)
    np.testing.assert_allclose(got.net.params, ref.net.params, rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    widths=st.lists(st.integers(1, 9), min_size=0, max_size=3),
    hidden=st.sampled_from(["linear", "relu", "leaky_relu", "tanh", "sigmoid"]),
    pair=st.sampled_from(LOSSES),
    outputs=st.integers(1, 4),
    rows=st.integers(1, 30),
    batch=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_random_networks_train_as_the_reference(
    widths: list[int], hidden: str, pair: tuple[str, str], outputs: int, rows: int, batch: int,
    seed: int,
) -> None:  # fmt: skip
    loss, output = pair
    if loss == "cross_entropy":
        outputs = max(outputs, 2)

    def make() -> Network:
        return build([(w, hidden) for w in widths], (outputs, output), loss, inputs=3, seed=seed)

    batch = min(batch, rows)
    ref, got = trainings(make, ("adam", {}), batch, epochs=2)
    split = data(ref.net, rows, seed)
    assert_same_training(events(ref, split), events(got, split), 1e-9)
    np.testing.assert_allclose(got.net.params, ref.net.params, rtol=1e-8, atol=1e-12)


def test_how_an_epoch_is_cut_into_calls_changes_no_number() -> None:
    """One call for a whole epoch, or calls of 1 to 5 steps: the same bits."""
    results = []
    for cuts in ([13], [1, 2, 3, 4, 3], [5, 5, 3]):
        net = build([(6, "relu")], (3, "softmax"), "cross_entropy", dtype="float32")
        opt = build_optimizer("adam", fuse_chain)
        opt.init(net.n_params, net.n_decay, net.dtype)
        epoch = dense_epoch_for(net, opt, ClipByGlobalNorm(1.0), 8)
        assert epoch is not None
        split = data(net, 100)
        order = np.random.default_rng(0).permutation(100)
        epoch.start(13, 100)
        first = 0
        for size in cuts:
            assert epoch.run(split.X, split.y, order, first, first + size, 0.01) == size
            first += size
        results.append((net.params.copy(), epoch.losses.copy(), epoch.norms.copy(),
                        epoch.predicted.copy(), opt.state_dict()))  # fmt: skip
    for other in results[1:]:
        for a, b in zip(results[0][:4], other[:4], strict=True):
            assert np.array_equal(a, b)
        assert all(np.array_equal(results[0][4][k], other[4][k]) for k in other[4])


def test_a_step_that_is_not_finite_is_named_and_not_applied() -> None:
    net = build([(8, "relu")], (3, "softmax"), "cross_entropy")
    opt = build_optimizer("sgd", fuse_chain)
    opt.init(net.n_params, net.n_decay, net.dtype)
    epoch = dense_epoch_for(net, opt, None, 4)
    assert epoch is not None
    split = data(net, 12)
    X = split.X.copy()
    X[9] = np.inf  # in the third batch of four rows (file order)
    epoch.start(3, 12)
    before = net.params.copy()
    assert epoch.run(X, split.y, np.arange(12), 0, 3, 0.1) == 2
    assert math.isfinite(epoch.losses[1]) and not math.isfinite(epoch.losses[2])
    assert opt.step_count == 2 and not np.array_equal(net.params, before)
    after_two = net.params.copy()
    assert epoch.run(X, split.y, np.arange(12), 2, 3, 0.1) == 0
    assert np.array_equal(net.params, after_two)  # the third step was never applied
    assert not np.all(np.isfinite(net.grads))  # its gradient is left, for the report


def test_what_it_takes() -> None:
    plain = build([(8, "relu")], (3, "softmax"), "cross_entropy")

    def fused(name: str, **hyper: Any) -> Any:
        opt = build_optimizer(name, fuse_chain, **hyper)
        opt.init(plain.n_params, plain.n_decay, plain.dtype)
        return opt

    assert dense_epoch_for(plain, fused("adam"), None, 4) is not None
    assert dense_epoch_for(plain, fused("adam", weight_decay=0.01), None, 4) is None
    assert dense_epoch_for(plain, fused("adamw"), None, 4) is None
    reference = build_optimizer("adam")  # not built with the kernels
    reference.init(plain.n_params, plain.n_decay, plain.dtype)
    assert dense_epoch_for(plain, reference, None, 4) is None
    relu, softmax = get_activation("relu"), get_activation("softmax")
    dropout = Network([Dense(8, relu), Dropout(0.5), Dense(3, softmax)], 5, "cross_entropy",
                      np.random.default_rng(0), dtype="float64")  # fmt: skip
    for odd in (dropout, build([(8, "elu")], (3, "softmax"), "cross_entropy")):
        assert dense_epoch_for(odd, fused("adam"), None, 4) is None
    plain.loss.set_class_weights(np.array([1.0, 2.0, 3.0]))
    assert dense_epoch_for(plain, fused("adam"), None, 4) is None
    # The training loop passes over it for data it does not read (class probabilities).
    net = build([(8, "relu")], (3, "softmax"), "cross_entropy")
    epoch = dense_epoch_for(net, fused("adam"), None, 4)
    assert epoch is not None
    X = np.zeros((4, 5))
    assert epoch.takes(X, net.prepare_targets(np.zeros(4, int)))
    assert not epoch.takes(X, net.prepare_targets(np.full((4, 3), 1 / 3)))
    assert not epoch.takes(X.astype(np.float32), net.prepare_targets(np.zeros(4, int)))
    assert not epoch.takes(np.asfortranarray(X), net.prepare_targets(np.zeros(4, int)))


def test_a_stop_ends_training_at_the_end_of_a_chunk_and_says_which_step() -> None:
    def make() -> Network:
        return build([(8, "relu")], (3, "softmax"), "cross_entropy")

    _, got = trainings(make, ("adam", {}), 4, epochs=2)
    split = data(got.net, 200)  # 50 steps an epoch
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) >= 3

    seen = events(got, split, stop=stop)
    steps = [e for e in seen if isinstance(e, StepDone)]
    stopped = seen[-1]
    assert isinstance(stopped, Stopped) and stopped.reason == "interrupted"
    assert len(steps) >= 3 and steps[-1].update == got.step == got.optimizer.step_count
    assert stopped.detail == f"stopped during epoch 1 after step {len(steps)} of 50"
    assert got.epoch == 0  # the epoch in progress is not counted


def test_cli_runs_take_it_match_numpy_resume_exactly_and_say_why(tmp_path: Path) -> None:
    config = str(CONFIG_DIR / "digits.yaml")
    base = ["--set", "training.epochs=4", "--set", "output.checkpoint_every=0"]
    runs = {}
    for path in ("numpy", "fused"):
        out = tmp_path / path
        result = cli(["train", config, "--out", str(out), *base,
                      "--set", f"training.kernels={path}"])  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[path] = history_of(out)
    assert "steps: fused (compiled epochs) — training.kernels: fused; 1 BLAS thread" in (
        result.output
    )
    for ref, got in zip(runs["numpy"], runs["fused"], strict=True):
        for key in ("train_loss", "val_loss", "train_accuracy", "grad_norm"):
            assert got[key] == pytest.approx(ref[key], rel=1e-4), key
    part = tmp_path / "part"
    fused = ["--set", "training.kernels=fused", "--quiet"]
    assert cli(["train", config, "--out", str(part), *base, *fused,
                "--set", "training.epochs=2"]).exit_code == 0  # fmt: skip
    resumed = cli(["train", config, "--resume", str(part / "checkpoints/last.npz"), *base, *fused])
    assert resumed.exit_code == 0, resumed.output
    a = np.load(tmp_path / "fused/checkpoints/last.npz")
    b = np.load(part / "checkpoints/last.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith("layers."))
    assert (part / "steps.csv").read_bytes() == (tmp_path / "fused/steps.csv").read_bytes()


@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "binary_cross_entropy"])
def test_the_gradient_it_leaves_matches_finite_differences(loss: str) -> None:
    """A step with rate 0 changes no weight and leaves ∂L/∂θ of its batch in the gradient
    buffer: against five-point central differences of the reference loss, in float64."""
    output = {"cross_entropy": "softmax", "mse": "tanh", "binary_cross_entropy": "sigmoid"}[loss]
    net = build([(6, "tanh"), (5, "leaky_relu")], (3, output), loss)
    rng = np.random.default_rng(4)
    net.params[net.n_decay :] += rng.normal(0.0, 0.1, net.n_params - net.n_decay)
    split = data(net, 9, seed=2)
    opt = build_optimizer("sgd", fuse_chain)
    opt.init(net.n_params, net.n_decay, net.dtype)
    epoch = dense_epoch_for(net, opt, None, 9)
    assert epoch is not None
    before = net.params.copy()
    epoch.start(1, 9)
    assert epoch.run(split.X, split.y, np.arange(9), 0, 1, 0.0) == 1
    assert np.array_equal(net.params, before)
    assert epoch.losses[0] == pytest.approx(net.loss_value(split.X, split.y), rel=1e-12)
    analytic = net.grads.copy()
    signature = kink_signature(net)  # entries whose differences cross a kink: NaN
    for name, slot in net.slots.items():
        numeric = numerical_gradient(lambda: net.loss_value(split.X, split.y), net.param(name),
                                     np.arange(slot.size), DEFAULT_EPS, signature)  # fmt: skip
        exact = analytic[slot.offset : slot.offset + slot.size]
        smooth = ~np.isnan(numeric)
        assert smooth.sum() > slot.size // 2, name
        assert relative_error(exact[smooth], numeric[smooth]) < 1e-7, name


def test_a_long_epoch_reaches_the_loop_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop asks for about CHUNK_SECONDS of steps a call (the first call of a run is one
    step, to time one); with no time at all between events every call is one step, with all
    the time in the world an epoch is one call after the first. The numbers are the same."""
    from backprop_cli.core import training as loop

    def make() -> Network:
        return build([(8, "relu")], (3, "softmax"), "cross_entropy")

    runs = {}
    for seconds in (0.0, 1e9):
        monkeypatch.setattr(loop, "CHUNK_SECONDS", seconds)
        _, got = trainings(make, ("adam", {}), 4, epochs=2)
        assert got.epoch_kernel is not None
        calls: list[tuple[int, int]] = []
        run = got.epoch_kernel.run

        def counted(X: Any, y: Any, order: Any, first: int, last: int, lr: float,
                    calls: list[tuple[int, int]] = calls, run: Any = run) -> int:  # fmt: skip
            if last > first:  # not the call of no steps that compiles for the split's arrays
                calls.append((first, last))
            return run(X, y, order, first, last, lr)

        monkeypatch.setattr(got.epoch_kernel, "run", counted)
        split = data(got.net, 40)  # 10 steps an epoch
        seen = events(got, split)
        runs[seconds] = ([e.loss for e in seen if isinstance(e, StepDone)], got.net.params.copy())
        if seconds == 0.0:
            assert calls == [(k, k + 1) for k in range(10)] * 2
        else:
            assert calls == [(0, 1), (1, 10), (0, 10)]
    assert runs[0.0][0] == runs[1e9][0]
    assert np.array_equal(runs[0.0][1], runs[1e9][1])


def test_a_gradient_past_float32s_squares_keeps_a_finite_norm_and_is_clipped() -> None:
    """Entries near 1e21 (inputs of that size, unstandardized): their float32 squares overflow,
    their float64 sum does not, so the norm is finite and clipping rescues the step, as on the
    reference path (`global_norm` sums in float64 when float32 overflows)."""

    def make() -> Network:
        return build([(4, "relu")], (3, "softmax"), "cross_entropy", dtype="float32")

    ref, got = trainings(make, ("sgd", {}), 4, clip=ClipByGlobalNorm(1.0), epochs=1, lr=1e-3)
    split = data(ref.net, 8)
    split = Split(split.X * np.float32(1e21), split.y, split.labels)
    expected, seen = events(ref, split), events(got, split)
    norms = [e.grad_norm for e in seen if isinstance(e, StepDone)]
    assert len(norms) == 2 and all(1e20 < n < 3.4e38 * 1e10 for n in norms)
    assert_same_training(expected, seen, 1e-4)


def test_one_linear_unit_under_mse_is_a_classifier_at_one_half() -> None:
    """mse on 0/1 labels with one linear output unit: a sample is class 1 when its output
    passes ½ (`task.decide`), as on the reference path; the train accuracy agrees."""

    def make() -> Network:
        return build([(6, "relu")], (1, "linear"), "mse")

    ref, got = trainings(make, ("adam", {}), 5, epochs=3, lr=0.05)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5))
    labels = (X[:, 0] > 0).astype(np.int64)
    split = Split(X, labels).for_loss(ref.net, True)
    expected, seen = events(ref, split), events(got, split)
    assert_same_training(expected, seen, 1e-10)
    accuracies = [e.row["train_accuracy"] for e in seen if isinstance(e, EpochEnded)]
    assert accuracies[-1] > 0.7  # the outputs do pass ½ for most class-1 samples


def test_read_only_data_runs_the_code_compiled_when_built() -> None:
    """Data served by the cache of tables is memory-mapped read-only, a type of its own to
    numba: the kernel is handed read-only views always, so it compiles once, when built."""
    from backprop_cli.kernels.epoch import dense_steps

    net = build([(8, "relu")], (3, "softmax"), "cross_entropy", dtype="float32")
    opt = build_optimizer("adam", fuse_chain)
    opt.init(net.n_params, net.n_decay, net.dtype)
    epoch = dense_epoch_for(net, opt, None, 4)
    assert epoch is not None
    compiled = list(dense_steps.signatures)
    split = data(net, 12)
    for writeable in (True, False):
        X, y = split.X.copy(), split.y.copy()
        X.flags.writeable = y.flags.writeable = writeable
        assert epoch.takes(X, y)
        epoch.start(3, 12)
        assert epoch.run(X, y, np.arange(12), 0, 3, 0.01) == 3
    assert list(dense_steps.signatures) == compiled


@pytest.mark.parametrize("first", ["numpy", "fused"])
def test_a_resume_under_auto_keeps_to_the_path_the_run_took(
    first: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto weighs the kernels' start against numba's cache, which may fill between a run and
    its resume: the checkpoint records the path its steps took, and the resume keeps to it, so
    it ends bit-exact with the uninterrupted run."""
    from backprop_cli import kernels

    config = str(CONFIG_DIR / "digits.yaml")
    base = ["--quiet", "--set", "output.checkpoint_every=0"]
    # auto takes the first path for the run and its uninterrupted twin...
    monkeypatch.setattr(kernels, "expected_saving", lambda *a: 1e9 if first == "fused" else 0.0)
    part, full = tmp_path / "part", tmp_path / "full"
    assert cli(["train", config, "--out", str(part), *base, "--set", "training.epochs=2"]
               ).exit_code == 0  # fmt: skip
    assert cli(["train", config, "--out", str(full), *base, "--set", "training.epochs=4"]
               ).exit_code == 0  # fmt: skip
    assert str(np.load(part / "checkpoints/last.npz")["kernels"]) == first
    # ...and would take the other one now
    monkeypatch.setattr(kernels, "expected_saving", lambda *a: 0.0 if first == "fused" else 1e9)
    resumed = cli(["train", config, "--resume", str(part / "checkpoints/last.npz"),
                   "--set", "training.epochs=4", "--set", "output.checkpoint_every=0"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert f"steps: {first}" in resumed.output
    assert "auto: resumed on the path the run took" in resumed.output
    a, b = np.load(part / "checkpoints/last.npz"), np.load(full / "checkpoints/last.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith("layers."))
    assert (part / "steps.csv").read_bytes() == (full / "steps.csv").read_bytes()


def test_a_checkpoint_naming_a_path_bprop_has_not_is_refused(tmp_path: Path) -> None:
    from backprop_cli.errors import CheckpointError
    from backprop_cli.runs.artifacts.checkpoints import Checkpoint

    run = tmp_path / "run"
    assert cli(["train", str(CONFIG_DIR / "moons.yaml"), "--out", str(run), "--quiet",
                "--set", "training.epochs=1"]).exit_code == 0  # fmt: skip
    with np.load(run / "checkpoints/last.npz") as saved:
        arrays = dict(saved)
    for odd in (np.array("gpu"), np.array(3)):
        bad = tmp_path / "bad.npz"
        np.savez(bad, **(arrays | {"kernels": odd}))
        with pytest.raises(CheckpointError, match=r"bad\.npz: kernels must be"):
            Checkpoint.read(bad)
