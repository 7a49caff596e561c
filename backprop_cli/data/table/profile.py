"""What a table file holds, for a config fitted to it (`bprop init --data`): the target and the
task its values suggest, the features and their kinds, missing cells, rare categories and the
columns that identify rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataError, argument
from .identifiers import row_identifiers
from .read import Categorical, Request, plan_table, read_table
from .target_choice import suggested_target

#: A numeric target of whole numbers with at most this many values is read as classes (a
#: rating of 1 to 5); more (ages, counts, prices) as a regression.
MAX_NUMBER_CLASSES = 10
#: A category seen this often or less in the file may well be missing from the training split,
#: or be joined by new ones at predict time.
RARE = 2
#: A text column of more categories than this, or than half the rows, is too wide to one-hot.
MAX_CATEGORIES = 100
#: Fewer rows than this cannot be split into training, validation and test rows worth a run.
MIN_ROWS = 20


@dataclass
class Profile:
    path: Path
    rows: int
    target: str
    task: str  # "classification" or "regression"
    #: The target's classes, sorted as training sorts them (classification).
    classes: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    #: Text, boolean and date features: their number of categories.
    categorical: dict[str, int] = field(default_factory=dict)
    #: Feature columns with missing cells: how many.
    missing: dict[str, int] = field(default_factory=dict)
    target_missing: int = 0
    #: Columns unique per row (ids): dropped.
    identifiers: list[str] = field(default_factory=list)
    #: Text columns of too many categories to one-hot: dropped.
    wide: list[str] = field(default_factory=list)
    #: Categorical features with a category seen at most `RARE` times.
    rare: list[str] = field(default_factory=list)
    #: Columns without a single value: dropped.
    empty: list[str] = field(default_factory=list)
    #: Whether a number lies beyond float32's range (the config then computes in float64).
    huge: bool = False

    @property
    def dropped(self) -> list[str]:
        return self.identifiers + self.wide + self.empty

    @property
    def input_width(self) -> int:
        """Inputs after one-hot encoding (a missing category is one more column)."""
        kept = {n: k for n, k in self.categorical.items() if n not in self.dropped}
        width = sum(1 for n in self.numeric if n not in self.dropped) + sum(kept.values())
        return width + sum(1 for n in kept if self.missing.get(n))


def columns_of(path: Path) -> list[str]:
    """The column names of a table file (its header)."""
    return plan_table(path, Request(all_numeric=True), np.dtype(np.float64)).names


def profile(path: Path, target: str | None) -> Profile:
    """Read ``path`` and say what it holds; ``target`` None: the column named like a target,
    or a `DataError` asking for one."""
    names = columns_of(path)
    listing = ", ".join(names)
    if target is None:
        target = suggested_target(path, names)
        if target is None:
            raise DataError(
                f"{path}: which column is to be predicted? Give it with {argument('target')} "
                f"COLUMN (columns: {listing})"
            )
    elif target not in names:
        raise DataError(
            f"{argument('target')}: {target!r} is not a column of {path} (columns: {listing})"
        )
    table = read_table(path, Request(target=target), np.dtype(np.float64))
    if table.n_rows < MIN_ROWS:
        raise DataError(
            f"{path}: {table.n_rows} rows are too few to train, validate and test on; a "
            f"starter config needs at least {MIN_ROWS}"
        )
    found = Profile(path, table.n_rows, target, "regression")
    found.identifiers = row_identifiers(table)
    found.missing = {name: n for name, n in table.missing.items() if n}
    found.empty = [name for name, n in found.missing.items() if n == table.n_rows]
    numeric = table.numeric
    for name, kind in table.kinds.items():
        if kind == "numeric":
            found.numeric.append(name)
            values = table.values[:, numeric.index(name)]
            with np.errstate(invalid="ignore"):
                found.huge |= bool(np.any(np.abs(values) > np.finfo(np.float32).max))
            continue
        if name in found.empty:
            continue
        column = table.categorical[name]
        found.categorical[name] = len(column.categories)
        if name in found.identifiers:
            continue
        if len(column.categories) > min(MAX_CATEGORIES, table.n_rows // 2):
            found.wide.append(name)
            continue
        counts = np.bincount(column.codes[column.codes >= 0], minlength=len(column.categories))
        if len(counts) and counts.min() <= RARE:
            found.rare.append(name)
    _target(found, table.y)
    if all(name in found.dropped for name in table.kinds):
        raise DataError(
            f"{path}: no feature is left to learn from: {', '.join(found.dropped)} "
            f"{'is' if len(found.dropped) == 1 else 'are'} unique per row, too wide to one-hot "
            "or empty; add columns that describe the rows"
        )
    return found


def _target(found: Profile, y: object) -> None:
    """The task and classes the target's values suggest."""
    if isinstance(y, Categorical):
        if len(y.categories) < 2:
            raise DataError(
                f"{found.path}: the target {found.target!r} holds one class only; nothing to "
                "predict"
            )
        found.task, found.classes = "classification", list(y.categories)
        found.target_missing = int((y.codes < 0).sum())
        return
    values = np.asarray(y, dtype=np.float64)
    present = values[~np.isnan(values)]
    found.target_missing = len(values) - len(present)
    if len(present) == 0:
        raise DataError(f"{found.path}: the target {found.target!r} has no values")
    distinct = np.unique(present)
    if len(distinct) < 2:
        raise DataError(
            f"{found.path}: the target {found.target!r} holds one value only; nothing to predict"
        )
    whole = bool(np.all(distinct == np.round(distinct)))
    if whole and len(distinct) <= MAX_NUMBER_CLASSES:
        found.task = "classification"
        found.classes = [str(int(v)) for v in distinct]
