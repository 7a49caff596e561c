"""Arrow's readers for the table formats: their options, the schema Arrow infers, record
batches converted to the types asked for, and errors that name the file, the row and the column.

CSV and TSV files (plain or gzip, unpacked as they stream and refused past `unpacked_limit`) are
parsed by Arrow's multi-threaded CSV reader; Parquet files by row groups; Feather and Arrow IPC
files are memory-mapped.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DataError
from ...system import reading
from ...system.resources import size_text

if TYPE_CHECKING:
    import pyarrow as pa

#: File endings bprop reads as tables, and their format.
FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".feather": "ipc",
    ".arrow": "ipc",
}
#: CSV bytes parsed per record batch. Arrow parses blocks on several threads and keeps a few
#: dozen in flight: 1 MiB blocks keep that near 40 MiB and every core busy.
BLOCK_BYTES = 1 << 20
#: Rows per record batch of Parquet files.
PARQUET_ROWS = 65_536


def table_ending(path: Path) -> str | None:
    """The ending of `FORMATS` that ``path``'s name has (in lower case); None for another file."""
    name = path.name.lower()
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return ending
    return None


def table_format(path: Path) -> str | None:
    """ "csv", "tsv", "parquet" or "ipc" from the file's ending; None for another file."""
    ending = table_ending(path)
    return None if ending is None else FORMATS[ending]


class Bounded(io.RawIOBase):
    """The unpacked bytes of a .gz file, refused past `unpacked_limit` as they unpack (a gzip
    bomb stops early; the text itself is never held whole)."""

    def __init__(self, path: Path) -> None:
        self.path, self.total, self.limit = path, 0, reading.unpacked_limit()
        self._fh = gzip.open(path, "rb")  # noqa: SIM115 (closed by close())

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._fh.readinto(buffer)
        self.total += n
        if self.total > self.limit:
            raise DataError(
                f"{self.path}: unpacks to more than {size_text(self.limit)} (the limit on this "
                "machine: an eighth of its memory); unpack it yourself if it is meant"
            )
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def csv_source(path: Path) -> Any:
    return Bounded(path) if path.name.lower().endswith(".gz") else path


#: (a header row, lines skipped before it, the column names to use instead of the header's).
Layout = tuple[bool, int, tuple[str, ...] | None]


def csv_options(
    fmt: str, layout: Layout, types: dict[str, pa.DataType] | None = None
) -> dict[str, Any]:
    import pyarrow.csv as pacsv

    header, skip, names = layout

    convert = pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=True)
    if types is not None:
        convert = pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
    return {
        "read_options": pacsv.ReadOptions(
            block_size=BLOCK_BYTES,
            skip_rows=skip + (1 if header and names else 0),  # the header, named anew
            autogenerate_column_names=not header and not names,
            column_names=list(names) if names else None,
        ),
        "parse_options": pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","),
        "convert_options": convert,
    }


def schema_of(path: Path, fmt: str, layout: Layout) -> pa.Schema:
    """Column names and the types Arrow infers (for CSV: from the first block)."""
    import pyarrow as pa

    try:
        if fmt in ("csv", "tsv"):
            import pyarrow.csv as pacsv

            reader = pacsv.open_csv(csv_source(path), **csv_options(fmt, layout))
            schema = reader.schema
            reader.close()
            return schema
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).schema_arrow
        return ipc_reader(path).schema
    except (pa.ArrowException, OSError, EOFError, ValueError, zlib.error) as exc:
        # UnicodeDecodeError is a ValueError: a header that is not UTF-8 text.
        raise read_error(path, fmt, exc) from None


def ipc_reader(path: Path) -> Any:
    import pyarrow as pa

    source = pa.memory_map(str(path))
    try:
        return pa.ipc.open_file(source)
    except pa.ArrowInvalid:
        return pa.ipc.open_stream(pa.memory_map(str(path)))


def read_error(path: Path, fmt: str, exc: BaseException) -> DataError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    ragged = re.search(r"Expected (\d+) columns, got (\d+)", text)
    if fmt in ("csv", "tsv") and ragged:
        row = _ragged_row(path, fmt)
        where = f"row {row} has" if row else "a row has"
        return DataError(
            f"{path}: {where} {ragged[2]} cells, the header has {ragged[1]}; every row needs one "
            "value per column"
        )
    if fmt in ("csv", "tsv") and "straddl" in text:  # a row longer than a block
        row = _long_row(path, fmt)
        return DataError(
            f"{path}: {f'row {row}' if row else 'a row'} is longer than "
            f"{size_text(BLOCK_BYTES)}, more than bprop reads as one row: a cell that long, or "
            'a quote (") opened and never closed; fix the file'
        )
    if "Empty CSV file" in text:
        return DataError(f"{path}: needs a header row and at least one data row")
    if "invalid UTF8" in text:
        return DataError(f"{path}: is not UTF-8 text ({text}); save it as UTF-8 and try again")
    kind = {"csv": "CSV", "tsv": "TSV", "parquet": "Parquet", "ipc": "Feather/Arrow"}[fmt]
    return DataError(f"{path}: cannot read it as a {kind} file ({text})")


