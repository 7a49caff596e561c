"""Atomic file writes: a temporary file in the same folder, flushed, fsynced, then renamed.

A reader (or a crash) sees either the previous complete file or the new complete file, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

#: Temporary files are named ``.<name>.<random>.tmp`` beside their target.
TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success it replaces ``path`` in one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
    )
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_with(path: Path, writer: Callable[[IO[bytes]], None]) -> None:
    """Atomically write binary content produced by ``writer(file)``."""
    with atomic_open(path, "wb") as fh:
        writer(fh)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries of writes that a killed process left unfinished under ``folder``
    (their targets still hold the previous complete version); return what was removed."""
    removed = []
    for path in Path(folder).rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        if path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
