"""data/standardizer: the one standardization of features and of a regression's target."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from backprop_cli.data.standardizer import Standardizer


def test_a_fit_by_hand() -> None:
    """Columns [1, 2, 3] and [5, 5, 5]: μ = 2, σ = √((1 + 0 + 1)/3) = √(2/3); the constant
    column is centred only (σ recorded as 1). One-hot columns (``numeric`` False) keep 0/1."""
    X = np.array([[1.0, 5.0, 1.0], [2.0, 5.0, 0.0], [3.0, 5.0, 1.0]])
    scaler = Standardizer.fit(X, numeric=np.array([True, True, False]))
    np.testing.assert_allclose(scaler.mean, [2.0, 5.0, 0.0])
    np.testing.assert_allclose(scaler.std, [np.sqrt(2 / 3), 1.0, 1.0])
    np.testing.assert_allclose(scaler.transform(X)[:, 0], np.array([-1, 0, 1]) / np.sqrt(2 / 3))
    assert np.array_equal(scaler.transform(X)[:, 2], X[:, 2])


@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(2, 30), st.integers(1, 4)),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    )
)
def test_the_training_rows_come_out_centred_and_scaled_and_come_back(X: np.ndarray) -> None:
    scaler = Standardizer.fit(X)
    Z = scaler.transform(X)
    # columns that vary beyond rounding (a constant column of large values keeps rounding
    # noise above σ's floor of 1e-12, and is scaled by it as in training)
    spread = X.std(axis=0) > 1e-6 * (1 + np.abs(X).max(axis=0))
    np.testing.assert_allclose(Z.mean(axis=0)[spread], 0.0, atol=1e-7)
    np.testing.assert_allclose(Z.std(axis=0)[spread], 1.0, rtol=1e-6)
    np.testing.assert_allclose(scaler.unscale(Z), X, rtol=1e-9, atol=1e-9 * np.abs(X).max())
    in_place = X.copy()
    scaler.transform_in_place(in_place)
    assert np.array_equal(in_place, Z)  # the same operations, whichever way


def test_a_targets_scale_undoes_itself_one_or_several_outputs() -> None:
    y = np.array([10.0, 20.0, 30.0, 40.0])
    scale = Standardizer.fit_target(y)
    assert scale.mean.shape == (1,) and np.allclose(scale.original(scale.scale(y)), y)
    Y = np.stack([y, -y], axis=1)
    wide = Standardizer.fit_target(Y)
    assert wide.mean.shape == (2,) and np.allclose(wide.unscale(wide.scale(Y)), Y)
