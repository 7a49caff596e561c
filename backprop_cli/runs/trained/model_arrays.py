"""New data for a trained model, from memory: the arrays, pandas DataFrames and pyarrow Tables
the Python API is given, checked as `bprop predict` and `bprop evaluate` check a file's. A
table's columns are matched to the model's features by name (in any order, encoded as in
training) when the model knows their names; anything else is one `DataError` naming what is
wrong, never NumPy's conversion or broadcasting error."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...data.memory import as_arrow, converted, real_array
from ...data.table.read import Request, numbers_of, plan_arrow
from ...errors import DataError
from .model import Model
from .model_files import model_request, targets_of

F64 = np.dtype(np.float64)


def given_features(model: Model, X: Any, name: str = "X") -> NDArray[np.float64]:
    """The model's raw input columns from ``X`` (`Model.checked`): a pandas DataFrame or a
    pyarrow Table (or RecordBatch) by column name when the model knows its columns' names (else
    in order), or a 2-D array of real numbers, its columns the model's inputs in order."""
    table = as_arrow(X, name)
    if table is None:
        wanted = "a 2-D array of numbers (rows × features), a pandas DataFrame or a pyarrow Table"
        return model.checked(real_array(X, name, wanted), name)
    if table.num_rows == 0:
        raise DataError(f"{name}: no rows to use")
    encoding = model.table_encoding()
    request = Request(all_numeric=True) if encoding is None else model_request(encoding, False)
    plan = plan_arrow(table, name, request, F64)
    columns = plan.read(F64, converted(table, plan.types, name))
    values = numbers_of(columns) if encoding is None else encoding.encode(columns, None, F64)
    return model.checked(values, name)


def given_targets(model: Model, y: Any, n: int, name: str = "y") -> NDArray[Any]:
    """The targets of ``n`` rows as the model's loss reads them: class indices or names for a
    classifier (one per row), real numbers for a regression (one, or a row of the model's
    outputs, per row)."""
    y = real_array(y, name, "an array of one target per row of X", names=model.classification)
    if y.ndim not in (1, 2) or len(y) != n:
        raise DataError(
            f"{name} must hold one target per row of X ({n} rows); received shape {y.shape}"
        )
    if not model.classification:
        if not np.all(np.isfinite(y)):
            bad = int(np.argwhere(~np.isfinite(y))[0][0])
            raise DataError(f"{name}: row {bad + 1} is not a finite number")
        return y.astype(np.float64)
    if y.ndim != 1:
        raise DataError(
            f"{name} must hold one class (its index or name) per row; received shape {y.shape}"
        )
    if y.dtype.kind in "biuf":
        return targets_of(model, y, name)
    known = model.class_names()
    index = {class_name: k for k, class_name in enumerate(known)}
    texts = [str(value) for value in y]
    for row, text in enumerate(texts):
        if text not in index:
            raise DataError(
                f"{name}: row {row + 1}: {text!r} is not a class of this model; its classes are "
                f"{', '.join(known)}"
            )
    return np.array([index[text] for text in texts], dtype=np.int64)
