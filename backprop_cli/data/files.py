"""Data from files: the shipped data sets in ``datasets/`` and a user's .csv/.csv.gz/.npz."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.split import Split, are_labels
from ..errors import DataError
from ..system.reading import check_regular, check_zip_size
from .table.read import read_numbers


@dataclass
class RawData:
    """Features and targets as read, plus any splits the file itself provides."""

    X: NDArray[np.float64]
    y: NDArray[Any]
    #: Splits the file gives itself, by name (an .npz's X_val and y_val, X_test and y_test).
    given: dict[str, Split] = field(default_factory=dict)
    class_names: list[str] | None = None
    #: The names of X's columns and of the target, when the file names them (a CSV header).
    feature_names: list[str] | None = None
    target_name: str | None = None


def datasets_dir() -> Path:
    """The shipped data sets: ``backprop_cli/datasets`` of an installed wheel, else the source
    tree's ``datasets/`` (``BPROP_DATASETS`` overrides both)."""
    env = os.environ.get("BPROP_DATASETS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]
    installed = package / "datasets"
    return installed if installed.is_dir() else package.parent / "datasets"


SHIPPED = {"digits": "digits.csv.gz", "iris": "iris.csv", "mnist5k": "mnist_5k.csv.gz"}
#: Shipped tables (a header, text columns, missing cells): their file and target column.
SHIPPED_TABLES = {"penguins": ("penguins.csv", "species")}


def shipped_path(name: str) -> Path:
    """The file of a shipped data set, which must be there."""
    filename = SHIPPED[name] if name in SHIPPED else SHIPPED_TABLES[name][0]
    path = datasets_dir() / filename
    if not path.exists():
        where = (
            "BPROP_DATASETS names a folder without it"
            if os.environ.get("BPROP_DATASETS")
            else "set BPROP_DATASETS to a folder that has it"
        )
        raise DataError(f"{path}: the shipped data set {name!r} is missing; {where}")
    check_regular(path, DataError, "data file")
    return path


def load_shipped(name: str) -> RawData:
    """Load ``digits``, ``iris`` or ``mnist5k`` (no header; features then the label)."""
    path = shipped_path(name)
    skip, class_names = 0, None
    if name == "iris":
        try:
            with path.open(encoding="utf-8") as fh:
                class_names = fh.readline(10_000).strip().split(",")[2:]
        except (UnicodeDecodeError, OSError) as exc:
            raise DataError(f"{path}: the shipped iris file is not readable ({exc})") from None
        skip = 1
    _, table = read_numbers(path, header=False, skip_rows=skip)
    return RawData(table[:, :-1], table[:, -1].astype(np.int64), class_names=class_names)


def load_file(path: Path, target: str | None) -> RawData:
    """A .csv/.csv.gz with a header row, or an .npz with arrays X and y."""
    if not path.exists():
        raise DataError(f"{path}: no such data file; check data.path (relative to the config)")
    check_regular(path, DataError, "data file")  # before the suffix: a pipe may have any name
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() == ".npz":
        if target is not None:
            raise DataError(f"{path}: data.target applies to CSV files, not .npz")
        return _load_npz(path)
    if suffixes.endswith(".csv") or suffixes.endswith(".csv.gz"):
        return _load_csv(path, target)
    raise DataError(
        f"{path}: unsupported data file; use .csv, .csv.gz, .tsv, .parquet, .feather, .arrow "
        "or .npz"
    )


def _load_npz(path: Path) -> RawData:
    arrays = read_npz(path)
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError(f"{path}: missing array {key!r} (has: {', '.join(arrays) or 'none'})")
    for split in ("val", "test"):
        if (f"X_{split}" in arrays) != (f"y_{split}" in arrays):
            raise DataError(f"{path}: X_{split} and y_{split} must come together")
    X, y = arrays["X"], arrays["y"]
    for suffix in ("", "_val", "_test"):
        if f"X{suffix}" in arrays:
            _check_pair(path, suffix, arrays[f"X{suffix}"], arrays[f"y{suffix}"], X, y)
    check_labels(str(path), {k: v for k, v in arrays.items() if k in ("y", "y_val", "y_test")})
    given = {
        split: Split(arrays[f"X_{split}"], _labels(arrays[f"y_{split}"]))
        for split in ("val", "test")
        if f"X_{split}" in arrays
    }
    return RawData(X.astype(np.float64), _labels(y), given)


def _labels(y: NDArray[Any]) -> NDArray[Any]:
    """Boolean targets as the class indices 0 and 1; others as they are."""
    return y.astype(np.int64) if y.dtype == bool else y


def read_npz(path: Path) -> dict[str, NDArray[Any]]:
    """Every array of an .npz file (never unpickling; size bounded before unpacking)."""
    check_regular(path, DataError, "data")
    with path.open("rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise DataError(f"{path}: not a readable .npz archive (not a zip archive)")
    check_zip_size(path, DataError)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise DataError(f"{path}: member {key!r} is not a .npy array")
    return arrays


def _check_pair(
    path: Path, suffix: str, X: NDArray[Any], y: NDArray[Any], X0: NDArray[Any], y0: NDArray[Any]
) -> None:
    """X{suffix} and y{suffix}: real numbers, X 2-D with at least one row and as many columns as
    X, y one value (or row of values, as wide as y's) per row of X."""
    for name, a in ((f"X{suffix}", X), (f"y{suffix}", y)):
        if a.dtype.kind not in "biuf":
            raise DataError(f"{path}: {name} must hold real numbers; received dtype {a.dtype}")
    if X.ndim != 2:
        raise DataError(f"{path}: X{suffix} must be 2-D (samples, features); shape {X.shape}")
    if len(X) == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: X{suffix} is empty (shape {X.shape}); it needs rows and columns")
    if X.shape[1] != X0.shape[1]:
        raise DataError(
            f"{path}: X{suffix} has {X.shape[1]} columns, X has {X0.shape[1]}; they must match"
        )
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise DataError(
            f"{path}: y{suffix} must hold one target per row of X{suffix} ({len(X)} rows); "
            f"received shape {y.shape}"
        )
    if y.ndim != y0.ndim or y.shape[1:] != y0.shape[1:]:
        raise DataError(f"{path}: y{suffix} has shape {y.shape}, unlike y's {y0.shape}")


def check_labels(source: str, labels: dict[str, NDArray[Any]], rows: int | None = None) -> None:
    """Integer targets are class indices 0 … K−1 (class k is output unit k): none negative and,
    given the data's ``rows``, no more classes than rows (a label of 10¹² would make 10¹²
    classes). Other targets are left alone."""
    for name, y in labels.items():
        if not are_labels(y) or y.size == 0:
            continue
        low, high = int(y.min()), int(y.max())
        if low < 0:
            raise DataError(
                f"{source}: {name} holds the label {low:,}; integer labels are class indices "
                "0 … K−1 (class k is output unit k): number the classes from 0, or store "
                f"{name} as floats for a regression (loss mse)"
            )
        if rows is not None and high >= rows:
            raise DataError(
                f"{source}: {name} holds the label {high:,}, which makes {high + 1:,} classes "
                f"(labels are class indices 0 … K−1), more than the data's {rows:,} rows; "
                "number the classes 0 … K−1"
            )


def read_csv_table(path: Path) -> tuple[list[str], NDArray[np.float64]]:
    """The header and the values of a table of numbers with a header row, every cell a finite
    number; errors name the file, and the row (the header being row 1) and column."""
    return read_numbers(path)


def _load_csv(path: Path, target: str | None) -> RawData:
    header, values = read_csv_table(path)
    column = len(header) - 1
    if target is not None:
        if target not in header:
            raise DataError(
                f"{path}: data.target {target!r} is not a column (columns: {', '.join(header)})"
            )
        column = header.index(target)
    y = values[:, column]
    X = np.delete(values, column, axis=1)
    if np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    features = header[:column] + header[column + 1 :]
    return RawData(X, y, feature_names=features, target_name=header[column])
