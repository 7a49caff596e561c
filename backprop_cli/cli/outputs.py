"""Files that commands write under names the user gives: an existing file is replaced only with
--overwrite, pictures only go to .png names, and the name ``-`` is standard output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import BpropError

T = TypeVar("T")

#: The output name that means standard output.
STDOUT = "-"


def to_stdout(path: Path | None) -> bool:
    """True when ``path`` is ``-``: the output goes to standard output, not to a file."""
    return path is not None and str(path) == STDOUT


def write_output(path: Path, write: Callable[[Path], T]) -> T:
    """``write(path)``; for ``-``, ``write`` fills a temporary file whose bytes then go to standard
    output (the writers only know files)."""
    if not to_stdout(path):
        return write(path)
    import tempfile

    import typer

    with tempfile.TemporaryDirectory() as folder:
        temporary = Path(folder) / "output"
        result = write(temporary)
        with temporary.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                typer.echo(chunk, nl=False)
    return result


def check_output(
    path: Path, overwrite: bool, option: str = "--out", picture: bool = False, suffix: str = ".png"
) -> Path:
    """``path`` if a command may write it; raises `BpropError` naming ``option`` otherwise.
    A ``picture`` must end in ``suffix`` (.png, or .gif for an animation); ``-`` (standard
    output) always may be written.

    The write itself must still be exclusive without ``overwrite`` (`atomic.atomic_open`), so a
    file that appears meanwhile is not replaced either.
    """
    if to_stdout(path):
        return path
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
