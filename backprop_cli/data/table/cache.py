"""A cache of prepared tables, so that a data file is parsed once.

An entry holds a table's encoded splits as ``.npy`` files, which later loads memory-map: every
trial of a sweep, every contestant of a comparison, every worker process and every rerun with
the same data settings reads them instead of parsing the file again, and processes on one
machine share one copy of the data in memory.

An entry's key is a digest of the file's bytes, its format (the ending that chooses the reader
and the unpacking), every ``data:`` setting, the task, the state of the generator that draws the
splits, standardization, the dtype and the code that prepares tables: a changed file, setting or
version of bprop can never be served a stale entry.

An entry is served only whole and verified: its ``meta.json``, written last, lists each of its
files with its size and SHA-256 digest, and a load checks them all; anything else (a missing,
changed or extra-short file) is rebuilt. Entries live in ``$BPROP_CACHE_DIR`` (default
``$XDG_CACHE_HOME/bprop`` or ``~/.cache/bprop``), under ``tables/``, a folder only this user can
write (made with mode 0700 and checked before every use: otherwise the cache is not used). The
least recently used entries are removed once they hold more than ``BPROP_CACHE_MAX_BYTES``
(default 10 GiB); bprop removes only folders it provably wrote (an entry's name, holding nothing
but the files it writes). ``BPROP_NO_CACHE=1`` turns the cache off. A cache that cannot be
written (a read-only home, a full disk) is skipped: the run goes on without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...core.split import NAMES, Split
from ...errors import ConfigError
from ...system import caches
from ...system.private import private_folder, trusted

if TYPE_CHECKING:
    from ..splits import Dataset

#: Changes whenever what an entry holds or means changes.
VERSION = 4
#: An entry's arrays: each split's features and targets (``X_train`` … ``y_test``), μ and σ.
ARRAYS = (*(f"{part}_{name}" for name in NAMES for part in "Xy"), "mean", "std")
DEFAULT_MAX_BYTES = 10 << 30
#: The entry's manifest, written last.
MANIFEST = "meta.json"
#: Every name bprop writes in an entry.
ENTRY_FILES = frozenset({MANIFEST, *(f"{array}.npy" for array in ARRAYS)})
#: An entry's folder name: a `key`.
ENTRY_NAME = re.compile(r"[0-9a-f]{40}")
#: A folder being written: ``.KEY.RANDOM.tmp``.
BUILDING_NAME = re.compile(r"\.[0-9a-f]{40}\.[0-9a-f]{8}\.tmp")
#: A folder being written that is older than this was left by a store that was killed.
STALE_SECONDS = 24 * 3600


class DamagedEntryError(ValueError):
    """An entry that is not whole or not what its manifest says."""


def arrays_of(data: Dataset) -> dict[str, NDArray[Any] | None]:
    """The arrays an entry keeps of ``data`` (`ARRAYS`; None for a split not held out)."""
    arrays: dict[str, NDArray[Any] | None] = {array: None for array in ARRAYS}
    for name, split in data.splits().items():
        arrays |= {f"X_{name}": split.X, f"y_{name}": split.y}
    return arrays | {"mean": data.mean, "std": data.std}


def splits_of(arrays: dict[str, NDArray[Any] | None]) -> dict[str, Split]:
    """The splits an entry's arrays hold, by name (each with both its X and its y)."""
    pairs = {name: (arrays.get(f"X_{name}"), arrays.get(f"y_{name}")) for name in NAMES}
    return {name: Split(X, y) for name, (X, y) in pairs.items() if X is not None and y is not None}


def enabled() -> bool:
    """False when ``BPROP_NO_CACHE`` is set (`caches.enabled`)."""
    return caches.enabled()


