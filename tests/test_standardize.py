"""Standardization statistics that hold for any finite feature: computed in float64 about the
mean, never written when they cannot be represented."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.config.models import DataConfig
from backprop_cli.core.split import Split
from backprop_cli.data import load_data
from backprop_cli.data.splits import Dataset, standardize
from backprop_cli.errors import DataError

from helpers import cli


def ids_table(path: Path, rows: int = 400) -> Path:
    """A feature that is a 64-bit id (anywhere up to 9.2e18) beside one that is not."""
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 2**63 - 1, rows, dtype=np.int64)
    lines = ["id,x,y"] + [f"{int(i)},{k % 7},{k % 2}" for k, i in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_float32_feature_near_1e19_gets_finite_statistics(tmp_path: Path) -> None:
    """In float32, (x − μ)² is up to about 2e37 per row and their sum passes float32's 3.4e38
    within about a hundred rows; in float64 it is finite, and σ (about 2.7e18) fits float32."""
    section = DataConfig.model_validate(
        {"path": str(ids_table(tmp_path / "ids.csv")), "target": "y", "test_split": 0.2}
    )
    splits = load_data(section, "classification", np.random.default_rng(0), True, np.float32)
    assert splits.std is not None and splits.mean is not None
    assert np.all(np.isfinite(splits.std)) and np.all(np.isfinite(splits.mean))
    assert 1e18 < splits.std[0] < 5e18  # uniform on [0, 9.2e18]: σ ≈ 9.2e18 / √12 ≈ 2.7e18
    for X in (splits.train.X, splits.val.X, splits.test.X):
        assert X is not None and np.all(np.abs(X) < 5)  # standardized, not divided to 0
    assert np.ptp(splits.train.X[:, 0]) > 1  # the id column still varies


def test_a_run_on_64_bit_ids_can_be_used_afterwards(tmp_path: Path) -> None:
    """Train, then predict and evaluate with the model: its checkpoint's statistics are finite."""
    ids_table(tmp_path / "ids.csv")
    (tmp_path / "e.yaml").write_text(
        "name: ids\nseed: 0\ndata: {path: ids.csv, target: y, test_split: 0.2}\n"
        "model:\n  layers:\n    - {type: dense, units: 4, activation: tanh}\n"
        "    - {type: dense, units: 2, activation: softmax}\n"
        "loss: cross_entropy\noptimizer: {type: adam, lr: 0.01}\n"
        "training: {epochs: 3, batching: {type: full}}\noutput: {checkpoint_every: 0}\n"
    )
    run = tmp_path / "run"
    assert cli(["train", str(tmp_path / "e.yaml"), "--out", str(run), "--quiet"]).exit_code == 0
    with np.load(run / "checkpoints" / "last.npz") as ckpt:
        assert np.all(np.isfinite(ckpt["preprocess.std"]))
    predicted = cli(["predict", str(run), str(tmp_path / "ids.csv")])
    assert predicted.exit_code == 0, predicted.output
    assert "nan" not in predicted.output.lower()
    evaluated = cli(["evaluate", str(run), "--data", str(tmp_path / "ids.csv")])
    assert evaluated.exit_code == 0, evaluated.output


