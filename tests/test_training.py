"""core/training: the loop's events, its per-epoch bookkeeping and its stops, each checked against
values computed independently."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from backprop_cli.core.activations import Linear, Sigmoid, Softmax, Tanh
from backprop_cli.core.batching import Batching
from backprop_cli.core.history import EarlyStopping
from backprop_cli.core.layers import Dense
from backprop_cli.core.network import Network
from backprop_cli.core.optim import build_optimizer
from backprop_cli.core.schedules import build_schedule
from backprop_cli.core.split import Split
from backprop_cli.core.training import (
    EpochEnded,
    EpochStarted,
    Event,
    StepDone,
    Stopped,
    TrainingState,
    train,
)


@dataclass
class Data:
    """A training split and a validation split, targets in the loss's form."""

    train: Split
    val: Split | None = None


def setup(
    lr: float = 0.0, batch: int = 4, shuffle: bool = False, epochs: int = 2, n: int = 10
) -> tuple[TrainingState, Data]:
    """A 3-class softmax network on n samples; with lr 0 its weights never move."""
    rng = np.random.default_rng(0)
    net = Network([Dense(5, Tanh()), Dense(3, Softmax())], 2, "cross_entropy", rng, "float64")
    opt = build_optimizer("sgd")
    opt.init(net.n_params, net.n_decay, net.dtype)
    X = rng.standard_normal((n, 2))
    labels = rng.integers(0, 3, n)
    X_val, labels_val = rng.standard_normal((4, 2)), rng.integers(0, 3, 4)
    data = Data(Split(X, labels).for_loss(net, True), Split(X_val, labels_val).for_loss(net, True))
    training = TrainingState(
        net, opt, build_schedule("constant", lr, epochs), Batching("minibatch", batch), epochs,
        shuffle, np.random.default_rng(1), None, EarlyStopping.tracker("val_loss"),
    )  # fmt: skip
    return training, data


def events(training: TrainingState, data: Data, **kwargs: object) -> list[Event]:
    return list(train(training, data.train, data.val, **kwargs))  # type: ignore[arg-type]


def by_hand(net: Network, X: np.ndarray, labels: np.ndarray) -> tuple[float, float, int]:
    """Mean loss, gradient norm and right answers of one batch at the current weights."""
    out = net.forward(X)
    loss = net.loss.forward(out, labels)
    net.backward()
    return loss, float(np.linalg.norm(net.grads)), int(np.sum(out.argmax(axis=1) == labels))


def test_the_epoch_row_is_the_mean_of_its_steps() -> None:
    # With lr 0 every step sees the same weights, so each batch's loss and gradient norm can be
    # computed alone: batches of 4, 4 and 2 rows in file order.
    training, data = setup()
    expected = [by_hand(training.net, data.train.X[s:e], data.train.labels[s:e])  # type: ignore[index]
                for s, e in ((0, 4), (4, 8), (8, 10))]  # fmt: skip
    got = events(training, data)
    starts = [e for e in got if isinstance(e, EpochStarted)]
    steps = [e for e in got if isinstance(e, StepDone)]
    rows = [e.row for e in got if isinstance(e, EpochEnded)]
    assert [(s.epoch, s.lr, s.steps) for s in starts] == [(1, 0.0, 3), (2, 0.0, 3)]
    assert [(s.epoch, s.step, s.steps) for s in steps[:3]] == [(1, 1, 3), (1, 2, 3), (1, 3, 3)]
    assert [s.loss for s in steps[:3]] == pytest.approx([loss for loss, _, _ in expected])
    row = rows[0]
    sizes = (4, 4, 2)
    mean_loss = sum(loss * size for (loss, _, _), size in zip(expected, sizes, strict=True)) / 10
    assert row["epoch"] == 1 and row["lr"] == 0.0
    assert row["train_loss"] == pytest.approx(mean_loss, rel=1e-12)
    assert row["grad_norm"] == pytest.approx(sum(norm for _, norm, _ in expected) / 3, rel=1e-12)
    assert row["train_accuracy"] == sum(right for _, _, right in expected) / 10
    val_loss, _, val_right = by_hand(training.net, data.val.X, data.val.labels)  # type: ignore[union-attr, arg-type]
    assert row["val_loss"] == pytest.approx(val_loss, rel=1e-12)
    assert row["val_accuracy"] == val_right / 4
    assert row["train_seconds"] >= 0
    assert rows[1]["train_loss"] == pytest.approx(mean_loss, rel=1e-12)  # nothing carried over
    assert isinstance(got[-1], Stopped) and (got[-1].reason, got[-1].epoch) == ("completed", 2)
    assert (training.epoch, training.step) == (2, 6)


