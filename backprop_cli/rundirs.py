"""Finding runs on disk: run directories, comparison directories and their histories."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import DataError

#: A directory holding any of these is a run directory (`bprop train` wrote it).
RUN_MARKERS = ("config.yaml", "history.csv", "checkpoints")
#: A directory holding this is a comparison (`bprop compare-optimizers` wrote it).
COMPARISON_FILE = "comparison.json"


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def is_comparison_dir(path: Path) -> bool:
    return (path / COMPARISON_FILE).is_file()


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The per-epoch rows of ``run_dir`` ([] when it has none yet)."""
    path = run_dir / "history.json"
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
            raise DataError(f"{path}: no such directory; give a run directory (bprop train --out)")
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
