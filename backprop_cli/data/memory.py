"""Data a program holds in memory (the Python API's ``bp.train(config, data=...)``): a pandas
DataFrame or a pyarrow Table, read as a table file is (columns by name, text and missing cells,
the ``data:`` table keys), or ``(X, y)`` arrays, read as an ``.npz`` file's X and y are. No
temporary file is written."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from .files import RawData

if TYPE_CHECKING:
    import pyarrow as pa

#: What the config's ``data.path`` says of data given in memory (no file is read).
LABELS = {"table": "<table in memory>", "arrays": "<arrays in memory>"}


def source_of(data: Any) -> tuple[str, Any]:
    """The name data in memory goes by in configs and messages, and the data as it is read: a
    pyarrow Table (a DataFrame converted once, here) or ``(X, y)``; a `DataError` for anything
    else."""
    table = as_arrow(data, "data")
    if table is not None:
        return LABELS["table"], table
    if isinstance(data, tuple) and len(data) == 2:
        return LABELS["arrays"], data
    raise DataError(
        "data must be a pandas DataFrame, a pyarrow Table or a tuple (X, y) of arrays; "
        f"received {type(data).__name__}"
    )


def as_arrow(data: Any, name: str) -> pa.Table | None:
    """``data`` as a pyarrow Table when it is one, a RecordBatch or a pandas DataFrame (pandas is
    imported only by whoever made the DataFrame); else None."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(data, pandas.DataFrame):
        return None
    try:
        return pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(
            f"{name}: this DataFrame cannot be read as a table ({first_line(exc)}); give each "
            "column values of one type"
        ) from None


def converted(table: pa.Table, types: dict[str, pa.DataType], name: str) -> list[pa.RecordBatch]:
    """The columns of ``table`` that ``types`` names, converted to those types, as batches."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for column, kind in types.items():
        try:
            arrays.append(pc.cast(table.column(column), kind, safe=False))
        except pa.ArrowException as exc:
            raise DataError(
                f"{name}: column {column!r} holds values that are not numbers "
                f"({first_line(exc)}); they are read as numbers"
            ) from None
    return pa.Table.from_arrays(arrays, names=list(types)).to_batches()


def raw_arrays(data: Any) -> RawData:
    """``(X, y)`` as an .npz file's X and y: X a 2-D array of real numbers, y one target (a
    class index, or real numbers for a regression) per row."""
    X, y = data
    X = real_array(X, "data: X", "a 2-D array of real numbers (for text columns, a DataFrame)")
    y = real_array(y, "data: y", "class indices 0 … K−1, or real numbers for a regression")
    y = y.astype(np.int64) if y.dtype.kind in "biu" else y
    if X.ndim != 2:
        raise DataError(f"data: X must be 2-D (rows × features); received shape {X.shape}")
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise DataError(
            f"data: y must hold one target per row of X ({len(X)} rows); received shape {y.shape}"
        )
    return RawData(X.astype(np.float64), y)


def real_array(values: Any, name: str, wanted: str, names: bool = False) -> NDArray[Any]:
    """``values`` as an array of real numbers (or, with ``names``, of texts); ``wanted`` says
    what the caller gives as ``name``."""
    if values is None or isinstance(values, Mapping | str | bytes):
        raise DataError(f"{name} must be {wanted}; received {type(values).__name__}")
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        raise DataError(f"{name}: its rows are not all of the same length; give {wanted}") from None
    kinds = "biufUSO" if names else "biuf"
    if array.dtype.kind not in kinds:
        what = "real numbers or class names" if names else "real numbers"
        raise DataError(f"{name} must hold {what}; received dtype {array.dtype}; give {wanted}")
    return array


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