def test_shuffled_accuracy_matches_the_labels_of_the_gathered_rows() -> None:
    training, data = setup(shuffle=True, batch=3)
    _, _, right = by_hand(training.net, data.train.X, data.train.labels)  # type: ignore[arg-type]
    row = next(e.row for e in events(training, data) if isinstance(e, EpochEnded))
    assert row["train_accuracy"] == right / 10  # the same weights, whatever the order


@pytest.mark.parametrize("what", ["gradient", "loss"])
def test_a_non_finite_step_stops_the_run_as_diverged(what: str) -> None:
    training, data = setup()
    if what == "gradient":  # a finite loss with an infinite gradient norm
        training.clip = lambda grads: math.inf
    else:
        forward = training.net.loss.forward
        training.net.loss.forward = lambda out, y: (forward(out, y), math.nan)[1]  # type: ignore[method-assign]
    got = events(training, data)
    stop = got[-1]
    assert isinstance(stop, Stopped) and (stop.reason, stop.epoch) == ("diverged", 1)
    first = "none"  # the gradients themselves stay finite
    assert stop.detail.startswith(
        f"non-finite {what} at epoch 1, step 1 (first non-finite gradient: {first}); "
    )
    assert not any(isinstance(e, StepDone) for e in got)  # the step was not applied
    assert training.step == 0 and training.epoch == 0


def test_non_finite_weights_after_an_epoch_stop_the_run() -> None:
    training, data = setup(lr=0.1)
    step = training.optimizer.step
    calls = []

    def poison(params: np.ndarray, grads: np.ndarray, lr: float) -> None:  # NaN at the last update
        step(params, grads, lr)
        calls.append(1)
        if len(calls) == 3:
            params[0] = np.nan

    training.optimizer.step = poison  # type: ignore[method-assign]
    stop = events(training, data)[-1]
    assert isinstance(stop, Stopped) and (stop.reason, stop.epoch) == ("diverged", 1)
    assert stop.detail.startswith("non-finite weights after epoch 1; ")
    assert training.epoch == 0


def test_a_stop_request_ends_the_epoch_after_its_step() -> None:
    training, data = setup()
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) == 2

    got = events(training, data, stop=stop)
    assert isinstance(got[-1], Stopped)
    assert (got[-1].reason, got[-1].epoch) == ("interrupted", 1)
    assert got[-1].detail == "stopped during epoch 1 after step 2 of 3"
    assert training.step == 2 and training.epoch == 0  # the epoch is not counted


def test_the_best_weights_are_kept_and_restored_at_an_early_stop() -> None:
    # Train loss is monitored; a rate so large that the loss rises after the first epoch.
    training, data = setup(lr=0.0, epochs=6)
    training.monitor = EarlyStopping("train_loss", patience=2, restore_best=True)
    rises = iter([1.0, 0.5, 0.7, 0.9, 0.4, 0.3])
    loss_forward = training.net.loss.forward

    def loss(out: np.ndarray, y: np.ndarray) -> float:
        loss_forward(out, y)
        return value

    training.net.loss.forward = loss  # type: ignore[method-assign]
    marks: list[np.ndarray] = []
    got: list[Event] = []
    for event in train(training, data.train, data.val):
        if isinstance(event, EpochStarted):
            value = next(rises)
            training.net.params[0] = float(event.epoch)  # each epoch's weights, marked
        if isinstance(event, EpochEnded):
            marks.append(training.net.params.copy())
        got.append(event)
    stop = got[-1]
    assert isinstance(stop, Stopped) and (stop.reason, stop.epoch) == ("early_stopping", 4)
    assert [e.improved for e in got if isinstance(e, EpochEnded)] == [True, True, False, False]
    assert training.net.params[0] == 2.0  # the best epoch's weights are back
    assert np.array_equal(training.best_params, marks[1])  # type: ignore[arg-type]


