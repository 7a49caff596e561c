"""Files that commands write under names the user gives: an existing file is replaced only with
--overwrite, and pictures only go to .png names."""

from __future__ import annotations

from pathlib import Path

from ..errors import BpropError


def check_output(
    path: Path, overwrite: bool, option: str = "--out", picture: bool = False, suffix: str = ".png"
) -> Path:
    """``path`` if a command may write it; raises `BpropError` naming ``option`` otherwise.
    A ``picture`` must end in ``suffix`` (.png, or .gif for an animation).

    The write itself must still be exclusive without ``overwrite`` (`atomic.atomic_open`), so a
    file that appears meanwhile is not replaced either.
    """
    if picture and path.suffix.lower() != suffix:
        kind = suffix.lstrip(".").upper()
        raise BpropError(f"{option}: {path} must end in {suffix} (it is written as {kind})")
    if path.is_dir():
        raise BpropError(f"{option}: {path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise BpropError(f"{option}: {path} exists; choose another name or pass --overwrite")
    if path.exists() and not path.is_file():
        raise BpropError(f"{option}: {path} is not a regular file; choose another name")
    if not path.parent.is_dir():
        raise BpropError(f"{option}: folder {path.parent} does not exist")
    return path


def free_picture_name(stem: str) -> Path:
    """``stem.png`` in the working directory, or ``stem-2.png``, ``-3``... if that is taken."""
    path, k = Path(f"{stem}.png"), 1
    while path.exists() or path.is_symlink():
        k += 1
        path = Path(f"{stem}-{k}.png")
    return path
