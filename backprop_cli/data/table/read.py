"""A data file's columns as a run uses them: which columns (the target, the features and their
kinds), read with Apache Arrow (`arrowio`: CSV and TSV, plain or .gz, Parquet, Feather / Arrow
IPC).

Numeric feature columns stream, one record batch at a time, into a single matrix of the training
dtype (a missing cell is NaN): no per-cell Python object and no float64 copy of the table is
made. Text, boolean and date columns are categorical: each becomes integer codes into its sorted
categories (−1 for a missing cell). The target is kept as numbers or as categories.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...errors import DataError
from ...system.reading import check_regular
from ...system.resources import check_fits
from .arrow import (
    BLOCK_BYTES,
    FORMATS,
    Layout,
    batches,
    conversion_error,
    read_error,
    schema_of,
    table_format,
)
from .target_choice import no_target

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class Categorical:
    """A column of categories: ``codes`` index ``categories`` (sorted), −1 marks a missing cell."""

    codes: NDArray[np.int32]
    categories: list[str]


@dataclass
class Table:
    """The columns of a data file that a run uses, in file order."""

    source: Path
    #: Feature columns in file order, and the kind of each ("numeric" or "categorical").
    kinds: dict[str, str]
    #: The numeric features, one column each in ``kinds`` order; NaN marks a missing cell.
    values: NDArray[Any]
    categorical: dict[str, Categorical]
    target: str | None
    #: The target column: numbers (NaN missing) or categories; None when the file has none.
    y: NDArray[np.float64] | Categorical | None
    #: The number the file gives its first data row in messages (2 below a header row).
    first_row: int
    #: Missing cells per feature column, and which rows miss any feature (one entry per row).
    missing: dict[str, int] = field(default_factory=dict)
    missing_rows: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    columns_in_file: int = 0
    #: The file's other columns (dropped, or not among the features).
    unused: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.missing_rows)  # the matrix may have been used up by then

    @property
    def numeric(self) -> list[str]:
        return [name for name, kind in self.kinds.items() if kind == "numeric"]

    def first_missing(self, among: NDArray[np.bool_] | None = None) -> tuple[int, str] | None:
        """The (file row, column) of the first missing feature cell (in the rows ``among``
        marks, default all)."""
        rows = np.flatnonzero(self.missing_rows if among is None else self.missing_rows & among)
        if len(rows) == 0:
            return None
        r = int(rows[0])
        numeric = self.numeric
        for name in self.kinds:
            if name in self.categorical:
                if self.categorical[name].codes[r] < 0:
                    return r + self.first_row, name
            elif math.isnan(float(self.values[r, numeric.index(name)])):
                return r + self.first_row, name
        raise AssertionError("a missing row with no missing cell")


@dataclass
class Request:
    """Which columns to read, and as what.

    For training, ``target`` must be named; ``features`` None means every other column
    but ``drop``, and ``categorical`` None every text, boolean or date column. For a trained
    model, ``kinds`` fixes the features and their kinds, and ``target_optional`` lets the file
    carry the target column or not.
    """

    target: str | None = None
    features: list[str] | None = None
    drop: list[str] = field(default_factory=list)
    categorical: list[str] | None = None
    kinds: dict[str, str] | None = None
    #: Columns a file given to a trained model may carry besides the features and the target.
    ignored: list[str] = field(default_factory=list)
    target_optional: bool = False
    #: The kind of the target when it is known beforehand (a trained model's).
    target_kind: str | None = None
    #: Every column a numeric feature, in file order (no target): a matrix of numbers.
    all_numeric: bool = False
    #: False for a CSV without a header row (columns named f0, f1, ...); ``skip_rows`` lines
    #: before the data are skipped.
    header: bool = True
    skip_rows: int = 0


@dataclass
class Plan:
    """What a read takes from a table: the target, the features with their kinds, and the Arrow
    type each column read is converted to."""

    source: Path
    fmt: str
    layout: Layout
    names: list[str]
    target: str | None
    kinds: dict[str, str]
    types: dict[str, pa.DataType]

    @property
    def first_row(self) -> int:
        """The number messages give the first data row (2 below a CSV's header row)."""
        return 1 if self.fmt in ("parquet", "ipc") else 1 + self.layout[1] + self.layout[0]

    def read(
        self, dtype: np.dtype, parts: list[pa.RecordBatch] | None = None, before: int = 0
    ) -> Table:
        """The table of the whole source, or of the record batches ``parts`` (converted to
        `types`) that follow ``before`` rows of it."""
        columns = (self.types, self.kinds, self.target)
        table = _stream(self.source, self.fmt, *columns, dtype, self.layout, parts, before)
        table.columns_in_file = len(self.names)
        table.unused = [n for n in self.names if n not in self.kinds and n != self.target]
        return table


def read_table(path: Path, request: Request, dtype: np.dtype) -> Table:
    """The columns ``request`` asks for, read from ``path`` (see `Request`)."""
    return plan_table(path, request, dtype).read(dtype)


def read_parts(path: Path, request: Request, dtype: np.dtype, rows: int) -> Iterator[Table]:
    """`read_table` in parts of at most ``rows`` rows, each read when the one before has been
    used: memory bounded by a part, whatever the file's size. A part numbers its rows in
    messages as the file does."""
    plan = plan_table(path, request, dtype)
    numeric = [name for name, kind in plan.kinds.items() if kind == "numeric"]
    done = 0
    with _reading(path, plan.fmt, numeric, plan.layout, plan.first_row):
        for batch in batches(path, plan.fmt, plan.types, plan.layout):
            for start in range(0, batch.num_rows, rows):
                piece = batch.slice(start, rows)
                yield plan.read(dtype, [piece], done)
                done += piece.num_rows
    if done == 0:
        raise _no_rows(path)


def plan_table(path: Path, request: Request, dtype: np.dtype) -> Plan:
    """What `read_table` reads of ``path``: its columns checked against ``request``."""
    check_regular(path, DataError, "data file")  # before the name: a pipe may have any name
    fmt = table_format(path)
    if fmt is None:
        raise DataError(f"{path}: not a table file; use one of {', '.join(FORMATS)}")
    layout: Layout = (request.header, request.skip_rows, None)
    schema = schema_of(path, fmt, layout)
    try:
        names = list(schema.names)
    except UnicodeDecodeError as exc:
        raise read_error(path, fmt, exc) from None
    if fmt in ("csv", "tsv") and any(n != n.strip() for n in names):
        # "a, b, y": the names without the spaces around them, given to Arrow in their place
        names = [n.strip() for n in names]
        layout = (request.header, request.skip_rows, tuple(names))
        schema = schema_of(path, fmt, layout)
    return _plan_columns(path, fmt, layout, schema, request, dtype)


def plan_arrow(data: pa.Table, source: str, request: Request, dtype: np.dtype) -> Plan:
    """What `read_table` would read of a file holding ``data`` (a table in memory, which
    messages call ``source``)."""
    return _plan_columns(Path(source), "ipc", (True, 0, None), data.schema, request, dtype)


def _plan_columns(
    path: Path, fmt: str, layout: Layout, schema: pa.Schema, request: Request, dtype: np.dtype
) -> Plan:
    names = list(schema.names)
    if not names:
        raise DataError(f"{path}: has no columns; it needs feature columns and a target column")
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataError(f"{path}: the header names {', '.join(map(repr, repeated))} more than once")
    inferred = {name: _kind(schema.field(name).type) for name in names}
    target, kinds = _choose(path, names, inferred, request)
    target_kind = None
    if target is not None:
        target_kind = request.target_kind or inferred[target]
    types = _arrow_types(kinds, target, target_kind, dtype)
    return Plan(path, fmt, layout, names, target, kinds, types)


def _kind(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    numeric = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    if numeric or pa.types.is_null(arrow_type) or pa.types.is_decimal(arrow_type):
        return "numeric"
    return "categorical"


def _choose(
    path: Path, names: list[str], inferred: dict[str, str], request: Request
) -> tuple[str | None, dict[str, str]]:
    """The target column and the feature columns with their kinds."""
    listing = ", ".join(names)
    if request.all_numeric:
        return None, dict.fromkeys(names, "numeric")

    def check(key: str, wanted: list[str]) -> None:
        unknown = [name for name in wanted if name not in names]
        if unknown:
            verb = "is not a column" if len(unknown) == 1 else "are not columns"
            raise DataError(
                f"{path}: {key} {', '.join(map(repr, unknown))} {verb} (columns: {listing})"
            )

    if request.kinds is not None:  # a trained model's features, in any order
        features = list(request.kinds)
        missing = [name for name in features if name not in names]
        takes = ", ".join(features) + (
            f" (and the target {request.target!r})" if request.target else ""
        )
        if missing:
            raise DataError(
                f"{path}: no column {', '.join(map(repr, missing))}; the model takes the columns "
                f"{takes}, in any order"
            )
        known = {*request.kinds, request.target, *request.ignored}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise DataError(
                f"{path}: unknown column {', '.join(map(repr, unknown))}; the model takes the "
                f"columns {takes}"
            )
        target = request.target if request.target in names else None
        if target is None and not request.target_optional:
            raise DataError(
                f"{path}: no target column {request.target!r} to evaluate against; add it to the "
                "file"
            )
        return target, dict(request.kinds)

    if request.target is None:
        raise DataError(no_target(path, names))
    check("data.target", [request.target])
    target = request.target
    check("data.drop", request.drop)
    if target in request.drop:
        raise DataError(f"{path}: data.drop lists the target {target!r}; leave it out of drop")
    if request.features is not None:
        check("data.features", request.features)
        if target in request.features:
            raise DataError(
                f"{path}: data.features lists the target {target!r}; the target is not a feature"
            )
        features = [n for n in names if n in request.features and n not in request.drop]
    else:
        features = [n for n in names if n != target and n not in request.drop]
    if not features:
        raise DataError(f"{path}: no feature columns are left besides the target {target!r}")
    kinds = {name: inferred[name] for name in features}
    if request.categorical is not None:
        check("data.categorical", request.categorical)
        outside = [n for n in request.categorical if n not in features]
        if outside:
            raise DataError(
                f"{path}: data.categorical names {', '.join(map(repr, outside))}, which is not a "
                "feature (the target, or a dropped column)"
            )
        for name in features:
            if name in request.categorical:
                kinds[name] = "categorical"
            elif kinds[name] != "numeric":
                raise DataError(
                    f"{path}: column {name!r} holds text, but data.categorical does not list it; "
                    "add it to data.categorical or data.drop"
                )
    return target, kinds


def _arrow_types(
    kinds: dict[str, str], target: str | None, target_kind: str | None, dtype: np.dtype
) -> dict[str, pa.DataType]:
    import pyarrow as pa

    number = pa.float32() if dtype == np.float32 else pa.float64()
    types = {name: (number if kind == "numeric" else pa.string()) for name, kind in kinds.items()}
    if target is not None:
        types[target] = pa.float64() if target_kind == "numeric" else pa.string()
    return types


def _stream(
    path: Path,
    fmt: str,
    types: dict[str, pa.DataType],
    kinds: dict[str, str],
    target: str | None,
    dtype: np.dtype,
    layout: Layout,
    parts: list[pa.RecordBatch] | None = None,
    before: int = 0,
) -> Table:
    """The table of the file's record batches (or of ``parts``, which follow ``before`` rows)."""
    import pyarrow as pa

    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    texts: dict[str, list[Any]] = {name: [] for name in types if types[name] == pa.string()}
    target_parts: list[NDArray[np.float64]] = []
    missing_counts = np.zeros(len(numeric), dtype=np.int64)
    missing_parts: list[NDArray[np.bool_]] = []
    size = 0 if parts is None else sum(part.num_rows for part in parts)
    matrix = np.empty((size, len(numeric)), dtype=dtype)
    rows = 0
    first_row = before + (1 if fmt in ("parquet", "ipc") else 1 + layout[1] + layout[0])
    numbers = [name for name, kind in types.items() if kind != pa.string()]  # the target too
    with _reading(path, fmt, numbers, layout, first_row - before, target):
        for batch in batches(path, fmt, types, layout) if parts is None else parts:
            n = batch.num_rows
            if rows + n > len(matrix):
                matrix = _grow(path, matrix, rows + n, rows, fmt)
            block = matrix[rows : rows + n]
            if numeric:  # one copy in Arrow's C++, row-major, a missing cell NaN
                columns = batch.select(numeric).to_tensor(null_to_nan=True, row_major=True)
                block[...] = np.asarray(columns)
                del columns
            gaps = np.isnan(block)
            if np.isinf(block).any():
                r, j = np.argwhere(np.isinf(block))[0]
                raise DataError(
                    f"{path}: row {rows + r + first_row}, column {numeric[j]!r}: "
                    f"{block[r, j]} is not a finite number; fix or drop that row"
                )
            missing_counts += gaps.sum(axis=0)
            missing_parts.append(np.asarray(gaps.any(axis=1), dtype=bool))
            for name, parts in texts.items():
                parts.append(batch.column(name))
            if target is not None and target not in texts:
                target_parts.append(batch.column(target).to_numpy(zero_copy_only=False))
            rows += n
    if rows == 0:
        raise _no_rows(path)
    del block
    matrix.resize((rows, len(numeric)), refcheck=False)  # give back what the estimate overshot
    categorical = {name: _categories(texts[name]) for name in kinds if name in texts}
    missing = {name: int(c) for name, c in zip(numeric, missing_counts, strict=True)}
    missing_rows = np.concatenate(missing_parts)
    for name, column in categorical.items():
        gaps = column.codes < 0
        missing[name] = int(gaps.sum())
        missing_rows |= gaps
    y: NDArray[np.float64] | Categorical | None = None
    if target is not None:
        y = _categories(texts[target]) if target in texts else np.concatenate(target_parts)
        if isinstance(y, np.ndarray) and np.isinf(y).any():
            r = int(np.flatnonzero(np.isinf(y))[0])
            raise DataError(
                f"{path}: row {r + first_row}, column {target!r}: {y[r]} is not a finite number"
            )
    return Table(path, dict(kinds), matrix, categorical, target, y, first_row,
                 {name: missing[name] for name in kinds}, missing_rows)  # fmt: skip


@contextlib.contextmanager
def _reading(
    path: Path,
    fmt: str,
    numeric: list[str],
    layout: Layout,
    first_row: int,
    target: str | None = None,
) -> Iterator[None]:
    """Arrow's errors while reading ``path``, as errors that name the file, row and column
    (``numeric``: the columns read as numbers, the ``target`` among them when it is)."""
    import pyarrow as pa

    try:
        yield
    except pa.ArrowInvalid as exc:
        raise conversion_error(path, fmt, exc, numeric, layout, first_row, target) from None
    except (pa.ArrowException, OSError, EOFError, zlib.error) as exc:
        raise read_error(path, fmt, exc) from None


def _no_rows(path: Path) -> DataError:
    return DataError(f"{path}: needs a header row and at least one data row")


def _grow(path: Path, matrix: NDArray[Any], needed: int, rows: int, fmt: str) -> NDArray[Any]:
    """``matrix`` with room for at least ``needed`` rows: at first an estimate of the whole file
    from the first batch's share of its bytes, later half again as many. ``ndarray.resize``
    reallocates in place where it can, so growing does not hold two copies."""
    if rows == 0 and fmt in ("csv", "tsv") and not path.name.lower().endswith(".gz"):
        size = path.stat().st_size
        estimate = int(needed * max(1.0, size / BLOCK_BYTES) * 1.02) + 1
    else:
        estimate = int(len(matrix) * 1.5)
    capacity = max(needed, estimate)
    width = matrix.shape[1]
    check_fits("data.path", f"{path} ({capacity:,} rows × {width:,} columns)",
               capacity * max(width, 1) * matrix.itemsize, DataError)  # fmt: skip
    if rows == 0:
        return np.empty((capacity, width), dtype=matrix.dtype)
    matrix.resize((capacity, width), refcheck=False)
    return matrix


def _categories(parts: list[Any]) -> Categorical:
    """Codes into the sorted distinct values of a text column (−1 where a cell is missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pa.chunked_array(parts, type=pa.string())
    categories = sorted(v for v in pc.unique(column).to_pylist() if v is not None)
    codes = pc.index_in(column, value_set=pa.array(categories, type=pa.string()))
    filled = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False) if len(column) else []
    return Categorical(np.asarray(filled, dtype=np.int32), categories)


def read_numbers(path: Path, header: bool = True, skip_rows: int = 0) -> tuple[list[str], Any]:
    """The column names and the float64 matrix of a table of numbers only; a missing cell or
    text is an error naming the file, the row and the column."""
    table = read_table(
        path, Request(all_numeric=True, header=header, skip_rows=skip_rows), np.dtype(np.float64)
    )
    return list(table.kinds), numbers_of(table)


def numbers_of(table: Table) -> Any:
    """The matrix of a table read with ``Request(all_numeric=True)``; a missing cell or text is
    an error naming the file, the row and the column."""
    found = table.first_missing()
    if found is not None:
        row, name = found
        raise DataError(
            f"{table.source}: row {row}, column {name!r} is empty or not a number (NA, NaN); "
            "every cell needs a finite number"
        )
    return table.values
