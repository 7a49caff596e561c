"""Folders only this user can write: where bprop keeps what it later trusts (its caches).

A cache is read back without a second look at who wrote it (the compiled-kernel cache is even
unpickled), so it must live where no one else can write. `private_folder` is the check made
before every use: a real folder (not a symlink), owned by this user, writable by no one else.
A folder bprop creates gets mode 0700.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Write permission for the group or for others.
SHARED_WRITE = stat.S_IWGRP | stat.S_IWOTH


def private_folder(folder: Path, create: bool = True) -> bool:
    """True when ``folder`` is a folder this user owns, not a symlink, that no one else can
    write; with ``create``, a missing one is made first (mode 0700, its parents as usual).
    False, never an error, when it is not so or cannot be made."""
    folder = Path(folder)
    if create:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError:
            return False
    return trusted(folder, directory=True)


def trusted(path: Path, directory: bool = False) -> bool:
    """True when ``path`` (a file, or a folder with ``directory``) is not a symlink, is owned by
    this user and is writable by no one else."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    kind_ok = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    return kind_ok and info.st_uid == os.geteuid() and not info.st_mode & SHARED_WRITE


def trusted_tree(root: Path, inner: Path) -> bool:
    """True when ``root`` and every folder from it down to ``inner`` (a path under it) are
    trusted folders."""
    root, inner = Path(root), Path(inner)
    try:
        parts = inner.relative_to(root).parts
    except ValueError:
        return False
    folder = root
    for part in ("", *parts):
        folder = folder / part if part else folder
        if not trusted(folder, directory=True):
            return False
    return True
