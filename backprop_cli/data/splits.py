"""Train/validation/test splits (stratified for classification), standardized with a
`Standardizer` fitted on the training split."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..core.split import NAMES, Split, are_labels
from ..errors import DataError
from .standardizer import Standardizer

if TYPE_CHECKING:
    from .spec import DataSpec
    from .table.encoding import Encoding


@dataclass
class Dataset:
    """The data a run trains and evaluates on: one `Split` per split name (``train``, and
    ``val`` and ``test`` when held out), with what was fitted on the training split."""

    train: Split
    val: Split | None = None
    test: Split | None = None
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

    @classmethod
    def of(cls, splits: Mapping[str, Split], **fitted: Any) -> Dataset:
        """The data set of ``splits`` by name (``train`` among them) and what was fitted."""
        return cls(splits["train"], splits.get("val"), splits.get("test"), **fitted)

    def split(self, name: str) -> Split | None:
        """The split called ``name`` (one of `NAMES`), None when it is not held out."""
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def splits(self) -> dict[str, Split]:
        """Every split held, by name, in the order of `NAMES`."""
        held = {name: self.split(name) for name in NAMES}
        return {name: split for name, split in held.items() if split is not None}

    def sizes(self) -> dict[str, int]:
        """The rows of each split by name, 0 for one not held out."""
        return {name: len(s) if (s := self.split(name)) is not None else 0 for name in NAMES}

    @property
    def mean(self) -> NDArray[Any] | None:
        """The features' μ (`scaler`), None when they are not standardized."""
        return None if self.scaler is None else self.scaler.mean

    @property
    def std(self) -> NDArray[Any] | None:
        """The features' σ (`scaler`), None when they are not standardized."""
        return None if self.scaler is None else self.scaler.std

    @property
    def labelled(self) -> bool:
        """Whether the targets are class indices (integers), so that accuracy is kept."""
        return are_labels(self.train.y)

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1])

    def labels(self) -> NDArray[np.int64]:
        """The class index of every row, over all splits."""
        return np.concatenate([s.y for s in self.splits().values()]).astype(np.int64)


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
    given: dict[str, Split] | None = None,
    source: str = "data",
) -> Dataset:
    """Split (X, y); splits already given by the file (by name) replace the fractions for that
    split."""
    given = given or {}
    n = len(X)
    if len(y) != n:
        raise DataError(f"{source}: X has {n} samples but y has {len(y)}")
    classify = are_labels(y)
    if "val" in given and isinstance(validation, Fold):
        raise DataError(
            f"{source}: the file gives its own validation split (X_val); cross-validation "
            "needs data without one"
        )
    val_f = 0.0 if "val" in given else validation
    test_f = 0.0 if "test" in given else test_fraction
    tr, va, te = split_indices(n, val_f, test_f, rng, y if classify else None, source)

    def pick(idx: NDArray[np.intp], name: str, held: Validation) -> Split | None:
        if name in given:
            return Split(given[name].X.astype(np.float64), given[name].y)
        return Split(X[idx], y[idx]) if holds_out(held) else None

    return Dataset(Split(X[tr], y[tr]), pick(va, "val", val_f), pick(te, "test", test_f))


def too_few(source: object, n: int, validation: Validation, test_fraction: float, why: str) -> str:
    held = (
        f"{validation.count:,} folds" if isinstance(validation, Fold)
        else f"validation_split={validation}"
    )  # fmt: skip
    return f"{source}: {n} samples are too few for {held} and test_split={test_fraction}: {why}"


def standardize(data: Dataset, numeric: NDArray[np.bool_] | None = None) -> Dataset:
    """Scale features to zero mean and unit variance, fitted on the training split only
    (`Standardizer.fit`: only the columns ``numeric`` marks). Works in place on the split arrays
    (always new arrays, never views of the data as read), so standardizing needs no second copy
    of the data.

    Raises:
        DataError: a feature whose μ or σ cannot be represented in the data's dtype.
    """
    scaler = Standardizer.fit(data.train.X, numeric, data.feature_names)
    for split in data.splits().values():
        scaler.transform_in_place(split.X)
    return dataclasses.replace(data, scaler=scaler)


def scale_targets(data: Dataset) -> Dataset:
    """The data with a regression's targets standardized (`Standardizer.fit_target`), fitted
    on the training split only. New target arrays: the data as read (or cached) is left as it
    is."""
    scale = Standardizer.fit_target(data.train.y)

    scaled = {name: Split(split.X, scale.scale(split.y)) for name, split in data.splits().items()}
    return dataclasses.replace(data, **scaled, target_scale=scale)  # type: ignore[arg-type]
