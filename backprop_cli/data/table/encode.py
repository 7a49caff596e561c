"""From a table's columns to a run's splits: the task and classes, missing values, the split,
and the encoding fitted on the training split.

The loss decides the task: classification turns any target values into classes (sorted, or in
``class_names`` order); regression needs a numeric target and keeps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...core.split import Split
from ...errors import DataError
from ...system.resources import memory_bytes, size_text
from .encoding import MISSING, Encoding, Feature
from .read import Categorical, Table

if TYPE_CHECKING:
    from ..splits import Validation

MISSING_STRATEGIES = ("error", "drop", "mean", "median", "most_frequent")


@dataclass
class Settings:
    """The ``data:`` keys that shape a table into inputs and targets."""

    missing: str = "error"
    class_names: list[str] | None = None
    unknown: str = "error"


@dataclass
class Prepared:
    """A table's rows as the run sees them: encoded splits, the fitted encoding and what was
    done on the way (for `bprop inspect`)."""

    encoding: Encoding
    #: The encoded rows of each split held, by name (`Split`).
    splits: dict[str, Split]
    #: Class name → rows of it (classification).
    class_counts: dict[str, int] = field(default_factory=dict)
    dropped_target: int = 0
    dropped_missing: int = 0


def class_label(value: float) -> str:
    """The name of a numeric class: 1.0 → "1", -1 → "-1", 0.5 → "0.5"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def targets(table: Table, task: str, settings: Settings) -> tuple[NDArray[Any], list[str] | None]:
    """Class indices (−1 where the target is missing) and the class names, or the numeric target
    (NaN where missing) for regression."""
    y, name, source = table.y, table.target, table.source
    if y is None:
        raise DataError(f"{source}: no target column")
    if task == "regression":
        if isinstance(y, Categorical):
            shown = ", ".join(y.categories[:10]) + (" …" if len(y.categories) > 10 else "")
            raise DataError(
                f"{source}: the target {name!r} holds text ({len(y.categories)} classes: "
                f"{shown}), but loss mse is regression and needs numbers; for classes use loss "
                "cross_entropy (softmax output) or binary_cross_entropy (sigmoid)"
            )
        return y, None
    if isinstance(y, Categorical):
        codes, found = y.codes.astype(np.int64), y.categories
    else:
        present = ~np.isnan(y)
        values = np.unique(y[present])
        found = [class_label(v) for v in values]
        codes = np.full(len(y), -1, dtype=np.int64)
        codes[present] = np.searchsorted(values, y[present])
    if settings.class_names is None:
        return codes, found
    order = settings.class_names
    position = {name: k for k, name in enumerate(order)}
    unlisted = [c for c in found if c not in position]
    if unlisted:
        raise DataError(
            f"{source}: data.class_names does not list {', '.join(map(repr, unlisted))}, found in "
            f"the target {name!r} (classes found: {', '.join(found)})"
        )
    remap = np.array([position[c] for c in found] + [-1], dtype=np.int64)
    return remap[codes], list(order)


