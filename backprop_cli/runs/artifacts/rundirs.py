"""Run directories on disk: which directory a run writes to, finding runs and their histories.

A directory is claimed before anything is written to it: it is created (or checked to be new,
empty or the run being continued) under its lock (`locking.hold`), so two processes never write
to one directory and a run never writes among files it did not write.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ...errors import CheckpointError, ConfigError, DataError, argument
from ...system.atomic import TEMPORARY, write_text
from ...system.locking import LOCK_FILE, hold
from ...system.reading import check_regular, check_zip_size
from .layout import (
    CHECKPOINT_NAME,
    CHECKPOINTS,
    COMPARISON_JSON,
    CONFIG,
    EVENT_FILE,
    HISTORY_JSON,
    LAST,
    METRICS,
    RUN_FILES,
    RUN_MARKERS,
    SWEEP_JSON,
    SWEEP_MARKER,
    TENSORBOARD,
    Key,
)


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def is_comparison_dir(path: Path) -> bool:
    return (path / COMPARISON_JSON).is_file()


def is_sweep_dir(path: Path) -> bool:
    """True when ``path`` holds a sweep bprop wrote: its marker, or the sweep.json a finished
    sweep writes (a table of trials ranked by a metric)."""
    marker = path / SWEEP_MARKER
    if marker.is_file() and not marker.is_symlink():
        return True
    if (path / SWEEP_JSON).is_symlink():
        return False
    try:
        document = json.loads((path / SWEEP_JSON).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and {"metric", "mode", "trials"} <= document.keys()


def mark_sweep(path: Path) -> None:
    """Mark ``path`` as a sweep's directory (so that only it can be resumed as one)."""
    write_text(path / SWEEP_MARKER, "written by bprop sweep: this directory holds a sweep\n")


def is_checkpoint_name(name: str) -> bool:
    return CHECKPOINT_NAME.fullmatch(name) is not None


def run_of_checkpoint(checkpoint: Path) -> Path | None:
    """The run directory whose ``checkpoints/`` folder holds ``checkpoint``; None when the file
    lies anywhere else (a run directory has its config.yaml and history.json there too)."""
    folder = Path(checkpoint).resolve().parent
    run = folder.parent
    marked = (run / CONFIG).is_file() and (run / HISTORY_JSON).is_file()
    return run if folder.name == CHECKPOINTS and marked else None


def holds_only_run_files(directory: Path) -> bool:
    """True when ``directory`` holds nothing but what `bprop train` writes there: its files, its
    checkpoints, its loggers' event files, its lock and the temporaries of a killed write."""
    folders: dict[str, Callable[[str], bool]] = {
        CHECKPOINTS: is_checkpoint_name,
        TENSORBOARD: lambda name: EVENT_FILE.fullmatch(name) is not None,
    }
    try:
        for entry in directory.iterdir():
            named = folders.get(entry.name)
            if named is not None and entry.is_dir() and not entry.is_symlink():
                if not all(_own_file(p, named) for p in entry.iterdir()):
                    return False
            elif not _own_file(entry, RUN_FILES.__contains__):
                return False
    except OSError:
        return False
    return True


def _own_file(path: Path, named: Callable[[str], bool]) -> bool:
    """A file (not a symlink) with a name bprop gives, its lock, or a killed write's temporary."""
    if path.name == LOCK_FILE or TEMPORARY.fullmatch(path.name):
        return True
    return named(path.name) and path.is_file() and not path.is_symlink()


def is_empty(directory: Path) -> bool:
    """True when ``directory`` holds nothing but a lock and the temporaries of a killed write."""
    for entry in directory.iterdir():
        if entry.name != LOCK_FILE and not TEMPORARY.fullmatch(entry.name):
            return False
    return True