def _text_lines(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _ragged_row(path: Path, fmt: str) -> int | None:
    """The number of the first row whose cell count differs from the header's (a slow scan, on
    the error path only)."""
    try:
        with _text_lines(path) as fh:
            reader = csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")
            width = len(next(reader))
            for row in reader:
                if row and len(row) != width:
                    return reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error, StopIteration, EOFError):
        return None
    return None


def _long_row(path: Path, fmt: str) -> int | None:
    """The number of the first row (the header being row 1) with a cell longer than Python's
    csv field limit (128 KiB), or None (a slow scan, on the error path only)."""
    read = 0  # rows read whole
    try:
        with _text_lines(path) as fh:
            for _ in csv.reader(fh, delimiter="\t" if fmt == "tsv" else ","):
                read += 1
    except csv.Error:
        return read + 1
    except (OSError, UnicodeDecodeError, EOFError):
        return None
    return None


def batches(path: Path, fmt: str, types: dict[str, pa.DataType], layout: Layout) -> Any:
    """Record batches of the columns in ``types``, converted to those types."""
    import pyarrow as pa

    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pacsv

        yield from pacsv.open_csv(csv_source(path), **csv_options(fmt, layout, types))
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path).iter_batches(batch_size=PARQUET_ROWS, columns=list(types))
    else:
        reader = ipc_reader(path)
        source = (
            reader.get_batch(i) for i in range(reader.num_record_batches)
        ) if hasattr(reader, "num_record_batches") else iter(reader)  # fmt: skip
    rows = 0
    for batch in source:
        arrays = [
            _converted(path, batch.column(name), name, kind, rows) for name, kind in types.items()
        ]
        rows += batch.num_rows
        yield pa.RecordBatch.from_arrays(arrays, names=list(types))


def _converted(path: Path, column: pa.Array, name: str, kind: pa.DataType, rows: int) -> pa.Array:
    """``column`` (of a Parquet or Feather batch after ``rows`` rows) as ``kind``; text must be
    UTF-8 (a binary column's bytes, or a string column's written by another tool)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    converted = pc.cast(column, kind, safe=False)
    if not pa.types.is_string(kind):
        return converted
    try:
        converted.validate(full=True)
    except pa.ArrowInvalid:
        raw = pc.cast(column, pa.binary(), safe=False).to_pylist()
        r, value = next((r, v) for r, v in enumerate(raw) if v is not None and not _utf8(v))
        raise DataError(
            f"{path}: row {rows + r + 1}, column {name!r}: {value[:40]!r} is not UTF-8 text; "
            "write the column as UTF-8 strings (or leave a feature out: data.drop)"
        ) from None
    return converted


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def conversion_error(
    path: Path,
    fmt: str,
    exc: BaseException,
    numeric: list[str],
    layout: Layout,
    first_row: int,
    target: str | None = None,
) -> DataError:
    """A cell that is not a number in a numeric column (a feature's, or the ``target`` read as
    numbers): find its row and column to name them."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not re.search(r"conversion error to (float|double)", text):
        return read_error(path, fmt, exc)
    found = _first_text_cell(path, fmt, numeric, layout, first_row)
    if found is None:
        return DataError(f"{path}: {text}")
    row, name, value = found
    if name == target:
        return DataError(
            f"{path}: row {row}, column {name!r}: {value!r} is not a number, and the target's "
            "first rows are numbers; fix the cell, or leave it empty (a row without a target is "
            "left out)"
        )
    return DataError(
        f"{path}: row {row}, column {name!r}: {value!r} is not a number; fix the cell, leave it "
        "empty (missing), or list the column in data.categorical"
    )


def _first_text_cell(
    path: Path, fmt: str, numeric: list[str], layout: Layout, first_row: int
) -> tuple[int, str, str] | None:
    """The first (row, column, value) of a numeric column that does not parse as a number."""
    import pyarrow as pa

    types = {name: pa.string() for name in numeric}
    rows = 0
    try:
        for batch in batches(path, fmt, types, layout):
            for name in numeric:
                values = batch.column(name).to_pylist()
                for r, value in enumerate(values):
                    if value is None:
                        continue
                    try:
                        float(value)
                    except ValueError:
                        return rows + r + first_row, name, value
            rows += batch.num_rows
    except pa.ArrowException:
        return None
    return None
