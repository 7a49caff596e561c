"""Data sets: files, splits, stratification and standardization."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backprop_cli.config.models import DataConfig
from backprop_cli.data import load_data
from backprop_cli.data.files import load_file, load_shipped
from backprop_cli.data.generators import GENERATORS, generate
from backprop_cli.data.splits import make_splits
from backprop_cli.errors import ConfigError, DataError

F64 = np.dtype("float64")


def load(scale: bool = False, task: str = "classification", **data: object) -> Any:
    """The splits of a ``data:`` section (no validation or test split unless given)."""
    section = DataConfig.model_validate({"validation_split": 0.0, "test_split": 0.0, **data})
    return load_data(section, task, np.random.default_rng(0), scale, F64)


def test_csv_target_defaults_to_the_last_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("x1,x2,label\n1,2,0\n3,4,1\n5,6,2\n")
    raw = load_file(path, None)
    np.testing.assert_array_equal(raw.X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(raw.y, [0, 1, 2])
    assert raw.y.dtype == np.int64  # whole numbers: class labels
    named = load_file(path, "x1")
    np.testing.assert_array_equal(named.y, [1, 3, 5])
    np.testing.assert_array_equal(named.X, [[2, 0], [4, 1], [6, 2]])


def test_csv_with_real_targets_is_regression(tmp_path: Path) -> None:
    path = tmp_path / "r.csv.gz"
    import gzip

    path.write_bytes(gzip.compress(b"x,y\n1,0.5\n2,1.5\n"))
    raw = load_file(path, None)
    assert raw.y.dtype == np.float64
    np.testing.assert_array_equal(raw.y, [0.5, 1.5])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n3\n", "row 3 has 1 cells, the header has 2"),
        ("a,b\n1,x\n", "row 2, column 'b': 'x' is not a number"),
        ("a,b\n", "needs a header row and at least one data row"),
    ],
)
def test_bad_csv_files_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_file(path, None)


def test_nan_in_features_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    path.write_text("a,b,y\n1,2,0\n3,nan,1\n5,inf,1\n")
    # Rows are counted as in the file, the header being row 1; nan is a missing cell.
    with pytest.raises(DataError, match=r"row 4, column 'b': inf is not a finite number"):
        load(path=str(path), target="y")
    path.write_text("a,b,y\n1,2,0\n3,nan,1\n")
    with pytest.raises(
        DataError, match=r"1 rows miss a feature value \(the first: row 3, column 'b'\)"
    ):
        load(path=str(path), target="y")


def test_npz_given_splits_are_used_as_they_are(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    Xv, yv = rng.normal(size=(7, 3)), rng.integers(0, 2, 7)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y, X_val=Xv, y_val=yv)
    splits = load(path=str(path), validation_split=0.5, test_split=0.25)
    np.testing.assert_array_equal(splits.val.X, Xv)  # the file's split, not a fraction of X
    np.testing.assert_array_equal(splits.val.y, yv)
    assert len(splits.test.X) == 10 and len(splits.train.X) == 30


def test_npz_without_pickles_only(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load_file(path, None)


def test_splits_are_stratified_and_disjoint() -> None:
    y = np.repeat([0, 1, 2], [100, 50, 50])
    X = np.arange(200, dtype=float).reshape(-1, 1)
    splits = make_splits(X, y, 0.2, 0.1, np.random.default_rng(0))
    # 20 % of each class in validation, 10 % in test: 20/10/10 and 10/5/5
    assert np.bincount(splits.val.y).tolist() == [20, 10, 10]
    assert np.bincount(splits.test.y).tolist() == [10, 5, 5]
    ids = np.concatenate([splits.train.X, splits.val.X, splits.test.X]).ravel()
    assert sorted(ids.tolist()) == list(range(200))
    assert np.all(np.diff(splits.train.X.ravel()) > 0)  # the training split keeps file order


@pytest.mark.parametrize(("test_split", "sizes"), [(0.1, (160, 20, 20)), (0.15, (150, 20, 30))])
def test_stratified_split_sizes_are_the_shares_of_all_rows(
    test_split: float, sizes: tuple[int, int, int]
) -> None:
    """40 classes of 5 rows: 0.1 × 5 = 0.5 rounded per class held out no row (and 0.15 × 5 =
    0.75 one row per class, 20 % of the data); rounded once over the 200 rows, 20 (or 30) rows
    go to the test split, at most one per class, one to each of the classes first in line."""
    y = np.repeat(np.arange(40), 5)
    X = np.arange(200, dtype=float).reshape(-1, 1)
    splits = make_splits(X, y, 0.1, test_split, np.random.default_rng(0))
    assert (len(splits.train.y), len(splits.val.y), len(splits.test.y)) == sizes
    for held in (splits.val.y, splits.test.y):
        assert np.bincount(held, minlength=40).max() <= 1  # spread over the classes
    ids = np.concatenate([splits.train.X, splits.val.X, splits.test.X]).ravel()
    assert sorted(ids.tolist()) == list(range(200))


@pytest.mark.parametrize(
    ("n", "validation", "test", "message"),
    [(4, 0.1, 0.1, "4 samples are too few for validation_split=0.1 and test_split=0.1: the test "
      "split would be empty (0.1 × 4 rows rounds to 0); raise test_split to 0.25 or more"),
     (4, 0.1, 0.5, "the validation split would be empty (0.1 × 4 rows rounds to 0); raise "
      "validation_split to 0.25 or more, or set it to 0"),
     (2, 0.4, 0.4, "the training split would be empty (validation and test take 2 of the 2 "
      "rows); lower the splits")],
)  # fmt: skip
def test_a_split_that_would_be_empty_is_named_with_why(
    n: int, validation: float, test: float, message: str
) -> None:
    X, y = np.zeros((n, 1)), np.arange(n) % 2
    with pytest.raises(DataError, match=re.escape(message)):
        make_splits(X, y, validation, test, np.random.default_rng(0), source="d.npz")


def test_standardization_is_fitted_on_the_training_split_only() -> None:
    splits = load(dataset="blobs", validation_split=0.2, test_split=0.2, scale=True)
    np.testing.assert_allclose(splits.train.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(splits.train.X.std(axis=0), 1, atol=1e-12)
    raw = load(dataset="blobs", validation_split=0.2, test_split=0.2, scale=False)
    np.testing.assert_allclose(splits.mean, raw.train.X.mean(axis=0))
    np.testing.assert_allclose(splits.val.X, (raw.val.X - splits.mean) / splits.std)


def test_too_few_samples_for_the_splits() -> None:
    with pytest.raises(DataError, match="too few for validation_split"):
        load(dataset="xor", validation_split=0.1, test_split=0.1)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_deterministic(name: str) -> None:
    a = generate(name, np.random.default_rng(5), {})
    b = generate(name, np.random.default_rng(5), {})
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].ndim == 2 and len(a[0]) == len(a[1])


def test_generator_options_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"data\.options\.wobble"):
        generate("moons", np.random.default_rng(0), {"wobble": 1})
    with pytest.raises(ConfigError, match=r"data\.options\.n_samples"):
        generate("moons", np.random.default_rng(0), {"n_samples": 1})
    X, y = generate("spirals", np.random.default_rng(0), {"n_samples": 90, "n_classes": 3})
    assert X.shape == (90, 2) and set(y.tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [("digits", (1797, 64), 10), ("iris", (150, 4), 3), ("mnist5k", (5000, 784), 10)],
)
def test_shipped_data_sets(name: str, shape: tuple[int, int], classes: int) -> None:
    raw = load_shipped(name)
    assert raw.X.shape == shape and len(np.unique(raw.y)) == classes


def test_ravine_is_ill_conditioned_as_documented() -> None:
    X, y = generate("ravine", np.random.default_rng(0), {"n_samples": 20_000, "scale": 10.0})
    # Feature stds 1 and 10, so the Hessian of ½·mean((Xw − y)²), XᵀX/N, has eigenvalues near
    # 1 and 100: a condition number near scale² = 100.
    np.testing.assert_allclose(X.std(axis=0), [1.0, 10.0], rtol=0.03)
    eigenvalues = np.linalg.eigvalsh(X.T @ X / len(X))
    assert 85 < eigenvalues[-1] / eigenvalues[0] < 115
    # y = x₁/1 + x₂/10 + noise(0.1): least squares recovers the weights 1 and 0.1.
    w = np.linalg.lstsq(X, y, rcond=None)[0].ravel()
    np.testing.assert_allclose(w, [1.0, 0.1], atol=0.01)
    with pytest.raises(ConfigError, match=r"scale must be at least 1"):
        generate("ravine", np.random.default_rng(0), {"scale": 0.5})
