"""Columns that identify rows (``id``, ``rownames``, a customer number): unique per row, they
say which row it is and nothing a model could learn from, yet as features they would be trained
on. `bprop inspect` and `bprop train` flag them; `bprop init --data` drops them.

A column identifies rows when every row of a table of at least `MIN_ROWS` holds its own value
and, for numbers, the values are whole and either the column is named like an id or they are
consecutive (1, 2, 3, ... in any order): unique measurements (a price in cents, an area) are
not flagged.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .read import Table

#: Fewer rows than this say too little: three distinct values in three rows are no id.
MIN_ROWS = 10
#: Rows looked at first: a column with a repeated or fractional value among them is no id, and
#: most columns are ruled out so without reading the rest.
SAMPLE = 2048
_ID_NAME = re.compile(r"(^|[\W_])(id|ids|index|idx|key|rownames?|row|unnamed.*)$", re.IGNORECASE)


def row_identifiers(table: Table) -> list[str]:
    """The feature columns of ``table`` that identify its rows, in file order."""
    n = table.n_rows
    if n < MIN_ROWS:
        return []
    found = []
    numeric = table.numeric
    for name, kind in table.kinds.items():
        if kind == "categorical":
            column = table.categorical[name]
            unique = len(column.categories) == n and table.missing[name] == 0
        else:
            values = table.values[:, numeric.index(name)]
            unique = _identifies(values, bool(_ID_NAME.search(name)))
        if unique:
            found.append(name)
    return found


def _identifies(values: NDArray[np.floating], named: bool) -> bool:
    """Whole numbers, one per row, named like an id or consecutive."""
    head = values[:SAMPLE]
    with np.errstate(invalid="ignore"):
        if not np.all(head == np.floor(head)) or len(np.unique(head)) != len(head):
            return False
        if not np.all(values == np.floor(values)):  # NaN (a missing cell) included
            return False
    distinct = np.unique(values)
    if len(distinct) != len(values):
        return False
    return named or float(distinct[-1]) - float(distinct[0]) == len(values) - 1
