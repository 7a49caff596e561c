"""Validation in two stages: the config checks what the file alone decides; the run's plan
(`runs.train.plan.prepare`) checks what needs the data, and builds each object once. A run's
data is a `Dataset` of one `Split` per split name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backprop_cli.config import load_config
from backprop_cli.core.split import NAMES, Split
from backprop_cli.data.splits import Dataset
from backprop_cli.errors import ConfigError
from backprop_cli.runs.train.plan import prepare

from helpers import CONFIG_DIR

MOONS = CONFIG_DIR / "moons.yaml"
VAL_LOSS = "training.early_stopping={monitor: val_loss, patience: 3}"


def _npz(tmp_path: Path, own_validation: bool) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"X": rng.standard_normal((40, 2)), "y": rng.integers(0, 2, 40)}
    if own_validation:
        arrays |= {"X_val": rng.standard_normal((8, 2)), "y_val": rng.integers(0, 2, 8)}
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_a_config_without_validation_data_refuses_a_val_loss_monitor_when_loaded() -> None:
    """moons with validation_split 0: the file alone decides there is no validation split."""
    with pytest.raises(ConfigError, match="val_loss needs validation data"):
        load_config(MOONS, ["data.validation_split=0", VAL_LOSS])


@pytest.mark.parametrize("own_validation", [True, False])
def test_an_npz_decides_itself_whether_val_loss_can_be_watched(
    tmp_path: Path, own_validation: bool
) -> None:
    """An .npz may hold its own X_val: the config cannot tell, so it loads either way, and the
    plan checks the monitor against the data as read."""
    path = _npz(tmp_path, own_validation)
    overrides = [f"data={{path: {path}, validation_split: 0, test_split: 0}}", VAL_LOSS]
    cfg = load_config(MOONS, overrides)
    assert cfg.has_validation() is None
    if own_validation:
        plan = prepare(cfg)
        assert plan.val is not None and len(plan.val) == 8
        assert "val_loss" in plan.history_columns
    else:
        with pytest.raises(ConfigError, match=r"^training\.early_stopping\.monitor: val_loss"):
            prepare(cfg)


def test_a_batch_larger_than_the_training_split_is_refused_before_the_network_is_built() -> None:
    """A minibatch of 10⁹ rows would make the network's buffers too large for memory; the
    plan refuses the size against the training rows first, naming the key."""
    cfg = load_config(MOONS, ["training.batching={type: minibatch, size: 1000000000}"])
    with pytest.raises(ConfigError, match=r"^training\.batching\.size: 1000000000 is more than"):
        prepare(cfg)


def test_the_plan_holds_the_data_once_and_the_loops_splits_in_the_losss_form() -> None:
    plan = prepare(load_config(MOONS, ["data.validation_split=0.25", "data.test_split=0.25"]))
    data = plan.dataset
    assert list(data.splits()) == list(NAMES)
    sizes = data.sizes()
    assert sum(sizes.values()) == sum(len(split) for split in data.splits().values())
    assert plan.train.X is data.train.X  # the features are not copied for the loop
    assert plan.train.labels is not None
    np.testing.assert_array_equal(plan.train.labels, data.train.y)
    assert plan.val is not None and len(plan.val) == sizes["val"]


def test_a_dataset_names_its_splits_in_order_and_counts_the_missing_as_empty() -> None:
    train = Split(np.zeros((3, 2)), np.array([0, 1, 1]))
    test = Split(np.ones((1, 2)), np.array([2]))
    data = Dataset.of({"test": test, "train": train})
    assert list(data.splits()) == ["train", "test"]
    assert data.sizes() == {"train": 3, "val": 0, "test": 1}
    assert data.split("val") is None and data.split("test") is test
    assert data.labelled and data.labels().tolist() == [0, 1, 1, 2]
    assert not Dataset(Split(np.zeros((2, 1)), np.array([0.5, 1.5]))).labelled


def test_a_split_for_the_loss_keeps_its_labels_beside_the_losss_targets() -> None:
    """mse of one-hot targets: y becomes a 3-column matrix, labels stay the class indices."""
    from backprop_cli.core.activations import Softmax
    from backprop_cli.core.layers import Dense
    from backprop_cli.core.network import Network

    net = Network([Dense(3, Softmax())], 2, "mse", np.random.default_rng(0), "float64")
    split = Split(np.zeros((2, 2)), np.array([2, 0])).for_loss(net, labelled=True)
    assert split.y.shape == (2, 3)
    np.testing.assert_array_equal(split.y, [[0, 0, 1], [1, 0, 0]])
    assert split.labels is not None and split.labels.tolist() == [2, 0]
    numbers = Split(np.zeros((2, 2)), np.ones((2, 3))).for_loss(net, labelled=False)
    assert numbers.labels is None and numbers.y.shape == (2, 3)


def test_integer_targets_are_classes_and_every_other_target_a_number() -> None:
    """The one rule that makes targets class indices (stratified splits, accuracy, the labels'
    range check, evaluate's per-class table): an integer dtype."""
    from backprop_cli.core.split import are_labels

    for dtype in (np.int8, np.int64, np.uint16):
        assert are_labels(np.array([0, 1], dtype=dtype)), dtype
    for dtype in (np.float32, np.float64, np.bool_):
        assert not are_labels(np.array([0, 1], dtype=dtype)), dtype
    assert are_labels([0, 2, 1]) and not are_labels([0.5])  # type: ignore[arg-type]
