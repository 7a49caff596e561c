"""Train/validation/test splits (stratified for classification), standardized with a
`Standardizer` fitted on the training split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from .standardizer import Standardizer

if TYPE_CHECKING:
    from .spec import DataSpec
    from .table.encoding import Encoding


@dataclass
class Splits:
    """The data a run trains and evaluates on; standardization statistics from the train split."""

    X_train: NDArray[Any]
    y_train: NDArray[Any]
    X_val: NDArray[Any] | None
    y_val: NDArray[Any] | None
    X_test: NDArray[Any] | None
    y_test: NDArray[Any] | None
    #: The features' standardization, fitted on the training split (None: not standardized).
    scaler: Standardizer | None = None
    #: The names of the feature columns and of the target, when the data file names them.
    feature_names: list[str] | None = None
    target_name: str | None = None
    #: Class names in label order, when the data names its classes.
    classes: list[str] | None = None
    #: A table's fitted encoding (columns, categories, fills, classes).
    encoding: Encoding | None = None
    #: What `bprop inspect` shows of a table (see `inspection.report`).
    report: dict[str, Any] | None = None
    #: A regression's target standardization (see `scale_targets`), None when not scaled.
    target_scale: Standardizer | None = None

    @property
    def mean(self) -> NDArray[Any] | None:
        """The features' μ (`scaler`), None when they are not standardized."""
        return None if self.scaler is None else self.scaler.mean

    @property
    def std(self) -> NDArray[Any] | None:
        """The features' σ (`scaler`), None when they are not standardized."""
        return None if self.scaler is None else self.scaler.std

    @property
    def is_classification(self) -> bool:
        return bool(np.issubdtype(self.y_train.dtype, np.integer))

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def labels(self) -> NDArray[np.int64]:
        parts = [y for y in (self.y_train, self.y_val, self.y_test) if y is not None]
        return np.concatenate(parts).astype(np.int64)


@dataclass(frozen=True)
class Fold:
    """Cross-validation's validation split: once the test split is drawn, the remaining rows
    (of each class, for classification) are cut into ``count`` parts of nearly equal size, and
    part ``index`` (0-based) is held out."""

    index: int
    count: int


Validation = float | Fold  # a share of the rows, or a fold


def validation_of(data: DataSpec) -> Validation:
    """The validation split a ``data:`` section asks for: a fold (``folds``, ``fold``) or a
    share (``validation_split``)."""
    if data.folds is not None:
        return Fold(data.fold, data.folds)
    return data.validation_split


def holds_out(validation: Validation) -> bool:
    """Whether ``validation`` makes a validation split at all."""
    return isinstance(validation, Fold) or validation > 0


