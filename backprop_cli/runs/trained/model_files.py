"""New data for a trained model, from files: the rows `bprop predict` reads and the labelled
rows `bprop evaluate --data` scores, read as the model's training read its data (columns by
name where the model knows them, else in order) and its targets as its loss reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ...data.files import load_file, read_npz
from ...data.table.encode import Settings, targets
from ...data.table.encoding import Encoding
from ...data.table.read import (
    Request,
    numbers_of,
    read_numbers,
    read_parts,
    read_table,
    table_format,
)
from ...errors import DataError, argument
from .model import Model

T = TypeVar("T")


def file_data(model: Model, path: Path, header: bool = True) -> tuple[NDArray[Any], NDArray[Any]]:
    """Every row of a data file with its targets: columns matched to the features by name when
    the model knows them (rows without a target left out), else the target named as at training
    time (or the last column). ``header=False``: a table of numbers without a header row, its
    columns the features in training order, then the target (models that know no names)."""
    path = Path(path)
    encoding = model.table_encoding()
    if not header:
        _headerless(model, path)
        _, values = read_numbers(path, header=False)
        if values.shape[1] < 2:
            raise DataError(f"{path}: needs the feature columns, then the target column")
        return values[:, :-1], targets_of(model, values[:, -1], path)
    if encoding is None or table_format(path) is None:
        npz = path.suffix.lower() == ".npz"
        raw = _with_header_hint(lambda: load_file(path, None if npz else model.data_target))
        if npz or raw.y.ndim != 1:
            return raw.X, raw.y
        _data_not_header(path, [*(raw.feature_names or []), raw.target_name or ""])
        return raw.X, targets_of(model, raw.y, path)
    table = read_table(path, model_request(encoding, with_target=True), np.dtype(np.float64))
    if encoding.classes is not None or model.classification:
        known = model.class_names()
        try:
            y, _ = targets(table, "classification", Settings(class_names=known))
        except DataError:
            raise DataError(
                f"{path}: the target column {encoding.target!r} holds classes the model does not "
                f"know; it knows {', '.join(known)}"
            ) from None
        keep = np.flatnonzero(y >= 0)
    else:
        y, _ = targets(table, "regression", Settings())
        keep = np.flatnonzero(~np.isnan(y))
    if len(keep) == 0:
        raise DataError(f"{path}: no row has a target value to evaluate against")
    return encoding.encode(table, keep, np.dtype(np.float64)), y[keep]


def model_request(encoding: Encoding, with_target: bool) -> Request:
    """The columns of a table that ``encoding`` reads, the target optional unless wanted."""
    target_kind = None if encoding.task == "classification" else "numeric"
    return Request(
        target=encoding.target,
        kinds=encoding.kinds,
        ignored=encoding.ignored,
        target_optional=not with_target,
        target_kind=target_kind,
    )


def input_blocks(
    model: Model, path: Path, header: bool = True, rows: int | None = None
) -> Iterator[NDArray[np.float64]]:
    """Features to predict from, in blocks of ``rows`` rows (default: the model's
    `~Model.block_rows`; the last block may be shorter), each read when the one before has been
    used: a table file with its columns matched to the model's features by name (a target
    column ignored) when the model knows their names, else every column of a .csv in order; or
    an .npz with an array X (read whole). ``header=False``: a table of numbers without a header
    row, every column a feature in training order (models that know no names)."""
    path = Path(path)
    rows = rows or model.block_rows
    if path.suffix.lower() == ".npz" and header:
        X = _npz_inputs(path)
        if X.ndim != 2:
            yield X  # the model's width check names its shape
            return
        yield from (X[start : start + rows] for start in range(0, max(len(X), 1), rows))
        return
    yield from _blocks(_input_parts(model, path, header, rows), rows)


def _input_parts(
    model: Model, path: Path, header: bool, rows: int
) -> Iterator[NDArray[np.float64]]:
    """The features of a table file, in parts of at most ``rows`` rows (see `input_blocks`)."""
    f64 = np.dtype(np.float64)
    encoding = model.table_encoding()
    if not header:
        _headerless(model, path)
        for part in read_parts(path, Request(all_numeric=True, header=False), f64, rows):
            yield numbers_of(part)
    elif encoding is None or table_format(path) is None:
        for k, part in enumerate(_hinted(read_parts(path, Request(all_numeric=True), f64, rows))):
            if k == 0:
                _data_not_header(path, list(part.kinds))
            yield numbers_of(part)
    else:
        for part in read_parts(path, model_request(encoding, with_target=False), f64, rows):
            yield encoding.encode(part, None, f64)


def _blocks(parts: Iterator[NDArray[Any]], rows: int) -> Iterator[NDArray[Any]]:
    """The rows of ``parts`` regrouped into blocks of exactly ``rows`` rows, the last one
    shorter: the rows a block holds never depend on where the parts were cut."""
    held: list[NDArray[Any]] = []
    count = 0
    for part in parts:
        held.append(part)
        count += len(part)
        if count < rows:
            continue
        joined = np.concatenate(held) if len(held) > 1 else held[0]
        cut = count - count % rows
        yield from (joined[start : start + rows] for start in range(0, cut, rows))
        held, count = ([joined[cut:]], count - cut) if cut < count else ([], 0)
    if count:
        yield np.concatenate(held) if len(held) > 1 else held[0]


def _headerless(model: Model, path: Path) -> None:
    """A file without a header row can be read for this model: a text table, for a model that
    takes its columns in order (it was trained on data without column names)."""
    if table_format(path) not in ("csv", "tsv"):
        raise DataError(f"{path}: {argument('header')} applies to text tables (.csv, .tsv)")
    if model.table_encoding() is not None:
        raise DataError(
            f"{path}: this model matches columns by the names it was trained with; give the file "
            f"a header row naming them instead of {argument('header')}"
        )


def _with_header_hint(read: Callable[[], T]) -> T:
    """``read()``, its header errors naming the option for a file whose first row is data."""
    try:
        return read()
    except DataError as exc:
        raise _header_hint(exc) from None


def _hinted(parts: Iterator[T]) -> Iterator[T]:
    """``parts``, their header errors naming the option as `_with_header_hint` does."""
    while True:
        try:
            part = next(parts)
        except StopIteration:
            return
        except DataError as exc:
            raise _header_hint(exc) from None
        yield part


def _header_hint(exc: DataError) -> DataError:
    if "header" not in str(exc):
        return exc
    hint = f"if its first row is data, not column names, give {argument('header')}"
    return DataError(f"{exc}; {hint}")


def _data_not_header(path: Path, names: list[str]) -> None:
    """A first row of numbers only is data, not column names: refuse it rather than lose it."""
    if names and all(_is_number(name) for name in names):
        raise DataError(
            f"{path}: its first row ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''}) "
            f"is numbers, not column names; if it is data, give {argument('header')}"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def targets_of(model: Model, y: NDArray[Any], path: Path | str) -> NDArray[Any]:
    """A file's target column (or the targets given in memory, which messages call ``path``) as
    the model's loss reads them: class indices 0 … K−1 for a classifier, numbers for a
    regression."""
    if not model.classification:
        return y.astype(np.float64)
    k = len(model.class_names())
    values = y.astype(np.float64)
    with np.errstate(invalid="ignore"):
        fine = np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < k)
    if not fine.all():
        bad = int(np.flatnonzero(~fine)[0])
        raise DataError(
            f"{path}: data row {bad + 1}: the target {values[bad]:g} is not a class of this model; "
            f"its classes are 0 to {k - 1} ({', '.join(model.class_names())})"
        )
    return values.astype(np.int64)


def _npz_inputs(path: Path) -> NDArray[np.float64]:
    arrays = read_npz(path)
    if "X" not in arrays:
        raise DataError(f"{path}: needs an array X (has: {', '.join(arrays) or 'none'})")
    X = arrays["X"]
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: X must hold real numbers; received dtype {X.dtype}")
    return X.astype(np.float64)
