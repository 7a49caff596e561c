"""The means of a fast step, locked in without timing anything: one dtype throughout, buffers that
are reused rather than reallocated."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import numpy as np
import pytest

from backprop_cli.core.activations import ReLU, Sigmoid, Softmax, Tanh
from backprop_cli.core.batching import Batching
from backprop_cli.core.history import EarlyStopping
from backprop_cli.core.layers import Dense
from backprop_cli.core.network import Network
from backprop_cli.core.optim import build_optimizer
from backprop_cli.core.schedules import build_schedule
from backprop_cli.core.split import Split
from backprop_cli.core.training import EpochEnded, StepDone, TrainingState, train


def make_training(
    n: int = 100, batch: int = 32, dtype: str = "float32", optimizer: str = "adam"
) -> tuple[TrainingState, Split]:
    rng = np.random.default_rng(0)
    layers = [Dense(16, ReLU()), Dense(8, Tanh()), Dense(3, Softmax())]
    net = Network(layers, 5, "cross_entropy", rng, dtype)
    opt = build_optimizer(optimizer)
    opt.init(net.n_params, net.n_decay, net.dtype)
    X = rng.standard_normal((n, 5)).astype(dtype)
    labels = rng.integers(0, 3, n)
    data = Split(X, labels).for_loss(net, True)
    training = TrainingState(
        net, opt, build_schedule("constant", 1e-2, 50), Batching("minibatch", batch), 50, True,
        np.random.default_rng(1), None, EarlyStopping.tracker("train_loss"),
    )  # fmt: skip
    return training, data


def buffer_addresses(training: TrainingState) -> dict[str, int]:
    """Where every per-step array lives (address of its first element)."""
    net = training.net
    found = {"params": net.params.ctypes.data, "grads": net.grads.ctypes.data}
    for i, layer in enumerate(net.layers):
        assert isinstance(layer, Dense)
        found[f"{i}.z"] = layer.pre_activation.ctypes.data
        found[f"{i}.a"] = layer.output.ctypes.data
        found[f"{i}._x"] = layer._x.ctypes.data  # type: ignore[union-attr]
    found["loss.grad"] = net.loss.backward().ctypes.data
    for name, array in training.optimizer.state.items():
        found[f"optimizer.{name}"] = array.ctypes.data
    return found


def steps(training: TrainingState, data: Split) -> Iterator[StepDone | EpochEnded]:
    for event in train(training, data):
        if isinstance(event, StepDone | EpochEnded):
            yield event


def test_every_step_reuses_the_same_buffers() -> None:
    # 100 samples in batches of 32: three full batches and a last one of 4 rows per epoch.
    training, data = make_training()
    seen: list[dict[str, int]] = []
    for event in steps(training, data):
        if isinstance(event, StepDone):
            seen.append(buffer_addresses(training))
        if training.epoch == 2:
            break
    assert len(seen) == 8
    assert all(addresses == seen[0] for addresses in seen[1:])
    # The shuffled batch is gathered into one buffer too: the first layer's input never moves.
    assert "0._x" in seen[0]


def step_peaks(batch: int) -> tuple[int, int]:
    """Train 16384 samples in batches of ``batch``; return the peak memory allocated during the
    steps after the first of an epoch (the largest over epochs 3 to 5), and how much the memory
    in use grew from the end of epoch 2 to the end of epoch 5."""
    training, data = make_training(n=16384, batch=batch)
    events = steps(training, data)

    def one_epoch() -> int:
        peak, base = 0, 0
        for event in events:
            if isinstance(event, StepDone) and event.step == 1:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
            elif isinstance(event, StepDone) and event.step == event.steps:
                peak = tracemalloc.get_traced_memory()[1] - base
            elif isinstance(event, EpochEnded):
                return peak
        raise AssertionError("training ended early")

    tracemalloc.start()
    try:
        one_epoch()  # the buffers are sized during the first epoch
        one_epoch()
        after_two = tracemalloc.get_traced_memory()[0]
        peak = max(one_epoch() for _ in range(3))
        after_five = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return peak, after_five - after_two


def test_steps_allocate_nothing_of_the_batch_size_and_memory_does_not_grow() -> None:
    small, grew_small = step_peaks(2048)
    large, grew_large = step_peaks(8192)
    # Each sample has (16 + 8 + 3)·4 = 108 bytes of activations per buffer. A step allocates
    # only small objects and NumPy's iteration buffer for casts (the loss sums float32 terms in
    # float64, through a buffer of up to 8192 elements): under 16 bytes per sample, never a copy
    # of a batch-sized buffer.
    per_sample = (large - small) / (8192 - 2048)
    assert per_sample <= 16
    assert small < 2048 * 108 / 4
    assert grew_small < 16 * 1024 and grew_large < 16 * 1024


@pytest.mark.parametrize("activation", [ReLU(), Tanh(), Sigmoid()])
def test_activation_derivatives_write_into_the_given_buffer(activation: object) -> None:
    z = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    a = activation.forward(z)  # type: ignore[attr-defined]
    dout = np.ones_like(z)
    out = np.empty_like(z)
    result = activation.backward(dout, z, a, out=out)  # type: ignore[attr-defined]
    assert result is out and out.dtype == np.float32


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_an_optimizer_step_allocates_nothing_of_the_buffer_size(name: str) -> None:
    n = 200_000  # 800 kB of float32 parameters
    opt = build_optimizer(name, amsgrad=True) if name == "adam" else build_optimizer(name)
    opt.init(n, n // 2, np.dtype(np.float32))
    params = np.ones(n, dtype=np.float32)
    grads = np.full(n, 0.5, dtype=np.float32)
    opt.step(params, grads, 0.01)  # the first step may set things up
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        grads[...] = 0.5
        opt.step(params, grads, 0.01)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < n * 4 / 10, f"{name} allocated {peak} bytes in a step"


def test_batchnorm_dropout_and_residual_steps_reuse_their_buffers() -> None:
    from backprop_cli.core.layers import BatchNorm, Dropout, Residual

    rng = np.random.default_rng(0)
    layers = [Dense(64, ReLU()), BatchNorm(), Dropout(0.2),
              Residual([Dense(64, Tanh())]), Dense(3, Softmax())]  # fmt: skip
    net = Network(layers, 8, "cross_entropy", rng, "float32", noise_rng=np.random.default_rng(1))
    X = rng.standard_normal((4096, 8)).astype(np.float32)
    y = net.prepare_targets(rng.integers(0, 3, 4096))
    for _ in range(2):  # buffers sized
        net.forward(X)
        net.loss.forward(net.forward(X), y)
        net.backward()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        net.loss.forward(net.forward(X), y)
        net.backward()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # One buffer of the batch is 4096 × 64 × 4 bytes = 1 MiB; a step makes none.
    assert peak < 4096 * 64 * 4 / 4, f"a step allocated {peak} bytes"
