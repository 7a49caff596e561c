"""The one standardizer: per-column μ and σ fitted on the training split, applied to every
split and to new data, and undone for a regression's outputs. Features and a regression's target
are both standardized by it; checkpoints and exports carry its μ and σ.

Math:
    μ = mean of the training rows,  σ = √(mean of (x − μ)²)  (per column; σ = 1 where it is 0)
    x' = (x − μ) / σ   (transform);   x = x' · σ + μ   (inverse)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError


@dataclass(frozen=True)
class Standardizer:
    """μ and σ per column (features, or a regression's outputs)."""

    mean: NDArray[Any]
    std: NDArray[Any]

    @classmethod
    def fit(
        cls,
        X: NDArray[Any],
        numeric: NDArray[np.bool_] | None = None,
        names: list[str] | None = None,
    ) -> Standardizer:
        """The standardization of the columns of ``X`` (the training split's features), in its
        dtype. Only the columns ``numeric`` marks (default: all) are scaled: one-hot columns
        get μ 0 and σ 1. A constant column (σ 0) is centred only.

        Raises:
            DataError: a column whose μ or σ cannot be represented in ``X``'s dtype.
        """
        mean, std = moments(X)
        if numeric is not None:
            mean[~numeric], std[~numeric] = 0.0, 1.0
        std[std <= 1e-12] = 1.0
        mean, std = mean.astype(X.dtype), std.astype(X.dtype)
        _check_representable(mean, std, names)
        return cls(mean, std)

    @classmethod
    def fit_target(cls, y: NDArray[Any]) -> Standardizer:
        """The standardization of a regression's training targets (1-D, or one column per
        output), in float64."""
        mean, std = moments(y.reshape(len(y), -1))
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise DataError(
                "the target's values spread beyond what float64 holds; rescale them, or set "
                "data.standardize_target: false"
            )
        std[~(std > 1e-12)] = 1.0  # a constant target is centred only
        return cls(mean, std)

    def transform_in_place(self, X: NDArray[Any]) -> None:
        """x ← (x − μ)/σ, in ``X``'s own buffer and dtype."""
        X -= self.mean
        X /= self.std

    def transform(self, X: NDArray[Any], dtype: np.dtype | None = None) -> NDArray[Any]:
        """(x − μ)/σ of new rows, computed in μ's dtype (that of the fit), then in ``dtype``
        (default: the same)."""
        work = X.astype(self.mean.dtype, copy=False)
        return np.ascontiguousarray((work - self.mean) / self.std, dtype=dtype or work.dtype)

    def scale(self, y: NDArray[Any]) -> NDArray[Any]:
        """Targets (1-D, or one column per output) in the network's scale, in ``y``'s dtype."""
        y = np.asarray(y)
        mean, std = (self.mean[0], self.std[0]) if y.ndim == 1 else (self.mean, self.std)
        return ((y.astype(np.float64) - mean) / std).astype(y.dtype)

    def unscale(self, outputs: NDArray[Any]) -> NDArray[np.float64]:
        """The network's outputs (one column per output) in the target's units, float64."""
        return np.asarray(outputs, dtype=np.float64) * self.std + self.mean

    def original(self, y: NDArray[Any]) -> NDArray[np.float64]:
        """Scaled targets (1-D, or one column per output) back in their own units."""
        return self.unscale(y.reshape(len(y), -1)).reshape(y.shape)

    def note(self, target: str | None) -> str:
        """One line for the start of a run: what the losses shown are measured on."""
        name = f"the target {target!r}" if target else "the target"
        one = len(self.mean) == 1
        stats = f"mean {self.mean[0]:.4g}, std {self.std[0]:.4g}" if one else "per output"
        return (
            f"{name} is standardized for training ({stats}): losses are on that scale; "
            "predictions and RMSE, MAE and R² are in its own units"
        )


#: Rows at a time for the statistics: float64 blocks of about 8 MiB, never a copy of the data.
STAT_BLOCK_BYTES = 8 << 20


def moments(X: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each column's mean and population standard deviation, in float64. The squares are taken
    of (x − μ)/s, s the column's largest |x − μ|, so they cannot overflow where σ itself fits.
    A column whose every x − μ does not fit the data's dtype gets an infinite σ (refused)."""
    n, width = X.shape
    rows = max(1, STAT_BLOCK_BYTES // (8 * max(width, 1)))
    total, low, high = np.zeros(width), np.full(width, np.inf), np.full(width, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused by the caller
        for start in range(0, n, rows):
            block = X[start : start + rows]
            total += block.sum(axis=0, dtype=np.float64)
            np.minimum(low, block.min(axis=0), out=low)
            np.maximum(high, block.max(axis=0), out=high)
        mean = total / n
        reach = np.maximum(high - mean, mean - low)  # the largest |x − μ|
        if not np.all(reach <= np.finfo(X.dtype).max):  # X − μ, in place, would overflow
            reach[~(reach <= np.finfo(X.dtype).max)] = np.inf
        scale = np.where((reach > 0) & np.isfinite(reach), reach, 1.0)
        squares = np.zeros(width)
        for start in range(0, n, rows):
            block = (X[start : start + rows].astype(np.float64) - mean) / scale
            squares += np.einsum("ij,ij->j", block, block)
        std = scale * np.sqrt(squares / n)
    std[~np.isfinite(reach)] = np.inf
    return mean, std


def _check_representable(mean: NDArray[Any], std: NDArray[Any], names: list[str] | None) -> None:
    bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))
    if bad.size:
        which = ", ".join(repr(names[j]) if names else f"column {j + 1}" for j in bad[:5])
        raise DataError(
            f"feature {which}: its values are too large to standardize in {mean.dtype} (the "
            "mean or spread overflows); rescale the column, drop it (data.drop), or set "
            "data.standardize: false"
        )