def max_bytes() -> int:
    """``BPROP_CACHE_MAX_BYTES`` (a whole number of bytes), else `DEFAULT_MAX_BYTES`.

    Raises:
        ConfigError: a value that is not a whole number of bytes.
    """
    text = os.environ.get("BPROP_CACHE_MAX_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(
            f"BPROP_CACHE_MAX_BYTES: {text!r} is not a whole number of bytes (e.g. 10737418240 "
            "for 10 GiB); set it so, or unset it for the default of 10 GiB"
        )
    return value


def cache_dir() -> Path:
    """Where entries live (`caches.tables`)."""
    return caches.tables()


def file_digest(path: Path) -> str:
    """A digest of the file's bytes (SHA-256: on CPUs with its instructions, about twice as fast
    as BLAKE2b)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def identity(path: Path) -> tuple[int, ...]:
    """What changes whenever the file at ``path`` is replaced or written: compared before it is
    hashed and after it is parsed, so a parse is stored under the digest of the bytes it read."""
    info = os.stat(path)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


@functools.cache
def code_digest() -> str:
    """A digest of the code that prepares tables (this package's modules): another version of
    bprop never reads entries this one wrote, nor the other way round."""
    digest = hashlib.blake2b(digest_size=16)
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + module.read_bytes())
    return digest.hexdigest()


def key(content: str, settings: dict[str, Any]) -> str:
    """The entry name for a file whose bytes have the digest ``content``, prepared with
    ``settings`` (plain data, the file's format among them)."""
    document = {"version": VERSION, "code": code_digest(), "content": content, "settings": settings}
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def _root() -> Path | None:
    """The entries' folder when it is private to this user (made so if missing), else None."""
    root = cache_dir()
    return root if private_folder(root) else None


def load(name: str) -> tuple[dict[str, NDArray[Any] | None], dict[str, Any]] | None:
    """The arrays (memory-mapped, read-only) and metadata of entry ``name``; None when there is
    no such entry or it is not whole and verified (it is then removed, and rebuilt by the
    caller)."""
    root = _root()
    if root is None or not ENTRY_NAME.fullmatch(name):
        return None
    folder = root / name
    if not (folder / MANIFEST).exists():
        if os.path.lexists(folder):
            _remove(folder)  # an entry whose manifest never landed or was lost: rebuilt
        return None
    try:
        meta = _verified(folder)
        arrays: dict[str, NDArray[Any] | None] = {array: None for array in ARRAYS}
        for file in meta["files"]:
            arrays[file.removesuffix(".npy")] = np.load(
                folder / file, mmap_mode="r", allow_pickle=False
            )
        os.utime(folder / MANIFEST)  # recently used
    except (OSError, ValueError, EOFError):
        _remove(folder)
        return None
    return arrays, meta


def _verified(folder: Path) -> dict[str, Any]:
    """The manifest of the entry in ``folder`` once every file it lists has the size and digest
    it records; raises `DamagedEntryError` otherwise."""
    if not trusted(folder, directory=True) or not trusted(folder / MANIFEST):
        raise DamagedEntryError("not a folder and manifest of this user's")
    try:
        meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = meta["files"]
        listed = {file: (int(v["size"]), str(v["sha256"])) for file, v in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise DamagedEntryError(f"unreadable manifest ({type(exc).__name__})") from None
    if meta.get("version") != VERSION or meta.get("writer") != "bprop":
        raise DamagedEntryError("another version")
    if meta.get("sha256") != _content_digest(meta):
        raise DamagedEntryError("the manifest is not the one that was stored")
    if not set(listed) <= ENTRY_FILES - {MANIFEST} or not {"X_train.npy", "y_train.npy"} <= set(
        listed
    ):
        raise DamagedEntryError("not a table's files")
    for file, (size, digest) in listed.items():
        path = folder / file
        if not trusted(path) or path.stat().st_size != size or file_digest(path) != digest:
            raise DamagedEntryError(f"{file} is not the file that was stored")
    return meta


def store(name: str, arrays: dict[str, NDArray[Any] | None], meta: dict[str, Any]) -> bool:
    """Write entry ``name`` (atomically: a folder renamed into place, its manifest written
    last); False when the cache cannot be written."""
    root = _root()
    if root is None:
        return False
    temporary = root / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        temporary.mkdir(mode=0o700)
        os.chmod(temporary, 0o700)  # whatever the umask
        files = {}
        for array, value in arrays.items():
            if value is not None:
                path = temporary / f"{array}.npy"
                np.save(path, value, allow_pickle=False)
                os.chmod(path, 0o600)
                files[path.name] = {"size": path.stat().st_size, "sha256": file_digest(path)}
        manifest: dict[str, Any] = {"version": VERSION, "writer": "bprop", "files": files, **meta}
        manifest["sha256"] = _content_digest(manifest)
        (temporary / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        os.chmod(temporary / MANIFEST, 0o600)
        _place(temporary, root / name)
    except OSError:
        return False
    finally:
        _remove(temporary)
    _evict(root, keep=name)
    return True


def _content_digest(manifest: dict[str, Any]) -> str:
    """A digest of everything the manifest records but the digest itself."""
    content = {key: value for key, value in manifest.items() if key != "sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _place(temporary: Path, target: Path) -> None:
    """Rename the finished entry ``temporary`` to ``target``. An entry another process stored
    meanwhile is kept; a damaged one bprop wrote (no verified manifest) is replaced."""
    try:
        temporary.rename(target)
        return
    except OSError:
        pass
    try:
        _verified(target)
        return  # another process's whole entry
    except (OSError, ValueError):
        _remove(target)
    temporary.rename(target)


def _is_entry(folder: Path) -> bool:
    """True when ``folder`` is provably an entry (or a temporary one) bprop wrote: its name is a
    key's, it is a folder of this user's (not a symlink) and it holds nothing but files (or
    symlinks) of this user's named as an entry's files are."""
    if not (ENTRY_NAME.fullmatch(folder.name) or BUILDING_NAME.fullmatch(folder.name)):
        return False
    try:
        if not _owned(folder, directory=True):
            return False
        return all(f.name in ENTRY_FILES and _owned(f) for f in folder.iterdir())
    except OSError:
        return False


def _owned(path: Path, directory: bool = False) -> bool:
    """``path`` is this user's: a folder (``directory``) or a file or symlink, never followed."""
    info = os.lstat(path)
    kind = stat.S_ISDIR(info.st_mode) if directory else not stat.S_ISDIR(info.st_mode)
    return kind and info.st_uid == os.geteuid()


def _remove(folder: Path) -> None:
    """Remove ``folder`` if it is an entry bprop wrote; anything else is left as it is."""
    if not _is_entry(folder):
        return
    with contextlib.suppress(OSError):
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


def _written_entry(folder: Path) -> bool:
    """An entry bprop wrote, by its name and files and by its manifest's own word."""
    if not _is_entry(folder):
        return False
    try:
        meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(meta, dict) and meta.get("writer") == "bprop"


def _size(folder: Path) -> int:
    with contextlib.suppress(OSError):
        return sum(f.stat().st_size for f in folder.iterdir())
    return 0


def _evict(root: Path, keep: str) -> None:
    """Remove the least recently used entries beyond the size limit (never ``keep``)."""
    limit = max_bytes()
    try:
        found = list(root.iterdir())
        now = time.time()
        for stale in found:  # the folders of stores that were killed
            if (
                BUILDING_NAME.fullmatch(stale.name)
                and _is_entry(stale)
                and now - os.lstat(stale).st_mtime > STALE_SECONDS
            ):
                _remove(stale)
        entries = [p for p in found if ENTRY_NAME.fullmatch(p.name) and _written_entry(p)]
        used = {p: (p / MANIFEST).stat().st_mtime for p in entries}
    except OSError:
        return
    sizes = {p: _size(p) for p in entries}
    total = sum(sizes.values())
    for entry in sorted(entries, key=lambda p: used[p]):
        if total <= limit:
            break
        if entry.name != keep:
            _remove(entry)
            total -= sizes[entry]
