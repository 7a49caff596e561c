"""Matching a table's columns to the features a model was trained on, by name.

A model trained on a file with a header knows its feature names and its target's; a table given
to it later may list them in any order, and may carry the target column too (used to evaluate,
ignored to predict). A missing or unknown column is an error that names it: a silent mismatch
would give wrong predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import DataError


def match_columns(
    header: list[str],
    values: NDArray[np.float64],
    features: list[str],
    target: str | None,
    with_target: bool,
    source: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """The feature columns of ``values`` in the model's order, and the target column when
    ``with_target``."""
    takes = ", ".join(features) + (f" (and the target {target!r})" if target else "")
    missing = [name for name in features if name not in header]
    if missing:
        raise DataError(
            f"{source}: no column {', '.join(map(repr, missing))}; the model takes the columns "
            f"{takes}, in any order"
        )
    unknown = [name for name in header if name not in features and name != target]
    if unknown:
        raise DataError(
            f"{source}: unknown column {', '.join(map(repr, unknown))}; the model takes the "
            f"columns {takes}"
        )
    X = values[:, [header.index(name) for name in features]]
    if not with_target:
        return X, None
    if target is None or target not in header:
        raise DataError(
            f"{source}: no target column {target!r} to evaluate against; add it to the file"
        )
    return X, values[:, header.index(target)]


def labels_or_targets(y: NDArray[Any], classification: bool, source: str) -> NDArray[Any]:
    """Class labels (whole numbers) for a classifier, real targets otherwise."""
    if not classification:
        return y
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or np.any(y < 0):
        raise DataError(f"{source}: the target column must hold class numbers 0, 1, 2, ...")
    return y.astype(np.int64)
