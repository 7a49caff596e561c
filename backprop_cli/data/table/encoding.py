"""What turns a table's columns into the network's inputs and classes, fitted on the training
split and stored in every checkpoint as JSON (``data.encoding``), so evaluate, predict and
summary apply exactly what training did.

- a numeric column is copied, its missing cells filled with ``fill`` (learned from the training
  split by the ``mean``, ``median`` or ``most_frequent`` strategy; None: a missing cell is an
  error);
- a categorical column becomes one 0/1 column per category seen in the training split
  (``<missing>`` is a category of its own); an unseen category is an error, or all zeros with
  ``unknown: ignore``;
- the target becomes class indices into ``classes`` (classification) or stays a number
  (regression).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...errors import DataError
from .read import Categorical, Table

MISSING = "<missing>"


@dataclass
class Feature:
    name: str
    kind: str  # "numeric" | "categorical"
    fill: float | None = None  # numeric: the value a missing cell gets
    categories: list[str] = field(default_factory=list)  # categorical: one column each

    @property
    def columns(self) -> list[str]:
        """The names of the input columns this feature becomes."""
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={category}" for category in self.categories]


@dataclass
class Encoding:
    features: list[Feature]
    target: str | None
    task: str  # "classification" | "regression"
    classes: list[str] | None = None
    missing: str = "error"
    unknown: str = "error"
    #: Columns of the training file left out (data.drop, or not in data.features): a file given
    #: to predict or evaluate may carry them.
    ignored: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [name for feature in self.features for name in feature.columns]

    @property
    def kinds(self) -> dict[str, str]:
        return {feature.name: feature.kind for feature in self.features}

    @property
    def width(self) -> int:
        return len(self.columns)

    def numeric_mask(self) -> NDArray[np.bool_]:
        """True for each input column that comes from a numeric feature (standardized)."""
        return np.array([f.kind == "numeric" for f in self.features for _ in f.columns], bool)

    def to_json(self) -> str:
        document = {
            "features": [
                {"name": f.name, "kind": f.kind}
                | ({"fill": f.fill} if f.kind == "numeric" else {"categories": f.categories})
                for f in self.features
            ],
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "missing": self.missing,
            "unknown": self.unknown,
            "ignored": self.ignored,
        }
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str, source: str) -> Encoding:
        """Parse and check what `to_json` wrote; a `ValueError` naming ``source`` otherwise."""
        try:
            doc = json.loads(text)
            features = []
            for item in doc["features"]:
                name, kind = item["name"], item["kind"]
                if not isinstance(name, str) or kind not in ("numeric", "categorical"):
                    raise ValueError(f"feature {name!r} of kind {kind!r}")
                if kind == "numeric":
                    fill = item.get("fill")
                    if fill is not None and not (
                        isinstance(fill, int | float) and np.isfinite(fill)
                    ):
                        raise ValueError(f"feature {name!r}: fill {fill!r}")
                    features.append(Feature(name, kind, None if fill is None else float(fill)))
                else:
                    categories = item["categories"]
                    if not all(isinstance(c, str) for c in categories):
                        raise ValueError(f"feature {name!r}: categories must be texts")
                    features.append(Feature(name, kind, categories=list(categories)))
            classes = doc["classes"]
            if classes is not None and not all(isinstance(c, str) for c in classes):
                raise ValueError("classes must be texts")
            if doc["task"] not in ("classification", "regression"):
                raise ValueError(f"task {doc['task']!r}")
            ignored = doc.get("ignored", [])
            if not all(isinstance(c, str) for c in ignored):
                raise ValueError("ignored must be column names")
            encoding = cls(features, doc["target"], doc["task"], classes, doc["missing"],
                           doc["unknown"], list(ignored))  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source}: data.encoding is not readable ({exc})") from None
        return encoding

    @classmethod
    def plain(cls, names: list[str], target: str | None, task: str, n_classes: int) -> Encoding:
        """The encoding of numeric columns used as they are (arrays and generated data)."""
        classes = [str(c) for c in range(n_classes)] if task == "classification" else None
        return cls([Feature(name, "numeric") for name in names], target, task, classes)

    def encode(
        self,
        table: Table,
        rows: NDArray[np.intp] | None,
        dtype: np.dtype,
        ignore_unknown: bool = False,
    ) -> NDArray[Any]:
        """The input matrix of ``table``'s ``rows`` (all when None): numeric columns filled,
        categorical ones one-hot. Raises DataError for a missing cell with no fill, or an unseen
        category unless ``unknown`` is "ignore" (or ``ignore_unknown``: the held-out splits of
        the training file, where chance decides which categories the training split sees)."""
        n = table.n_rows if rows is None else len(rows)
        numeric = {name: k for k, name in enumerate(table.numeric)}  # name → column
        if self.as_read(table, dtype):
            # a fancy index already copies: only the whole matrix needs an explicit copy
            picked = table.values.copy() if rows is None else table.values[rows]
            X = picked.astype(dtype, copy=False)
            for j, feature in enumerate(self.features):
                self._fill(X[:, j], feature, table, rows)
            return X
        X = np.zeros((n, self.width), dtype=dtype)
        j = 0
        for feature in self.features:
            if feature.kind == "numeric":
                source = table.values[:, numeric[feature.name]]
                X[:, j] = source if rows is None else source[rows]
                self._fill(X[:, j], feature, table, rows)
                j += 1
                continue
            block = X[:, j : j + len(feature.categories)]
            self._one_hot(block, feature, table, rows, ignore_unknown or self.unknown == "ignore")
            j += len(feature.categories)
        return X

    def as_read(self, table: Table, dtype: np.dtype) -> bool:
        """True when the inputs are the table's numeric columns as they are (no one-hot)."""
        names = [f.name for f in self.features]
        return names == table.numeric and table.values.dtype == dtype

    def encode_in_place(self, table: Table, rows: NDArray[np.intp]) -> NDArray[Any]:
        """`encode` of ``rows`` (ascending) when `as_read`, made in the table's own matrix: the
        rows move up in place and the matrix shrinks to them, so no second copy of the data is
        made. The table's matrix is used up."""
        X = table.values
        step = max(1, (8 << 20) // max(1, X.shape[1] * X.itemsize))  # rows per 8 MiB chunk
        for start in range(0, len(rows), step):
            # rows[j] ≥ j: each chunk reads rows at or after those it writes, and rows later
            # chunks read lie past everything written so far.
            index = rows[start : start + step]
            X[start : start + len(index)] = X[index]
        table.values = np.empty((0, X.shape[1]), dtype=X.dtype)
        X.resize((len(rows), X.shape[1]), refcheck=False)  # no other view of it is left
        for j, feature in enumerate(self.features):
            self._fill(X[:, j], feature, table, None)
        return X

    @staticmethod
    def _fill(
        column: NDArray[Any], feature: Feature, table: Table, rows: NDArray[np.intp] | None
    ) -> None:
        if not table.missing.get(feature.name, 1):
            return  # the file has no missing cell in this column
        gaps = np.isnan(column)
        if not gaps.any():
            return
        if feature.fill is None:
            first = int(np.flatnonzero(gaps)[0])
            row = first if rows is None else int(rows[first])
            raise DataError(
                f"{table.source}: {int(gaps.sum())} rows miss a value of {feature.name!r} "
                f"(the first: row {row + table.first_row}); this model fills no missing values "
                "(data.missing was not mean, median or most_frequent): fill or drop those rows"
            )
        column[gaps] = feature.fill

    @staticmethod
    def _one_hot(
        block: NDArray[Any],
        feature: Feature,
        table: Table,
        rows: NDArray[np.intp] | None,
        ignore: bool,
    ) -> None:
        column: Categorical = table.categorical[feature.name]
        codes = column.codes if rows is None else column.codes[rows]
        names = [*column.categories, MISSING]  # code −1 picks the last
        position = {category: k for k, category in enumerate(feature.categories)}
        lookup = np.array([position.get(c, -1) for c in names], dtype=np.int64)
        index = lookup[codes]
        unseen = index < 0
        if unseen.any() and not ignore:
            first = int(np.flatnonzero(unseen)[0])
            row = first if rows is None else int(rows[first])
            value = names[codes[first]]
            raise DataError(
                f"{table.source}: row {row + table.first_row}, column {feature.name!r}: "
                f"{_quoted(value)} is a category the model never saw; fix the value, or "
                "retrain with data.unknown: ignore (it is read at training time) to give unseen "
                f"categories all-zero columns; the model knows {_listed(feature.categories)}"
            )
        seen = np.flatnonzero(~unseen)
        block[seen, index[seen]] = 1


#: How many categories a message lists, and how many characters of each it shows.
SHOWN_ITEMS, SHOWN_CHARACTERS = 4, 30


def _quoted(text: str) -> str:
    """``text`` quoted, cut to SHOWN_CHARACTERS (a cell may be a whole page)."""
    if len(text) <= SHOWN_CHARACTERS:
        return repr(text)
    return f"{text[:SHOWN_CHARACTERS] + '…'!r} ({len(text):,} characters)"


def _listed(categories: list[str]) -> str:
    """The first SHOWN_ITEMS ``categories``, then how many more there are."""
    shown = ", ".join(_quoted(category) for category in categories[:SHOWN_ITEMS])
    rest = len(categories) - SHOWN_ITEMS
    return f"{shown} and {rest:,} more categories" if rest > 0 else shown