def test_a_regression_row_has_no_accuracy() -> None:
    rng = np.random.default_rng(0)
    net = Network([Dense(1, Linear())], 1, "mse", rng, "float64")
    opt = build_optimizer("sgd")
    opt.init(net.n_params, net.n_decay, net.dtype)
    X = rng.standard_normal((6, 1))
    training = TrainingState(
        net, opt, build_schedule("constant", 0.01, 1), Batching("full"), 1, False,
        np.random.default_rng(1), None, EarlyStopping.tracker("train_loss"),
    )  # fmt: skip
    got = events(training, Data(Split(X, 2 * X).for_loss(net, False)))
    row = next(e.row for e in got if isinstance(e, EpochEnded))
    assert set(row) == {"epoch", "lr", "train_loss", "grad_norm", "train_seconds"}


def test_the_divergence_message_names_the_first_non_finite_gradient() -> None:
    training, data = setup()
    backward = training.net.backward

    def poisoned() -> None:
        backward()
        training.net.grad("layers.1.b")[0] = np.inf  # after layer 0's tensors in layer order
        training.net.grad("layers.1.W")[0, 0] = np.nan

    training.net.backward = poisoned  # type: ignore[method-assign]
    stop = events(training, data)[-1]
    assert isinstance(stop, Stopped)
    assert "(first non-finite gradient: layers.1.W)" in stop.detail


def test_evaluation_is_deterministic_under_dropout_and_batchnorm() -> None:
    from backprop_cli.core.layers import BatchNorm, Dropout
    from backprop_cli.core.training import evaluate

    rng = np.random.default_rng(0)
    layers = [Dense(8, Tanh()), BatchNorm(), Dropout(0.5), Dense(3, Softmax())]
    net = Network(layers, 2, "cross_entropy", rng, "float64", noise_rng=np.random.default_rng(1))
    X, labels = rng.standard_normal((12, 2)), rng.integers(0, 3, 12)
    before = net.params.copy()
    first = evaluate(net, X, labels, labels)
    assert evaluate(net, X, labels, labels) == first  # no masks, no batch statistics
    assert np.array_equal(net.params, before)  # the running averages are left alone


def test_right_answers_of_one_unit_use_the_threshold_of_its_output() -> None:
    from backprop_cli.core.epoch import correct_count

    rng = np.random.default_rng(0)
    logits = Network(
        [Dense(1, Tanh()), Dense(1, Sigmoid())], 1, "binary_cross_entropy", rng, dtype="float64"
    )
    probabilities = Network([Dense(1, Tanh()), Dense(1, Sigmoid())], 1, "mse", rng, dtype="float64")
    out = np.array([[-0.1], [0.2], [0.7]])
    labels = np.array([0, 1, 1])
    assert correct_count(logits, out, labels) == 3  # logits: z > 0 is class 1
    assert correct_count(probabilities, out, labels) == 2  # probabilities: ŷ > 0.5
    assert correct_count(probabilities, np.array([[0.5]]), np.array([0])) == 1  # 0.5 is class 0


def test_a_regression_row_with_validation_has_no_accuracy_either() -> None:
    rng = np.random.default_rng(0)
    net = Network([Dense(1, Linear())], 1, "mse", rng, "float64")
    opt = build_optimizer("sgd")
    opt.init(net.n_params, net.n_decay, net.dtype)
    X, X_val = rng.standard_normal((6, 1)), rng.standard_normal((3, 1))
    data = Data(Split(X, 2 * X).for_loss(net, False), Split(X_val, 2 * X_val).for_loss(net, False))
    training = TrainingState(
        net, opt, build_schedule("constant", 0.01, 1), Batching("full"), 1, False,
        np.random.default_rng(1), None, EarlyStopping.tracker("val_loss"),
    )  # fmt: skip
    row = next(e.row for e in events(training, data) if isinstance(e, EpochEnded))
    assert list(row) == ["epoch", "lr", "train_loss", "val_loss", "grad_norm", "train_seconds"]


def test_history_columns_in_order() -> None:
    from backprop_cli.core.history import columns

    assert columns(False) == ["epoch", "lr", "train_loss", "val_loss", "grad_norm", "train_seconds"]
    assert columns(True) == [
        "epoch", "lr", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "grad_norm",
        "train_seconds",
    ]  # fmt: skip


def test_the_first_non_finite_gradient_follows_the_layer_order_past_ten() -> None:
    from backprop_cli.core.training import first_non_finite

    layers = [Dense(2, Tanh()) for _ in range(11)] + [Dense(3, Softmax())]
    net = Network(layers, 2, "cross_entropy", np.random.default_rng(0), dtype="float64")
    net.grads[...] = 0
    net.grad("layers.10.W")[0, 0] = np.nan
    net.grad("layers.2.b")[0] = np.inf
    assert first_non_finite(net) == "layers.2.b"  # layer 2 before layer 10, not "10" < "2"
    net.grads[...] = 0
    assert first_non_finite(net) == "none"


