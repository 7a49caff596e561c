"""What `bprop runs` lists: every run directory under a folder (those of sweeps, comparisons and
cross-validations too), each read as far as its files allow. A directory whose files cannot be
read is listed as broken, with why; none stops the listing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...config.flat import Scalar, flatten
from ...system.locking import is_held
from ...system.reading import file_problem
from .layout import CONFIG, HISTORY_JSON, METRICS, RUN_MARKERS

#: The statuses of a listed run: metrics.json's stop reasons in words, and those of runs that
#: have none (still training, killed, or unreadable).
STATUS_WORDS = {
    "completed": "completed",
    "early_stopping": "early stop",
    "diverged": "diverged",
    "interrupted": "interrupted",
    "pruned": "pruned",
}
RUNNING, KILLED, BROKEN = "running", "interrupted", "broken"
#: A run file larger than this is not read (bprop's own are a few kilobytes to megabytes).
LARGEST_FILE = 256 * 2**20


@dataclass
class Listed:
    """One run directory as `bprop runs` shows it (None where the run has no such figure)."""

    path: Path
    name: str  # relative to the folder listed
    status: str
    epochs: int | None = None
    #: The best value of the monitored metric: (metric, value, epoch).
    best: tuple[str, float, int] | None = None
    test: dict[str, float] = field(default_factory=dict)
    #: The last epoch's losses and accuracies.
    final: dict[str, float] = field(default_factory=dict)
    kernels: str | None = None
    started: float | None = None  # when config.yaml was written (the run's last start)
    seconds: float | None = None  # metrics.json's total_seconds
    config: dict[str, Scalar] = field(default_factory=dict, repr=False)  # flattened
    detail: str = ""  # why it stopped, or why it is broken

    def as_json(self) -> dict[str, Any]:
        best = None
        if self.best is not None:
            best = dict(zip(("metric", "value", "epoch"), self.best, strict=True))
        return {
            "name": self.name,
            "path": str(self.path),
            "status": self.status,
            "epochs": self.epochs,
            "best": best,
            "test": self.test,
            "final": self.final,
            "kernels": self.kernels,
            "started": self.started,
            "seconds": self.seconds,
            "detail": self.detail,
        }


class UnreadableError(Exception):
    """A run file that exists but cannot be read as what bprop wrote."""


def find_runs(folder: Path) -> list[Path]:
    """The run directories at or below ``folder``, in path order: not below a run directory
    (its checkpoints/ and tensorboard/), never through a link; a folder it cannot read is listed
    too (as a run that cannot be read)."""
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        if exc.filename is not None and Path(exc.filename) != Path(folder):
            found.append(Path(exc.filename))

    for here, subfolders, _ in os.walk(folder, onerror=unreadable, followlinks=False):
        path = Path(here)
        if any(os.path.lexists(path / marker) for marker in RUN_MARKERS):
            found.append(path)
            subfolders.clear()
        else:
            subfolders.sort()
    return sorted(found)


def runs_in(paths: Iterable[Path]) -> list[Path]:
    """The run directories ``paths`` name: each a run directory, or a folder of them (a sweep's,
    a cv's). Raises DataError for one that is neither."""
    from ...errors import DataError
    from .rundirs import is_run_dir

    found: list[Path] = []
    for path in paths:
        runs = [path] if is_run_dir(path) else find_runs(path) if path.is_dir() else []
        if not runs:
            raise DataError(f"{path}: not a run directory, nor a folder of them")
        found += [run for run in runs if run not in found]
    return found


def survey(folder: Path) -> list[Listed]:
    """Every run under ``folder``, as far as its files can be read."""
    return [read_run(path, folder) for path in find_runs(folder)]


def read_run(path: Path, folder: Path) -> Listed:
    name = str(path.relative_to(folder)) if path != folder else path.name
    listed = Listed(path, name, BROKEN)
    try:
        config = _read(path / CONFIG, yaml.safe_load)
        metrics = _read(path / METRICS, json.loads)
        history = _read(path / HISTORY_JSON, json.loads)
        _fill(listed, config, metrics, history)
    except UnreadableError as exc:
        listed.status, listed.detail = BROKEN, str(exc)
    if listed.status != BROKEN and is_held(path):  # a run resumed in place holds metrics.json
        listed.status = RUNNING
    return listed


def _read(path: Path, parse: Any) -> Any:
    """The parsed content of a run file; None when there is none."""
    try:
        problem = file_problem(path, LARGEST_FILE)
    except FileNotFoundError:
        return None
    if problem:
        raise UnreadableError(f"{path.name}: {problem}")
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, yaml.YAMLError) as exc:
        raise UnreadableError(f"{path.name}: {' '.join(str(exc).split())}") from None


def _fill(listed: Listed, config: Any, metrics: Any, history: Any) -> None:
    """The figures of ``listed`` from its run's files (raises UnreadableError where they are not
    what bprop writes)."""
    if not isinstance(config, dict):
        raise UnreadableError(f"{CONFIG}: " + ("missing" if config is None else "not a mapping"))
    listed.config = flatten(config)
    listed.started = os.stat(listed.path / CONFIG).st_mtime
    rows = _rows(history)
    if metrics is None:  # still training, or killed before it could write metrics.json
        listed.status = KILLED
        listed.detail = "no metrics.json: killed, or still training"
        listed.epochs = len(rows)
        listed.best = _best_of(rows, listed.config)
        return
    reason = metrics.get("stop_reason") if isinstance(metrics, dict) else None
    if not isinstance(reason, str) or reason not in STATUS_WORDS:
        raise UnreadableError(f"{METRICS}: not the metrics bprop writes")
    listed.status = STATUS_WORDS[metrics["stop_reason"]]
    listed.detail = str(metrics.get("stop_detail") or "")
    listed.epochs = _number(metrics.get("epochs_run"), int)
    listed.kernels = metrics.get("kernels") if isinstance(metrics.get("kernels"), str) else None
    listed.seconds = _number(metrics.get("total_seconds"), float)
    best = metrics.get("best")
    if isinstance(best, dict) and isinstance(best.get("monitor"), str):
        value, epoch = _number(best.get(best["monitor"]), float), _number(best.get("epoch"), int)
        if value is not None and epoch is not None:
            listed.best = (best["monitor"], value, epoch)
    listed.test = _figures(metrics.get("test"))
    listed.final = _figures(metrics.get("final"), FINAL)