@pytest.mark.parametrize(
    ("values", "dtype"),
    [([3.4e38, 3.4e38, 3.4e38, -3.4e38], np.float32),  # x − μ (2.6e38 + 3.4e38) passes float32
     ([1.7e308, -1.7e308, 1.7e308], np.float64)],  # and float64's largest, 1.8e308
    ids=["float32", "float64"],
)  # fmt: skip
def test_values_whose_centring_overflows_are_refused_naming_the_feature(
    values: list[float], dtype: type
) -> None:
    """Standardizing subtracts μ in the data's dtype: where some x − μ cannot be represented the
    feature is named, rather than an infinite input (a run "diverging") or a σ of inf."""
    X = np.array([[v, float(k)] for k, v in enumerate(values)], dtype=dtype)
    splits = Dataset(Split(X, np.zeros(len(X))), feature_names=["huge", "fine"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NumPy overflow warning on the way
        with pytest.raises(DataError, match=r"feature 'huge': its values are too large"):
            standardize(splits)


def test_values_near_1e300_standardize_although_their_squares_would_overflow() -> None:
    """(1e300)² overflows float64, but σ ≈ 9.4e299 fits: the squares are taken of (x − μ)/s.
    Golden: for (1e300, −1e300, 5e299), μ = 5e299/3 ≈ 1.6667e299 and
    σ = √(((8.3333e299)² + (1.16667e300)² + (3.3333e299)²)/3) ≈ 8.4984e299."""
    X = np.array([[1e300], [-1e300], [5e299]])
    out = standardize(Dataset(Split(X, np.zeros(3)), feature_names=["big"]))
    assert out.mean is not None and out.std is not None
    np.testing.assert_allclose(out.mean, [5e299 / 3], rtol=1e-12)
    np.testing.assert_allclose(out.std, [np.std([1e300 / 1e299, -10.0, 5.0]) * 1e299], rtol=1e-12)
    assert np.all(np.isfinite(out.train.X)) and abs(out.train.X.mean()) < 1e-12


def test_float64_statistics_match_the_plain_formula_on_ordinary_data() -> None:
    """Golden: for the column (1, 2, 3, 4), μ = 10/4 = 2.5 and
    σ = √(((−1.5)² + (−0.5)² + 0.5² + 1.5²)/4) = √(5/4) ≈ 1.1180340; a constant column keeps
    σ = 1 and is only centred."""
    X = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0], [4.0, 7.0]], dtype=np.float32)
    out = standardize(Dataset(Split(X.copy(), np.zeros(4))))
    assert out.mean is not None and out.std is not None
    np.testing.assert_allclose(out.mean, [2.5, 7.0])
    np.testing.assert_allclose(out.std, [np.sqrt(1.25), 1.0], rtol=1e-7)
    np.testing.assert_allclose(out.train.X[:, 0], (X[:, 0] - 2.5) / np.sqrt(1.25), rtol=1e-6)
    assert np.all(out.train.X[:, 1] == 0)


def test_a_model_sees_at_predict_time_the_columns_it_was_trained_on(tmp_path: Path) -> None:
    """Sequential 64-bit ids (10¹⁸ + row) are one value in float32, the dtype a table is read
    into for training: a constant column, centred to 0. Predicting must standardize as training
    did (in that dtype), not in float64, where the ids spread over 1.6e10 once the float32 mean
    is taken off and swamp every other input. The label is x > 3, which the network learns."""
    lines = ["id,x,y"] + [f"{10**18 + k},{k % 7},{int(k % 7 > 3)}" for k in range(300)]
    (tmp_path / "ids.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "e.yaml").write_text(
        "name: ids\nseed: 0\ndata: {path: ids.csv, target: y, test_split: 0.2}\n"
        "model:\n  layers:\n    - {type: dense, units: 8, activation: tanh}\n"
        "    - {type: dense, units: 2, activation: softmax}\n"
        "loss: cross_entropy\noptimizer: {type: adam, lr: 0.05}\n"
        "training: {epochs: 40, batching: {type: full}}\noutput: {checkpoint_every: 0}\n"
    )
    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a warning on the way (the boundary's axis at 1e18)
        trained_run = cli(["train", str(tmp_path / "e.yaml"), "--out", str(run), "--quiet"])
    assert trained_run.exit_code == 0, trained_run.output
    trained = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    evaluated = cli(["evaluate", str(run), "--data", str(tmp_path / "ids.csv"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    accuracy = json.loads(evaluated.output)["accuracy"]
    assert trained > 0.9 and accuracy > 0.9  # 0.4 (the share of label 1) before
