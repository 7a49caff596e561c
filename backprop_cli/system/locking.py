"""One writer per output directory: a lock file held for as long as a run, comparison or sweep
writes there.

The lock is an advisory ``flock`` on ``DIR/.bprop.lock``. The kernel drops it when its process
ends in any way (SIGKILL included), so the lock of a killed run is stale at once and the next run
takes it over; the file itself is removed when its holder releases it normally. A file of that
name that bprop cannot have written (a link, a folder, a file that holds anything but a process
id) is a user's: it is never opened for writing, truncated or removed, and the directory is
refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import BpropError

LOCK_FILE = ".bprop.lock"
#: What bprop writes in a lock file: its holder's process id.
LOCK_TEXT = re.compile(rb"\d{1,20}\n?")


class DirectoryInUseError(BpropError):
    """Another bprop process is writing to the directory."""


@contextlib.contextmanager
def hold(directory: Path) -> Iterator[Path]:
    """Hold ``directory``'s lock within the block (the directory must exist).

    Raises:
        DirectoryInUseError: at once, when another process holds it.
    """
    path = Path(directory) / LOCK_FILE
    fd = _acquire(path, Path(directory))
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it, so no one locks the old file meanwhile
        os.close(fd)


def check_free(directory: Path) -> None:
    """Raise `DirectoryInUseError` at once when another process holds ``directory``'s lock; a
    quick look before slow work (the lock itself is taken by `hold`). Creates nothing."""
    path = Path(directory) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return  # no lock file (or none we could open): `hold` will tell
    try:
        if not _try_lock(fd):
            raise _in_use(Path(directory), _holder(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_held(directory: Path) -> bool:
    """True while a process holds ``directory``'s lock (a run writing there). Creates nothing."""
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # not bprop's lock
        if _try_lock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def held_by(directory: Path, pid: int) -> bool:
    """True while process ``pid`` holds ``directory``'s lock: the lock file names it and the
    lock is taken. False once that process has ended (its lock died with it) or another process
    has taken the directory over. Creates nothing."""
    path = Path(directory) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if _holder(fd) != str(pid):
            return False
        if _try_lock(fd):  # free: its holder is gone
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def _in_use(directory: Path, holder: str) -> DirectoryInUseError:
    by = f"process {holder}" if holder else "another process"
    return DirectoryInUseError(
        f"{directory}: in use by another run ({by} holds {LOCK_FILE}); wait for it to finish or "
        "choose another directory"
    )


def _open_lock(path: Path, directory: Path) -> int:
    """The lock file, created if need be: never through a link, and only a regular file that is
    empty or holds a process id (what bprop writes there).

    Raises:
        DirectoryInUseError: the name is taken by something bprop did not write.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise _foreign(directory) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (
        info.st_size and not LOCK_TEXT.fullmatch(os.pread(fd, 32, 0))
    ):
        os.close(fd)
        raise _foreign(directory)
    return fd


def _foreign(directory: Path) -> DirectoryInUseError:
    return DirectoryInUseError(
        f"{directory}: {LOCK_FILE} there is not a lock file bprop wrote (a link, a folder or a "
        "file that holds something else); bprop leaves it alone: move it away or choose another "
        "directory"
    )


def _acquire(path: Path, directory: Path) -> int:
    while True:
        fd = _open_lock(path, directory)
        if not _try_lock(fd):
            holder = _holder(fd)
            os.close(fd)
            raise _in_use(directory, holder)
        # A holder that released the lock meanwhile has unlinked the file we opened: retry on the
        # file that now has the name.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            return fd
        os.close(fd)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(int(os.pread(fd, 32, 0).decode().strip()))
    return ""


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
