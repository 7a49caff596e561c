"""runs/checkpoints: what a checkpoint holds goes back exactly, and nothing else is loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backprop_cli.core.activations import Softmax, Tanh
from backprop_cli.core.batching import Batching
from backprop_cli.core.history import EarlyStopping
from backprop_cli.core.layers import BatchNorm, Dense
from backprop_cli.core.network import Network
from backprop_cli.core.optim import build_optimizer
from backprop_cli.core.schedules import build_schedule
from backprop_cli.core.training import TrainingState
from backprop_cli.errors import CheckpointError
from backprop_cli.runs.artifacts import checkpoints
from backprop_cli.runs.artifacts.checkpoints import Checkpoint


def state(seed: int) -> TrainingState:
    rng = np.random.default_rng(seed)
    net = Network(
        [Dense(4, Tanh()), BatchNorm(), Dense(3, Softmax())],
        2,
        "cross_entropy",
        rng,
        dtype="float64",
    )
    opt = build_optimizer("adam")
    opt.init(net.n_params, net.n_decay, net.dtype)
    return TrainingState(
        net, opt, build_schedule("constant", 0.1, 5), Batching("minibatch", 4), 5, True,
        np.random.default_rng(seed + 1), None, EarlyStopping("val_loss", patience=3),
    )  # fmt: skip


def test_a_checkpoint_restores_everything_it_captured(tmp_path: Path) -> None:
    saved = state(0)
    saved.net.params[...] = np.arange(saved.net.n_params, dtype=saved.net.dtype) / 100
    saved.optimizer.state["m"][...] = 0.5
    saved.optimizer.step_count = 7
    saved.epoch, saved.step = 3, 21
    saved.shuffle_rng.random(5)
    saved.monitor.update(1, 0.9)
    saved.monitor.update(2, 1.0)
    path = tmp_path / "last.npz"
    checkpoints.capture(saved, {"name": "c"}).write(path)
    loaded = Checkpoint.read(path)
    assert loaded.config == {"name": "c"}
    assert sorted(loaded.params) == sorted(saved.net.state_dict())
    assert "layers.1.running_var" in loaded.params  # every layer's tensors, not W/b only

    resumed = state(5)
    checkpoints.restore(loaded, resumed)
    assert np.array_equal(resumed.net.params, saved.net.params)
    assert np.array_equal(resumed.optimizer.state["m"], saved.optimizer.state["m"])
    assert resumed.optimizer.step_count == 7
    assert (resumed.epoch, resumed.step) == (3, 21)
    assert resumed.monitor.state() == saved.monitor.state()
    assert resumed.shuffle_rng.random() == saved.shuffle_rng.random()


def test_best_weights_are_captured_with_their_epoch(tmp_path: Path) -> None:
    training = state(0)
    training.epoch = 4
    training.monitor.update(2, 0.5)
    best = np.zeros(training.net.n_params, dtype=training.net.dtype)
    captured = checkpoints.capture(training, {}, params=best)
    assert captured.params_epoch == 2
    assert captured.params and all(not np.any(v) for v in captured.params.values())
    assert checkpoints.capture(training, {}).params_epoch == 4


def test_a_pickle_inside_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, **{"layers.0.W": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="bprop never loads pickles"):
        Checkpoint.read(path)


def test_an_archive_without_parameters_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(CheckpointError, match="holds no layers"):
        Checkpoint.read(path)


def test_restoring_into_another_network_names_the_tensor(tmp_path: Path) -> None:
    path = tmp_path / "last.npz"
    checkpoints.capture(state(0), {}).write(path)
    rng = np.random.default_rng(0)
    other = state(0)
    other.net = Network(
        [Dense(5, Tanh()), Dense(3, Softmax())], 2, "cross_entropy", rng, dtype="float64"
    )
    with pytest.raises(CheckpointError, match=r"layers\.0\.W"):
        checkpoints.restore(Checkpoint.read(path), other)