def prepare_table(
    table: Table,
    task: str,
    settings: Settings,
    validation: Validation,
    test_fraction: float,
    rng: np.random.Generator,
    dtype: np.dtype,
    in_place: bool = False,
) -> Prepared:
    """Drop rows without a target (and, with ``missing: drop``, rows missing a feature), split,
    fit the encoding on the training split and encode every split. With ``in_place`` the
    training split may be made in the table's own matrix, which is then used up."""
    from ..splits import holds_out, split_indices

    source = table.source
    y, classes = targets(table, task, settings)
    keep = y >= 0 if classes is not None else ~np.isnan(y)
    dropped_target = int(len(y) - keep.sum())
    dropped_missing = 0
    gaps = table.missing_rows & keep
    if gaps.any() and settings.missing == "error":
        found = table.first_missing(among=keep)
        assert found is not None
        row, column = found
        raise DataError(
            f"{source}: {int(gaps.sum())} rows miss a feature value (the first: row {row}, "
            f"column {column!r}); set data.missing to drop, mean, median or most_frequent"
        )
    if settings.missing == "drop":
        dropped_missing = int(gaps.sum())
        keep &= ~table.missing_rows
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        raise DataError(f"{source}: no rows are left once rows with missing values are dropped")
    kept_y = y[rows]
    classify = classes is not None
    tr, va, te = split_indices(
        len(rows), validation, test_fraction, rng, kept_y if classify else None, source
    )
    train_rows = rows[tr]
    encoding = Encoding(
        _fit_features(table, train_rows, settings.missing),
        table.target, task, classes, settings.missing, settings.unknown, table.unused,
    )  # fmt: skip
    _check_width(table, encoding, len(rows), dtype)
    held: dict[str, Split] = {}
    for name, index, kept in (("val", va, holds_out(validation)), ("test", te, test_fraction > 0)):
        if kept:
            X = encoding.encode(table, rows[index], dtype, ignore_unknown=True)
            held[name] = Split(X, kept_y[index])
    if in_place and encoding.as_read(table, dtype):
        X = encoding.encode_in_place(table, rows[tr])  # the table's matrix, reused
    else:
        X = encoding.encode(table, rows[tr], dtype)
    splits = {"train": Split(X, kept_y[tr]), **held}
    counts: dict[str, int] = {}
    if classes is not None:
        tally = np.bincount(kept_y, minlength=len(classes))
        counts = {name: int(c) for name, c in zip(classes, tally, strict=True)}
    return Prepared(encoding, splits, counts, dropped_target, dropped_missing)


def _check_width(table: Table, encoding: Encoding, n_rows: int, dtype: np.dtype) -> None:
    """One-hot columns must fit in memory (a text column of ids has as many categories as rows)."""
    categorical = [f for f in encoding.features if f.kind == "categorical"]
    if not categorical:
        return
    need = n_rows * encoding.width * np.dtype(dtype).itemsize
    if need > memory_bytes():
        widest = max(categorical, key=lambda f: len(f.categories))
        raise DataError(
            f"{table.source}: the one-hot inputs ({encoding.width:,} columns × {n_rows:,} rows) "
            f"need {size_text(need)}, more than this machine's {size_text(memory_bytes())}; "
            f"column {widest.name!r} alone has {len(widest.categories):,} categories: leave it "
            "out (data.drop)"
        )


def _fit_features(table: Table, train_rows: NDArray[np.intp], missing: str) -> list[Feature]:
    """Fill values and categories, learned from the training split's rows."""
    features = []
    numeric = {name: k for k, name in enumerate(table.numeric)}  # name → column
    for name, kind in table.kinds.items():
        if kind == "numeric":
            fill = None
            if missing in ("mean", "median", "most_frequent"):
                column = table.values[train_rows, numeric[name]]
                fill = _fill_value(column.astype(np.float64), missing)
                if fill is None:
                    raise DataError(
                        f"{table.source}: column {name!r} has no values in the training split to "
                        f"compute its {missing} from; drop the column (data.drop)"
                    )
            features.append(Feature(name, "numeric", fill))
            continue
        column_codes = table.categorical[name].codes[train_rows]
        present = np.unique(column_codes)
        categories = [table.categorical[name].categories[c] for c in present if c >= 0]
        if present.size and present[0] < 0:
            categories.append(MISSING)
        features.append(Feature(name, "categorical", categories=categories))
    return features


def _fill_value(column: NDArray[np.float64], strategy: str) -> float | None:
    """The mean, median or most frequent value of the column's present cells (the smallest of
    equally frequent ones, as scikit-learn's SimpleImputer)."""
    present = column[~np.isnan(column)]
    if present.size == 0:
        return None
    if strategy == "mean":
        value = float(np.mean(present))
    elif strategy == "median":
        value = float(np.median(present))
    else:
        values, counts = np.unique(present, return_counts=True)
        value = float(values[np.argmax(counts)])
    return value if math.isfinite(value) else None
