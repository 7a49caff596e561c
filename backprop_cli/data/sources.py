"""A run's data from its ``data:`` section: generated, shipped or read from a file (or given in
memory), then split and standardized (`load_data`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..core.split import Split
from ..errors import ConfigError, DataError
from ..system import testhooks
from . import memory as memory_data
from .files import RawData, check_labels, load_file, load_shipped
from .generators import GENERATORS, generate
from .splits import Dataset, make_splits, standardize, validation_of
from .table.split import load_table_splits, table_source

if TYPE_CHECKING:
    from .spec import DataSpec


def load_raw(
    dataset: str | None,
    path: str | None,
    target: str | None,
    options: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[RawData, str]:
    """Read or generate the data; returns it with a name for messages."""
    if dataset in GENERATORS:
        X, y = generate(dataset, rng, options)
        return RawData(X, y), f"dataset {dataset}"
    if options:
        raise DataError(
            f"data.options: only generated data sets take options, not {dataset or path}"
        )
    if dataset is not None:
        return load_shipped(dataset), f"dataset {dataset}"
    assert path is not None
    return load_file(Path(path), target), path


def _check_finite(source: str, arrays: dict[str, NDArray[Any]]) -> None:
    for name, arr in arrays.items():
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            where = f"row {bad[0] + 1}" + (f", column {bad[1] + 1}" if len(bad) > 1 else "")
            raise DataError(
                f"{source}: {name} holds NaN or Inf at {where}; clean or drop those values"
            )


def load_data(
    data: DataSpec,
    task: str,
    rng: np.random.Generator,
    scale: bool,
    dtype: np.dtype,
    memory: Any = None,
) -> Dataset:
    """Everything a run needs from its ``data:`` section, in the run's dtype. ``task``
    ("classification" or "regression", from the loss) decides what a table's target becomes.
    ``memory``: data held in memory (`memory`), read in place of the file."""
    testhooks.reached("load")
    if memory is not None:
        return _memory_splits(data, task, rng, scale, dtype, memory)
    if data.path is not None and Path(data.path).name in memory_data.LABELS.values():
        raise DataError(
            f"{Path(data.path).name}: this run was trained on data held in memory "
            "(bp.train(config, data=...)), which no file keeps; give the data again: "
            "bprop evaluate RUN FILE, or bp.train(config, data=...)"
        )
    table_path = table_source(data)
    if table_path is not None and data.options:
        raise DataError(
            f"data.options: only generated data sets take options, not {data.dataset or data.path}"
        )
    if table_path is not None:
        return load_table_splits(table_path, data, task, rng, scale, dtype)
    raw, source = load_raw(data.dataset, data.path, data.target, dict(data.options), rng)
    return _raw_splits(raw, source, data, rng, scale, dtype)


def _memory_splits(
    data: DataSpec,
    task: str,
    rng: np.random.Generator,
    scale: bool,
    dtype: np.dtype,
    memory: Any,
) -> Dataset:
    """The splits of a table or of ``(X, y)`` arrays held in memory."""
    arrow = memory_data.as_arrow(memory, "data")
    if arrow is not None:
        return load_table_splits(arrow, data, task, rng, scale, dtype)
    columns = ("target", "features", "drop", "categorical", "class_names", "options")
    given = [key for key in columns if getattr(data, key)]
    if given:
        raise ConfigError(
            f"data.{given[0]}: applies to a table (a DataFrame or pyarrow Table), not to (X, y) "
            "arrays; remove it"
        )
    return _raw_splits(memory_data.raw_arrays(memory), "data", data, rng, scale, dtype)


def _raw_splits(
    raw: RawData,
    source: str,
    data: DataSpec,
    rng: np.random.Generator,
    scale: bool,
    dtype: np.dtype,
) -> Dataset:
    """The splits of features and targets as read (an .npz file, a shipped or generated data
    set)."""
    arrays = {"X": raw.X, "y": raw.y}
    for name, split in raw.given.items():
        arrays |= {f"X_{name}": split.X, f"y_{name}": split.y}
    _check_finite(source, arrays)
    rows = sum(len(a) for key, a in arrays.items() if key[0] == "X")
    check_labels(source, {key: a for key, a in arrays.items() if key[0] == "y"}, rows)
    if raw.y.ndim not in (1, 2):
        raise DataError(f"{source}: y must be 1-D labels or 2-D targets; shape {raw.y.shape}")
    if len(raw.X) == 0:
        raise DataError(f"{source}: the data set is empty")
    data_set = make_splits(
        raw.X, raw.y, validation_of(data), data.test_split, rng, raw.given, source
    )
    if scale:
        data_set = standardize(data_set)

    def cast(a: NDArray[Any]) -> NDArray[Any]:
        if np.issubdtype(a.dtype, np.integer):
            return np.ascontiguousarray(a, dtype=np.int64)
        return np.ascontiguousarray(a, dtype=dtype)

    cast_splits = {
        name: Split(cast(split.X), cast(split.y)) for name, split in data_set.splits().items()
    }
    return Dataset.of(
        cast_splits,
        scaler=data_set.scaler,
        feature_names=raw.feature_names,
        target_name=raw.target_name,
        classes=raw.class_names,
    )
