"""A table's splits for a run: read and prepared (`tabular`), or served by the cache of prepared
tables (`cache`) when the same file was prepared with the same settings before."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...errors import DataError
from ...system import testhooks
from ...system.reading import check_regular
from ..files import SHIPPED_TABLES, shipped_path
from ..memory import converted
from ..splits import Dataset, standardize, validation_of
from ..standardizer import Standardizer
from . import cache
from .arrow import table_ending
from .encode import Settings, prepare_table
from .encoding import Encoding
from .identifiers import row_identifiers
from .inspection import report
from .read import Request, Table, plan_arrow, read_table, table_format

if TYPE_CHECKING:
    import pyarrow as pa

    from ..spec import DataSpec


def table_source(data: DataSpec) -> Path | None:
    """The table file ``data`` reads (a shipped table or a .csv/.tsv/.parquet/.feather path),
    or None for generated data, the numeric shipped sets and .npz files."""
    if data.dataset in SHIPPED_TABLES:
        return shipped_path(data.dataset)
    if data.path is None:
        return None
    path = Path(data.path)
    return path if table_format(path) is not None else None


def table_request(data: DataSpec) -> Request:
    """The columns a table's ``data:`` section asks for."""
    target = data.target
    if target is None and data.dataset in SHIPPED_TABLES:
        target = SHIPPED_TABLES[data.dataset][1]
    return Request(target, data.features, list(data.drop), data.categorical)


def load_table_splits(
    source: Path | pa.Table,
    data: DataSpec,
    task: str,
    rng: np.random.Generator,
    scale: bool,
    dtype: np.dtype,
) -> Dataset:
    """Read a table, fit its encoding on the training split and encode every split; or read
    all that from the cache when this file was prepared so before (see `cache`). A table held
    in memory (a pyarrow Table) is prepared as a file of the same columns would be, never
    cached."""
    started = time.perf_counter()
    if not isinstance(source, Path):
        name = str(data.path)
        plan = plan_arrow(source, name, table_request(data), dtype)
        table = plan.read(dtype, converted(source, plan.types, name))
        splits = _splits_of(table, data, task, rng, scale, dtype, started)
        assert splits.report is not None
        splits.report["cache"] = "off"
        return splits
    path = source
    if not path.exists():
        raise DataError(f"{path}: no such data file; check data.path (relative to the config)")
    check_regular(path, DataError, "data file")  # before its bytes are read for the cache key
    if not cache.enabled():
        splits = _prepare_table_splits(path, data, task, rng, scale, dtype)
        assert splits.report is not None
        splits.report |= {"load_seconds": time.perf_counter() - started, "cache": "off"}
        return splits
    cache.max_bytes()  # a mistyped limit is refused before the parse, not after it
    settings = {
        "format": table_ending(path),
        "data": data.model_dump(mode="json", exclude={"path"}),
        "target": table_request(data).target,
        "task": task,
        "rng": rng.bit_generator.state,
        "scale": scale,
        "dtype": np.dtype(dtype).str,
    }
    seen = cache.identity(path)
    name = cache.key(cache.file_digest(path), settings)
    testhooks.reached("hashed")
    hit = cache.load(name)
    if hit is not None:
        arrays, meta = hit
        cached = _cached_splits(arrays, meta, str(path))
        if cached is not None:
            assert cached.report is not None
            rng.bit_generator.state = meta["rng_after"]  # as if the splits were drawn here
            seconds = time.perf_counter() - started  # the file read now, wherever it lies
            cached.report |= {"source": str(path), "load_seconds": seconds, "cache": "hit"}
            return cached
    splits = _prepare_table_splits(path, data, task, rng, scale, dtype)
    assert splits.report is not None and splits.encoding is not None
    splits.report["load_seconds"] = time.perf_counter() - started
    if cache.identity(path) != seen:  # replaced or written since it was hashed: not the same bytes
        splits.report["cache"] = "off"
        return splits
    meta = {
        "rng_after": rng.bit_generator.state,
        "encoding": splits.encoding.to_json(),
        "report": splits.report,
    }
    arrays = cache.arrays_of(splits)
    stored = cache.store(name, arrays, meta)
    splits.report["cache"] = "stored" if stored else "off"
    return splits


def _cached_splits(
    arrays: dict[str, NDArray[Any] | None], meta: dict[str, Any], source: str
) -> Dataset | None:
    """The data set of a cache entry's arrays and metadata; None if they do not fit
    together."""
    try:
        encoding = Encoding.from_json(meta["encoding"], source)
        report = dict(meta["report"])
        np.random.default_rng().bit_generator.state = meta["rng_after"]  # a valid state
    except (KeyError, TypeError, ValueError):
        return None
    splits = cache.splits_of(arrays)
    X = splits["train"].X if "train" in splits else None
    if X is None or X.ndim != 2 or X.shape[1] != encoding.width:
        return None
    mean, std = arrays["mean"], arrays["std"]
    return Dataset.of(
        splits,
        scaler=Standardizer(mean, std) if mean is not None and std is not None else None,
        feature_names=encoding.columns,
        target_name=encoding.target,
        classes=encoding.classes,
        encoding=encoding,
        report=report,
    )


def _prepare_table_splits(
    path: Path,
    data: DataSpec,
    task: str,
    rng: np.random.Generator,
    scale: bool,
    dtype: np.dtype,
) -> Dataset:
    """Read a table, fit its encoding on the training split and encode every split."""
    started = time.perf_counter()
    table = read_table(path, table_request(data), dtype)
    return _splits_of(table, data, task, rng, scale, dtype, started)


def _splits_of(
    table: Table,
    data: DataSpec,
    task: str,
    rng: np.random.Generator,
    scale: bool,
    dtype: np.dtype,
    started: float,
) -> Dataset:
    """A table's columns, its encoding fitted on the training split, as every split."""
    identifiers = row_identifiers(table)  # before the values are encoded in place
    settings = Settings(data.missing, data.class_names, data.unknown)
    prepared = prepare_table(
        table, task, settings, validation_of(data), data.test_split, rng, dtype, in_place=True
    )
    encoding = prepared.encoding
    splits = Dataset.of(
        prepared.splits,
        feature_names=encoding.columns,
        target_name=table.target,
        classes=encoding.classes,
        encoding=encoding,
    )
    if scale:
        splits = standardize(splits, encoding.numeric_mask())
    seconds = time.perf_counter() - started
    splits.report = report(table, identifiers, prepared, splits, seconds)
    return splits