def test_evaluate_cross_entropy_over_chunks_is_the_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop_cli.core import training as training_module

    training, data = setup()
    whole, _ = training_module.evaluate(training.net, data.train.X, data.train.y, None)
    monkeypatch.setattr(training_module, "EVAL_CHUNK", 3)
    chunked, _ = training_module.evaluate(training.net, data.train.X, data.train.y, None)
    assert chunked == pytest.approx(whole, rel=1e-12)


def marked_epochs(training: TrainingState, data: Data, values: list[float]) -> list[Event]:
    """Train with each epoch's loss forced to the next of ``values`` and params[0] set to the
    epoch's number, so which epoch's weights are in place can be read off."""
    rises = iter(values)
    loss_forward = training.net.loss.forward

    def loss(out: np.ndarray, y: np.ndarray) -> float:
        loss_forward(out, y)
        return value

    training.net.loss.forward = loss  # type: ignore[method-assign]
    got: list[Event] = []
    for event in train(training, data.train, data.val):
        if isinstance(event, EpochStarted):
            value = next(rises)
            training.net.params[0] = float(event.epoch)
        got.append(event)
    return got


def test_an_early_stop_says_how_long_it_waited_and_keeps_the_last_weights_without_restore() -> None:
    training, data = setup(epochs=6)
    training.monitor = EarlyStopping("train_loss", patience=2, restore_best=False)
    training.best_params = None
    got = marked_epochs(training, data, [1.0, 0.5, 0.7, 0.9, 0.4, 0.3])
    assert got[-1] == Stopped("early_stopping", 4, "no improvement for 2 epochs")
    assert training.net.params[0] == 4.0  # the last epoch's weights stay


def test_without_validation_a_val_loss_monitor_watches_the_training_loss() -> None:
    training, data = setup(epochs=6)
    data.val = None
    training.monitor = EarlyStopping("val_loss", patience=1)
    got = marked_epochs(training, data, [1.0, 2.0, 0.1, 0.1, 0.1, 0.1])
    assert got[-1] == Stopped("early_stopping", 2, "no improvement for 1 epochs")
    rows = [e.row for e in got if isinstance(e, EpochEnded)]
    assert [r["train_loss"] for r in rows] == [1.0, 2.0] and "val_loss" not in rows[0]


def test_a_non_finite_monitored_metric_stops_the_run_as_diverged() -> None:
    training, data = setup()
    assert data.val is not None
    data.val = Split(np.full_like(data.val.X, np.nan), data.val.y, data.val.labels)  # NaN loss
    got = events(training, data)
    assert got[-1] == Stopped("diverged", 1, "non-finite val_loss at epoch 1")
    assert training.epoch == 1  # the epoch itself completed
    assert not any(isinstance(e, EpochEnded) for e in got)


class Noting:
    """A stand-in for Diagnostics: one column per epoch and one warning naming the epoch."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, hook: str) -> object:  # start_epoch, after_forward, ...
        return lambda: self.calls.append(hook)

    def end_epoch(self) -> dict[str, float]:
        return {"layers.0.grad_norm": 7.0}

    def warnings(self, row: dict[str, float]) -> list[str]:
        return [f"look at epoch {row['epoch']:g}"]


def test_diagnostics_add_their_columns_and_warnings_after_each_epoch() -> None:
    from backprop_cli.core.training import Warned

    training, data = setup(epochs=2)
    noting = Noting()
    training.diagnostics = noting  # type: ignore[assignment]
    got = events(training, data)
    rows = [e.row for e in got if isinstance(e, EpochEnded)]
    assert [r["layers.0.grad_norm"] for r in rows] == [7.0, 7.0]
    warned = [e for e in got if isinstance(e, Warned)]
    assert warned == [Warned(1, "look at epoch 1"), Warned(2, "look at epoch 2")]
    assert got.index(warned[0]) == got.index(next(e for e in got if isinstance(e, EpochEnded))) + 1
    per_step = ["after_forward", "after_backward", "before_update", "after_update"]
    assert noting.calls == (["start_epoch"] + per_step * 3) * 2  # 10 samples in batches of 4
