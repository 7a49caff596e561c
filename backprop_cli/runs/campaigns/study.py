"""A guided sweep's Optuna study: kept in the sweep directory as Optuna's journal file, its
sampler (random, grid, TPE, CMA-ES, a Gaussian process) and its pruner, and how a trial's
suggestions become config values.

The journal is a file of JSON lines that Optuna appends to under a lock, so the command and
every worker (a local process or a Dask worker sharing the folder) read and write the same
study. A line cut short by a kill is taken back when the study is next opened.

Each trial's sampler is made afresh, seeded from the search's seed and the trial's place in the
search (`Study.sampler`): the samplers keep nothing between trials but what the study holds, so a
resumed search asks exactly what an uninterrupted one would have asked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...config import flow_yaml
from ...errors import ConfigError
from ...system import testhooks
from ...system.reading import is_plain_file
from .sweep import Distribution

#: The study's name in its journal (one study per sweep directory).
STUDY_NAME = "bprop-sweep"
#: The Optuna user attribute that holds a trial's name (its run directory).
NAME_ATTR = "bprop.name"
#: The study's user attribute that holds the seconds the search has spent, over its commands.
ELAPSED_ATTR = "bprop.elapsed_seconds"
#: What bprop[tune] brings, and how to install it.
TUNE_HINT = "pip install '.[tune]' in bprop's folder (optuna, cmaes, scikit-learn)"


def optuna_module() -> Any:
    """Optuna, its notes kept out of bprop's output (bprop says what happens itself)."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(f"this sweep needs Optuna, bprop's tune extra: {TUNE_HINT}") from None
    optuna.logging.set_verbosity(logging.WARNING)
    optuna.logging.disable_default_handler()
    return optuna


@dataclass(frozen=True)
class StudySpec:
    """Everything that names a guided search's study and rebuilds its sampler and pruner, in any
    process: the journal's path, the direction, the search type and seed, the pruner's config
    (a dict, ``None``: none), the epochs a trial trains (the pruners' largest resource), and
    whether trials run side by side. A grid or random search hands the study its own points
    (`GuidedSearch`): the sampler only records them."""

    path: Path
    direction: str  # "minimize" or "maximize"
    search: str
    seed: int
    pruner: Mapping[str, Any] | None
    epochs: int
    parallel: bool = False

    def storage(self) -> Any:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        class Journal(JournalFileBackend):
            def append_logs(self, logs: list[dict[str, Any]]) -> None:
                super().append_logs(logs)
                testhooks.reached("journal")

        return JournalStorage(Journal(str(self.path)))

    def load(self) -> Any:
        """The study, as a worker opens it (it must exist)."""
        optuna = optuna_module()
        return optuna.load_study(
            study_name=STUDY_NAME, storage=self.storage(), pruner=self.make_pruner()
        )

    def create(self) -> Any:
        """The study, new or as the journal holds it."""
        optuna = optuna_module()
        return optuna.create_study(
            study_name=STUDY_NAME, storage=self.storage(), direction=self.direction,
            pruner=self.make_pruner(), load_if_exists=True,
        )  # fmt: skip

    def make_pruner(self) -> Any:
        from optuna import pruners

        section = dict(self.pruner or {"type": "none"})
        kind = section["type"]
        if kind == "median":
            return pruners.MedianPruner(
                n_startup_trials=section["startup_trials"], n_warmup_steps=section["min_epochs"]
            )
        if kind == "successive_halving":
            return pruners.SuccessiveHalvingPruner(
                min_resource=section["min_epochs"], reduction_factor=section["reduction_factor"]
            )
        if kind == "hyperband":
            return pruners.HyperbandPruner(
                min_resource=section["min_epochs"], max_resource=max(self.epochs, 1),
                reduction_factor=section["reduction_factor"],
            )  # fmt: skip
        return pruners.NopPruner()

    def sampler(self, place: int) -> Any:
        """The sampler of the search's ``place``-th trial (from 1), seeded from the search's
        seed and that place alone."""
        from optuna import samplers

        seed = int(np.random.SeedSequence([self.seed, place]).generate_state(1)[0])
        if self.search == "tpe":
            return samplers.TPESampler(seed=seed, constant_liar=self.parallel)
        if self.search == "cmaes":
            return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if self.search == "gp":
            return samplers.GPSampler(seed=seed)
        return samplers.RandomSampler(seed=seed)