def split_indices(
    n: int,
    validation: Validation,
    test_fraction: float,
    rng: np.random.Generator,
    labels: NDArray[Any] | None,
    source: object = "data",
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Random (stratified when ``labels`` are given) train/val/test indices, each sorted so that
    the training split keeps file order. The permutation depends only on ``rng``, so the folds
    of one seed partition the same rows.

    Each split's size is its share of all n rows, rounded once (not once per class), and shared
    among the classes by largest remainder. Folds cut each class's rows left into K consecutive
    parts, the parts one row longer taking turns over the classes, so fold sizes, overall and
    per class, differ by at most one.
    Raises DataError when a split asked for would be empty, naming it and why.
    """
    groups = (
        [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if labels is not None
        else [np.arange(n)]
    )
    orders = [rng.permutation(group) for group in groups]
    sizes = np.array([len(order) for order in orders], dtype=np.int64)
    n_test = _apportion(round(test_fraction * n), test_fraction * sizes, sizes)
    test = [order[:k] for order, k in zip(orders, n_test, strict=True)]
    rests = [order[k:] for order, k in zip(orders, n_test, strict=True)]
    empty = _empty_split(n, validation, test_fraction, int(n_test.sum()))
    if empty:
        raise DataError(too_few(source, n, validation, test_fraction, empty))
    if isinstance(validation, Fold):
        val, train, first = [], [], 0
        for rest in rests:
            start, stop = _fold_bounds(len(rest), validation, first)
            val.append(rest[start:stop])
            train.append(np.concatenate([rest[:start], rest[stop:]]))
            first = (first + len(rest)) % validation.count
    else:
        room = sizes - n_test
        n_val = _apportion(round(validation * n), validation * sizes, room)
        val = [rest[:k] for rest, k in zip(rests, n_val, strict=True)]
        train = [rest[k:] for rest, k in zip(rests, n_val, strict=True)]
    return tuple(np.sort(np.concatenate(part)).astype(np.intp) for part in (train, val, test))  # type: ignore[return-value]


def _fold_bounds(m: int, fold: Fold, first: int) -> tuple[int, int]:
    """Where fold ``fold.index`` lies among a class's ``m`` rows cut into ``fold.count``
    consecutive parts: each ⌊m/K⌋ rows, and the m mod K parts from part ``first`` on (cyclically)
    one more, so that the classes' extra rows go to every fold in turn."""
    k = fold.count
    sizes = m // k + ((np.arange(k) - first) % k < m % k)
    stop = int(sizes[: fold.index + 1].sum())
    return stop - int(sizes[fold.index]), stop


def _apportion(total: int, quotas: NDArray[Any], room: NDArray[np.int64]) -> NDArray[np.int64]:
    """``total`` rows shared among classes in proportion to ``quotas`` (largest remainder: each
    class its quota's whole part, then one more to the largest remainders first), at most
    ``room`` each."""
    counts = np.minimum(np.floor(quotas).astype(np.int64), room)
    extra = total - int(counts.sum())
    for c in np.argsort(-(quotas - np.floor(quotas)), kind="stable"):
        if extra <= 0:
            break
        if counts[c] < room[c]:
            counts[c] += 1
            extra -= 1
    return counts


def _empty_split(n: int, validation: Validation, test_fraction: float, n_test: int) -> str:
    """Why a split asked for would have no row ("" when none would be empty)."""
    if test_fraction > 0 and n_test == 0:
        return (
            f"the test split would be empty ({test_fraction} × {n} rows rounds to 0); raise "
            f"test_split to {1 / n:.2g} or more, or set it to 0 for no test split"
        )
    rest = n - n_test
    if isinstance(validation, Fold):
        if validation.count > rest:
            return (
                f"each of the {validation.count:,} folds needs a row, and {rest:,} are left "
                f"besides the test split; use at most {rest:,} folds"
            )
        return ""  # dealt, every fold has a row, and the training split the other folds' rows
    n_val = round(validation * n)
    if validation > 0 and n_val == 0:
        return (
            f"the validation split would be empty ({validation} × {n} rows rounds to 0); raise "
            f"validation_split to {1 / n:.2g} or more, or set it to 0 for no validation split"
        )
    if n_val >= rest:
        return (
            f"the training split would be empty (validation and test take {n_val + n_test} of "
            f"the {n} rows); lower the splits"
        )
    return ""


def make_splits(
    X: NDArray[np.float64],
    y: NDArray[Any],
    validation: Validation,
    test_fraction: float,
    rng: np.random.Generator,
    given: dict[str, NDArray[Any]] | None = None,
    source: str = "data",
) -> Splits:
    """Split (X, y); splits already given by the file replace the fractions for that split."""
    given = given or {}
    n = len(X)
    if len(y) != n:
        raise DataError(f"{source}: X has {n} samples but y has {len(y)}")
    classify = bool(np.issubdtype(y.dtype, np.integer))
    if "X_val" in given and isinstance(validation, Fold):
        raise DataError(
            f"{source}: the file gives its own validation split (X_val); cross-validation "
            "needs data without one"
        )
    val_f = 0.0 if "X_val" in given else validation
    test_f = 0.0 if "X_test" in given else test_fraction
    tr, va, te = split_indices(n, val_f, test_f, rng, y if classify else None, source)

    def pick(idx: NDArray[np.intp], key: str, held: Validation) -> tuple[Any, Any]:
        if f"X_{key}" in given:
            return given[f"X_{key}"].astype(np.float64), given[f"y_{key}"]
        return (X[idx], y[idx]) if holds_out(held) else (None, None)

    X_val, y_val = pick(va, "val", val_f)
    X_test, y_test = pick(te, "test", test_f)
    return Splits(X[tr], y[tr], X_val, y_val, X_test, y_test)


def too_few(source: object, n: int, validation: Validation, test_fraction: float, why: str) -> str:
    held = (
        f"{validation.count:,} folds" if isinstance(validation, Fold)
        else f"validation_split={validation}"
    )  # fmt: skip
    return f"{source}: {n} samples are too few for {held} and test_split={test_fraction}: {why}"


def standardize(splits: Splits, numeric: NDArray[np.bool_] | None = None) -> Splits:
    """Scale features to zero mean and unit variance, fitted on the training split only
    (`Standardizer.fit`: only the columns ``numeric`` marks). Works in place on the split arrays
    (always new arrays, never views of the data as read), so standardizing needs no second copy
    of the data.

    Raises:
        DataError: a feature whose μ or σ cannot be represented in the data's dtype.
    """
    scaler = Standardizer.fit(splits.X_train, numeric, splits.feature_names)
    for X in (splits.X_train, splits.X_val, splits.X_test):
        if X is not None:
            scaler.transform_in_place(X)
    return dataclasses.replace(splits, scaler=scaler)


def scale_targets(splits: Splits) -> Splits:
    """The splits with a regression's targets standardized (`Standardizer.fit_target`), fitted
    on the training split only. New target arrays: the data as read (or cached) is left as it
    is."""
    y = splits.y_train
    scale = Standardizer.fit_target(y)

    def scaled(part: NDArray[Any] | None) -> NDArray[Any] | None:
        return None if part is None else scale.scale(part)

    return dataclasses.replace(
        splits,
        y_train=scale.scale(y),
        y_val=scaled(splits.y_val),
        y_test=scaled(splits.y_test),
        target_scale=scale,
    )
