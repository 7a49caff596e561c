"""A cache of prepared tables, so that a data file is parsed once.

An entry holds a table's encoded splits as ``.npy`` files, which later loads memory-map: every
trial of a sweep, every contestant of a comparison, every worker process and every rerun with
the same data settings reads them instead of parsing the file again, and processes on one
machine share one copy of the data in memory.

An entry's key is a digest of the file's bytes, every ``data:`` setting, the task, the state of
the generator that draws the splits, standardization, the dtype and the code that prepares
tables: a changed file, setting or version of bprop can never be served a stale entry. Entries
live in ``$BPROP_CACHE_DIR`` (default ``$XDG_CACHE_HOME/bprop`` or ``~/.cache/bprop``), under
``tables/``; the least recently used are removed once they hold more than
``BPROP_CACHE_MAX_BYTES`` (default 10 GiB). ``BPROP_NO_CACHE=1`` turns the cache off. A cache
that cannot be written (a read-only home, a full disk) is skipped: the run goes on without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Changes whenever what an entry holds or means changes.
VERSION = 1
ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test", "mean", "std")
DEFAULT_MAX_BYTES = 10 << 30


def enabled() -> bool:
    """False when ``BPROP_NO_CACHE`` is set (to anything but 0 or nothing)."""
    return os.environ.get("BPROP_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    """Where entries live: ``$BPROP_CACHE_DIR``, else the user's cache folder."""
    env = os.environ.get("BPROP_CACHE_DIR")
    if env:
        return Path(env) / "tables"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bprop" / "tables"


def file_digest(path: Path) -> str:
    """A digest of the file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "blake2b").hexdigest()


@functools.cache
def code_digest() -> str:
    """A digest of the code that prepares tables (this package's modules): another version of
    bprop never reads entries this one wrote, nor the other way round."""
    digest = hashlib.blake2b(digest_size=16)
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + module.read_bytes())
    return digest.hexdigest()


def key(path: Path, settings: dict[str, Any]) -> str:
    """The entry name for the file ``path`` prepared with ``settings`` (plain data)."""
    document = {
        "version": VERSION,
        "code": code_digest(),
        "content": file_digest(path),
        "settings": settings,
    }
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def load(name: str) -> tuple[dict[str, NDArray[Any] | None], dict[str, Any]] | None:
    """The arrays (memory-mapped, read-only) and metadata of entry ``name``; None when there is
    no such entry or it cannot be read (it is then removed, and rebuilt by the caller)."""
    folder = cache_dir() / name
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("version") != VERSION:
            raise ValueError("another version")
        arrays: dict[str, NDArray[Any] | None] = {}
        for array in ARRAYS:
            file = folder / f"{array}.npy"
            arrays[array] = (
                np.load(file, mmap_mode="r", allow_pickle=False) if file.is_file() else None
            )
        if arrays["X_train"] is None or arrays["y_train"] is None:
            raise ValueError("no training split")
        os.utime(meta_path)  # recently used
    except (OSError, ValueError, EOFError):
        _remove(folder)
        return None
    return arrays, meta


def store(name: str, arrays: dict[str, NDArray[Any] | None], meta: dict[str, Any]) -> bool:
    """Write entry ``name`` (atomically: a folder renamed into place); False when the cache
    cannot be written."""
    root = cache_dir()
    temporary = root / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        temporary.mkdir(parents=True)
        for array, value in arrays.items():
            if value is not None:
                np.save(temporary / f"{array}.npy", value, allow_pickle=False)
        text = json.dumps({"version": VERSION, **meta})
        (temporary / "meta.json").write_text(text, encoding="utf-8")
        try:
            temporary.rename(root / name)
        except OSError:
            if not (root / name / "meta.json").is_file():  # not another process's entry
                raise
    except OSError:
        return False
    finally:
        _remove(temporary)
    _evict(root, keep=name)
    return True


def _remove(folder: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)


def _size(folder: Path) -> int:
    with contextlib.suppress(OSError):
        return sum(f.stat().st_size for f in folder.iterdir())
    return 0


def _evict(root: Path, keep: str) -> None:
    """Remove the least recently used entries beyond the size limit (never ``keep``)."""
    try:
        limit = int(os.environ.get("BPROP_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES))
        entries = [p for p in root.iterdir() if (p / "meta.json").is_file()]
        used = {p: (p / "meta.json").stat().st_mtime for p in entries}
    except (OSError, ValueError):
        return
    sizes = {p: _size(p) for p in entries}
    total = sum(sizes.values())
    for entry in sorted(entries, key=lambda p: used[p]):
        if total <= limit:
            break
        if entry.name != keep:
            _remove(entry)
            total -= sizes[entry]