def labels(choices: tuple[Any, ...]) -> tuple[Any, ...]:
    """The values Optuna holds for ``choices``: themselves where Optuna can (None, bools,
    numbers, strings), else each as one line of YAML."""
    if all(c is None or isinstance(c, bool | int | float | str) for c in choices):
        return choices
    return tuple(flow_yaml(c) for c in choices)


def suggest(
    trial: Any, space: Mapping[str, Distribution], grid: Mapping[str, list[Any]]
) -> dict[str, Any]:
    """The config values ``trial`` suggests: each grid key as a choice among its values, each
    distribution of ``space`` as Optuna's own."""
    params: dict[str, Any] = {}
    for key, values in grid.items():
        params[key] = _choose(trial, key, tuple(values))
    for key, dist in space.items():
        if key in grid:
            continue
        if dist.kind == "choice":
            params[key] = _choose(trial, key, dist.choices)
        elif dist.kind == "int":
            params[key] = trial.suggest_int(key, int(dist.low), int(dist.high))
        else:
            params[key] = trial.suggest_float(key, dist.low, dist.high, log=dist.logarithmic)
    return params


def as_labels(
    params: Mapping[str, Any], space: Mapping[str, Distribution], grid: Mapping[str, list[Any]]
) -> dict[str, Any]:
    """``params`` as the study holds them (`labels`): a trial handed to the study whole."""
    held = {}
    for key, value in params.items():
        choices = tuple(grid[key]) if key in grid else space[key].choices
        if key in grid or space[key].kind == "choice":
            value = labels(choices)[choices.index(value)]
        held[key] = value
    return held


def _choose(trial: Any, key: str, choices: tuple[Any, ...]) -> Any:
    shown = labels(choices)
    if len(set(map(repr, shown))) < len(shown):
        raise ConfigError(f"sweep: {key} lists a value twice among {list(choices)}")
    picked = trial.suggest_categorical(key, list(shown))
    return choices[list(shown).index(picked)]


def repair(path: Path) -> None:
    """Take back a journal line that a kill cut short (everything after the last newline) and
    the lock a killed process left: the caller holds the sweep directory, so no other process
    of this sweep writes the journal now."""
    lock = Path(f"{path}.lock")
    if lock.is_symlink():  # Optuna's own lock is a link
        lock.unlink()
    elif lock.exists() or (os.path.lexists(path) and not is_plain_file(path)):
        odd = lock if lock.exists() else path
        raise ConfigError(
            f"{odd}: not a file of this sweep's study as bprop writes it (a link, a folder, a "
            "FIFO or a file of someone else's); bprop leaves it alone: move it away and rerun"
        )
    if not path.is_file():
        return
    fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        kept = _whole_lines(fh, size)
        last = _whole_lines(fh, kept - 1) if kept else 0  # where the last whole line starts
        fh.seek(last)
        try:  # Optuna skips a last line it cannot read, then appends after it: refused here
            json.loads(fh.read(kept - last) or b"{}")
        except ValueError:
            raise ConfigError(
                f"{path}: its last line is not a line of a study journal; bprop leaves it "
                "alone: move it away to start the search afresh"
            ) from None
        if kept < size:
            fh.truncate(kept)
            fh.flush()
            os.fsync(fh.fileno())


def _whole_lines(fh: Any, size: int) -> int:
    """The length of the whole lines among the file's first ``size`` bytes (up to and with the
    last newline there)."""
    at, block = size, 1 << 16
    while at > 0:
        start = max(0, at - block)
        fh.seek(start)
        data = fh.read(at - start)
        newline = data.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        at = start
    return 0


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's experimental-feature warnings kept out of the output while it runs."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="optuna")
        warnings.filterwarnings("ignore", message=".*experimental.*")
        yield
