"""Opening a user's input files: regular files only, and bounded reads of compressed ones.

A FIFO, a device such as /dev/zero or a folder given as a config, data file or checkpoint is
refused before it is opened (reading one would block or never end); a compressed file that
unpacks to more than `unpacked_limit` (a gzip or zip bomb) is refused as it unpacks.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import BpropError
from .resources import memory_bytes, size_text

CHUNK = 1 << 20


def unpacked_limit() -> int:
    """The most bytes a compressed input may unpack to: an eighth of the machine's memory."""
    return memory_bytes() // 8


def check_regular(path: Path, error: type[BpropError], what: str) -> None:
    """Raise ``error`` unless ``path`` names a regular file (following links); ``what`` names it
    for the message ("config", "data file", "checkpoint")."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise error(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        raise error(
            f"{path}: not a regular file (a pipe, device or socket); save the {what} to a file "
            "and give that"
        )


def is_plain_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (not a link to one, a folder, a FIFO or a
    device); False where nothing can be read there."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def file_problem(path: Path, largest: int) -> str | None:
    """Why ``path`` (links followed) may not be opened as a file bprop wrote: not a regular
    file (a pipe or a device would block or never end), more than ``largest`` bytes, or not to
    be read; None when it may. Raises FileNotFoundError when there is nothing there."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size > largest:
        return f"{info.st_size:,} bytes, more than bprop writes"
    return None


def read_gzip(path: Path, error: type[BpropError]) -> bytes:
    """The unpacked bytes of a .gz file, refused past `unpacked_limit`."""
    limit = unpacked_limit()
    parts, total = [], 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                total += len(chunk)
                if total > limit:
                    raise error(
                        f"{path}: unpacks to more than {size_text(limit)} (the limit on this "
                        "machine: an eighth of its memory); unpack it yourself if it is meant"
                    )
                parts.append(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise error(f"{path}: cannot read ({exc})") from None
    return b"".join(parts)


def _check_npy_header(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    path: Path,
    error: type[BpropError],
    what: str,
) -> None:
    """Refuse a .npy member whose header declares more bytes than the member holds."""
    if not info.filename.endswith(".npy"):
        return
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(member)
        except (ValueError, SyntaxError, TypeError) as exc:
            name = info.filename.removesuffix(".npy")
            raise error(f"{path}: member {name!r} is not a readable array ({exc})") from None
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        name = info.filename.removesuffix(".npy")
        raise error(
            f"{path}: member {name!r} declares shape {shape} ({size_text(declared)}) but holds "
            f"{size_text(info.file_size)}; not a readable .npz {what}"
        )


def check_zip_size(path: Path, error: type[BpropError], what: str = "archive") -> None:
    """Refuse a zip archive (.npz) whose members declare more than `unpacked_limit` bytes (a
    member never yields more than it declares), or a .npy member whose header declares an
    array larger than the member (loading it would ask for that memory before finding the bytes
    missing)."""
    limit = unpacked_limit()
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(info.file_size for info in members)
            if total <= limit:
                for info in members:
                    _check_npy_header(archive, info, path, error, what)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise error(f"{path}: not a readable .npz {what} ({exc})") from None
    if total > limit:
        raise error(
            f"{path}: unpacks to {size_text(total)}, more than {size_text(limit)} (an eighth of "
            "this machine's memory)"
        )