#: The columns of the last epoch's row that `bprop runs diff` shows.
FINAL = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def _figures(found: Any, keys: tuple[str, ...] | None = None) -> dict[str, float]:
    """The finite numbers of a mapping of metrics.json (only ``keys``, when given)."""
    if not isinstance(found, dict):
        return {}
    wanted = keys if keys is not None else found
    return {k: float(found[k]) for k in wanted if _number(found.get(k), float) is not None}


def _rows(history: Any) -> list[dict[str, Any]]:
    if history is None:
        return []
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise UnreadableError(f"{HISTORY_JSON}: not a list of per-epoch rows")
    return history


def _best_of(
    rows: list[dict[str, Any]], config: dict[str, Scalar]
) -> tuple[str, float, int] | None:
    """The best epoch of a run without metrics.json, by the metric it monitors."""
    monitor = config.get("training.early_stopping.monitor")
    if not isinstance(monitor, str):
        monitor = "val_loss" if any(r.get("val_loss") is not None for r in rows) else "train_loss"
    scored = [
        (value, int(r["epoch"]))
        for r in rows
        if (value := _number(r.get(monitor), float)) is not None
        and _number(r.get("epoch"), int) is not None
    ]
    if not scored:
        return None
    value, epoch = min(scored)
    return monitor, value, epoch


def _number(value: Any, kind: type) -> Any:
    """``value`` as an int or a finite float, or None when it is not one (bool neither)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return kind(value) if math.isfinite(value) else None
    except OverflowError:  # an integer too large for a float
        return None


# ------------------------------------------------------------ choosing and ordering
#: What `bprop runs --sort` orders by, besides ``test.<figure>``.
SORT_KEYS = ("name", "status", "epochs", "best", "when", "duration")


def matching(runs: list[Listed], wanted: dict[str, Any]) -> list[Listed]:
    """The runs whose flattened config has each key of ``wanted`` at its value (a value as YAML
    reads it, or its text; true and false are not 1 and 0)."""

    def matches(listed: Listed, key: str, value: Any) -> bool:
        have = listed.config.get(key, _ABSENT)
        if have is _ABSENT:
            return False
        if isinstance(have, bool) != isinstance(value, bool):
            return str(have) == str(value)
        return bool(have == value) or str(have) == str(value)

    return [r for r in runs if all(matches(r, k, v) for k, v in wanted.items())]


def sort_problem(key: str) -> str | None:
    """Why runs cannot be ordered by ``key``, or None."""
    if key in SORT_KEYS or (key.startswith("test.") and len(key) > 5):
        return None
    return f"cannot sort by {key!r}: use one of {', '.join(SORT_KEYS)}, or test.<figure>"


def ordered(runs: list[Listed], key: str, reverse: bool = False) -> list[Listed]:
    """``runs`` by ``key`` (`SORT_KEYS` or ``test.<figure>``); runs without the figure last."""

    def value(listed: Listed) -> Any:
        if key.startswith("test."):
            return listed.test.get(key[5:])
        return {
            "name": listed.name,
            "status": listed.status,
            "epochs": listed.epochs,
            "best": None if listed.best is None else listed.best[1],
            "when": listed.started,
            "duration": listed.seconds,
        }[key]

    have = [r for r in runs if value(r) is not None]
    lacking = [r for r in runs if value(r) is None]
    return sorted(have, key=value, reverse=reverse) + lacking


_ABSENT = object()


def compared(a: Listed, b: Listed) -> tuple[dict[str, tuple[Any, Any]], dict[str, tuple[Any, Any]]]:
    """The config keys whose values differ between two runs (None where a run's config lacks
    the key), and the two runs' figures side by side."""
    keys = sorted(set(a.config) | set(b.config))
    differ = {
        k: (a.config.get(k), b.config.get(k))
        for k in keys
        if a.config.get(k, _ABSENT) != b.config.get(k, _ABSENT)
    }

    def best(r: Listed) -> str | None:
        return None if r.best is None else f"{r.best[0]} {r.best[1]:.6g} @ epoch {r.best[2]}"

    figures: dict[str, tuple[Any, Any]] = {
        "status": (a.status, b.status),
        "epochs": (a.epochs, b.epochs),
        "best": (best(a), best(b)),
    }
    for group, prefix in ((FINAL, "final"), (sorted(set(a.test) | set(b.test)), "test")):
        source_a, source_b = (a.final, b.final) if prefix == "final" else (a.test, b.test)
        for k in group:
            if k in source_a or k in source_b:
                figures[f"{prefix} {k}"] = (source_a.get(k), source_b.get(k))
    figures["kernels"] = (a.kernels, b.kernels)
    figures["seconds"] = (a.seconds, b.seconds)
    return differ, figures