# ------------------------------------------------------------------ claiming
def new_run_dir(base: Path, name: str) -> Path:
    """``base/name``, or ``base/name-2``, ``-3``... : never an existing directory (mkdir is atomic,
    so two runs starting at once cannot get the same one)."""
    _make(base, "output.dir", parents=True)
    for k in range(1, 10_000):
        candidate = base / (name if k == 1 else f"{name}-{k}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise ConfigError(f"output.dir: {base} holds too many runs named {name!r}")


@contextlib.contextmanager
def claim(directory: Path, accept: Callable[[Path], None], option: str = "out") -> Iterator[Path]:
    """Create ``directory`` if need be and hold its lock within the block, once ``accept`` (which
    raises `ConfigError` to refuse) has approved what it holds, under the lock."""
    _make(directory, option, parents=True)
    with hold(directory):
        accept(directory)
        yield directory


def _make(directory: Path, option: str, parents: bool) -> None:
    if str(directory) == "-":
        raise ConfigError(
            f"{argument(option)}: - means standard output, which cannot hold a directory; name "
            "a folder"
        )
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{argument(option)}: {directory} exists and is not a directory")
    directory.mkdir(parents=parents, exist_ok=True)


def accept_new(option: str = "out", resumable: bool = False) -> Callable[[Path], None]:
    """Accept only an empty directory (``resumable``: mention resuming when it holds bprop's
    output)."""

    def accept(directory: Path) -> None:
        if is_empty(directory):
            return
        kind = (
            "a run" if is_run_dir(directory)
            else "a sweep" if is_sweep_dir(directory)
            else "a comparison" if is_comparison_dir(directory)
            else None
        )  # fmt: skip
        if kind is not None:
            resume = f" or pass {argument('resume')}" if resumable else ""
            raise ConfigError(
                f"{argument(option)}: {directory} already holds {kind}; choose another "
                f"directory{resume}"
            )
        raise ConfigError(
            f"{argument(option)}: {directory} is not empty; choose a new or empty directory (bprop "
            "does "
            "not write among files it did not write)"
        )

    return accept


@contextlib.contextmanager
def claim_new_dir(
    out: Path | None, base: Path, name: str, resumable: bool = False
) -> Iterator[Path]:
    """The locked directory of a new run, comparison, sweep, cross-validation or range test:
    ``out`` when it is new or empty, else a new ``base/name[-k]``."""
    directory = out if out is not None else new_run_dir(base, name)
    with claim(directory, accept_new(resumable=resumable)) as claimed:
        yield claimed


@contextlib.contextmanager
def claim_run_dir(
    out: Path | None,
    base: Path,
    name: str,
    checkpoint: Path | None = None,
    epoch: int = 0,
) -> Iterator[Path]:
    """The locked directory of a `bprop train` run.

    A fresh run goes to ``out`` (new or empty) or to a new ``base/name[-k]``. A run resumed from
    ``checkpoint`` (at the end of epoch ``epoch``) goes on in the run that wrote it, unless that
    run has trained past it (going on there would replace its later epochs), or in ``out`` when
    that is new or empty; it never mixes with another run.
    """
    if checkpoint is None:
        with claim_new_dir(out, base, name, resumable=True) as claimed:
            yield claimed
        return
    source = run_of_checkpoint(checkpoint)
    if out is None:
        if source is None:
            raise ConfigError(
                f"{argument('resume')}: {checkpoint} is not in the checkpoints/ folder of a bprop "
                f"run (with its config.yaml and history.json); pass {argument('out')} DIR to "
                "continue it in a new directory"
            )
        out = source

    def accept(directory: Path) -> None:
        if source is not None and directory.resolve() == source:
            reached = _epoch_of(source / CHECKPOINTS / LAST)
            if reached is not None and reached > epoch:
                raise ConfigError(
                    f"{argument('resume')}: {checkpoint} is epoch {epoch}'s, but its run's "
                    f"{LAST} is epoch {reached}'s; going on there would replace epochs "
                    f"{epoch + 1}–{reached}. Resume from {source / CHECKPOINTS / LAST}, or pass "
                    f"{argument('out')} DIR to continue epoch {epoch} in a new directory"
                )
            return
        if is_run_dir(directory) or not is_empty(directory):
            raise ConfigError(
                f"{argument('out')}: {directory} holds another run (or other files), not the run "
                f"{checkpoint} belongs to; continue in "
                + (f"{source} (leave out {argument('out')}) or " if source else "")
                + "a new or empty directory"
            )

    with claim(out, accept) as claimed:
        yield claimed


def _epoch_of(checkpoint: Path) -> int | None:
    """The epoch a run's checkpoint was written at; None when it is missing or unreadable (a
    damaged last.npz is a reason to resume from an older checkpoint, not to refuse it)."""
    try:
        check_regular(checkpoint, CheckpointError, "checkpoint")
        check_zip_size(checkpoint, CheckpointError, "checkpoint")
        with np.load(checkpoint, allow_pickle=False) as archive:
            return int(archive[Key.EPOCH])
    except (CheckpointError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


# ------------------------------------------------------------------- reading
def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The per-epoch rows of ``run_dir`` ([] when it has none yet)."""
    path = run_dir / HISTORY_JSON
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable history: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path}: not a history (expected a list of per-epoch rows)")
    return rows


def expand_runs(paths: list[Path]) -> list[tuple[str, Path]]:
    """(label, run directory) for each path; a comparison directory stands for all its runs.

    Labels are run names, prefixed by their parent's name where two runs share a name. A run
    given twice (itself and through its comparison) is listed once.
    """
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise DataError(
                f"{path}: no such directory; give a run directory (where bprop train wrote a run)"
            )
        if is_comparison_dir(path):
            found.extend(sorted(p for p in path.iterdir() if is_run_dir(p)))
        elif is_run_dir(path):
            found.append(path)
        else:
            raise DataError(
                f"{path}: not a run directory (no config.yaml, history.csv or checkpoints/) "
                "and not a comparison (no comparison.json)"
            )
    unique = {p.resolve(): p for p in reversed(found)}  # a run named twice is drawn once
    found = [p for p in found if unique.get(p.resolve()) is p]
    names = [p.name for p in found]
    return [(f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name, p) for p in found]


def is_finished(run_dir: Path) -> bool:
    """True when ``run_dir`` holds a run that ended by itself (completed, early-stopped,
    diverged or pruned), not one that was interrupted."""
    try:
        metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and metrics.get("stop_reason") != "interrupted"
