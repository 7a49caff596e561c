"""Atomic file writes: a temporary file in the same folder, flushed, fsynced, then renamed.

A reader (or a crash) sees either the previous complete file or the new complete file, never a mix.
New files get the permissions the user's umask gives; a replaced file keeps its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import IO, Any

from . import testhooks

#: Temporary files are named ``.<name>.<8 random characters>.tmp`` beside their target.
TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")


@contextlib.contextmanager
def atomic_open(
    path: Path, mode: str = "w", exclusive: bool = False, temporary: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success it replaces ``path`` in one rename.

    With ``exclusive``, an existing ``path`` is never replaced: the write ends in
    `FileExistsError` (also when the file appeared while the temporary was being written).
    The temporary is named after ``temporary`` where given, else after ``path``.
    """
    path = Path(path)
    fd, tmp = _create_temporary(path.parent / (temporary or path.name))
    try:
        if not exclusive:
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))  # keep a replaced file's mode
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    testhooks.reached("rename")


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside ``path``, created with mode 0o666 so that the umask applies."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if that name is free (a hard link fails on an existing
    name); on file systems without hard links, check and rename."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: Path, text: str, exclusive: bool = False) -> None:
    with atomic_open(path, "w", exclusive) as fh:
        fh.write(text)


def write_with(path: Path, writer: Callable[[IO[bytes]], None], exclusive: bool = False) -> None:
    """Atomically write binary content produced by ``writer(file)``."""
    with atomic_open(path, "wb", exclusive) as fh:
        writer(fh)


def remove_stale_temporaries(
    folder: Path, owned: Callable[[str], bool] | Container[str]
) -> list[Path]:
    """Delete the temporaries that a killed process left in ``folder`` (not below it) while
    writing one of the files ``owned`` names (a set of names, or a test of a name); their targets
    still hold the previous complete version. Returns what was removed."""
    is_owned = owned if callable(owned) else owned.__contains__
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in Path(folder).iterdir():
            match = TEMPORARY.fullmatch(path.name)
            if match and is_owned(match.group("target")) and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed
