"""A run directory's files as training goes: its config, history and checkpoints, each written
atomically and in an order that a crash at any point leaves consistent."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import to_yaml
from ..core.history import columns
from ..core.types import Array
from ..system.atomic import remove_stale_temporaries, write_text
from .checkpoints import Checkpoint, capture, weights_epoch_of
from .layout import LAST, RUN_FILES, RunLayout
from .rundirs import is_checkpoint_name, read_history
from .step_log import StepLog

if TYPE_CHECKING:
    from .run import Prepared


def history_text(rows: list[dict[str, float]], cols: list[str]) -> tuple[str, str]:
    """history.csv and history.json of ``rows`` (``cols`` in the CSV, in order)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    return buf.getvalue(), json.dumps(rows, indent=2)


class RunFiles:
    """The run directory's history and checkpoints as training goes: ``epoch_end`` is the full
    state at the end of the last completed epoch (at the start, before any), and ``flush``
    brings the files up to date with it."""

    def __init__(self, prepared: Prepared, run_dir: Path) -> None:
        self.prepared, self.run_dir = prepared, run_dir
        self.layout = layout = RunLayout(run_dir)
        self.resolved = prepared.cfg.resolved()
        self.ckpt_dir = layout.checkpoints
        self.history: list[dict[str, float]] = []
        self.steps = StepLog()
        if prepared.source_dir is not None:
            # Continue the history of the run that wrote the checkpoint, up to its epoch.
            epoch = prepared.training.epoch
            self.history = [r for r in read_history(prepared.source_dir) if r["epoch"] <= epoch]
            self.steps = StepLog.resumed(prepared.source_dir, epoch)
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        # Temporaries of writes that a killed run left unfinished (their targets are complete).
        remove_stale_temporaries(run_dir, RUN_FILES)
        remove_stale_temporaries(self.ckpt_dir, is_checkpoint_name)
        write_text(layout.config, to_yaml(self.resolved))
        self.epoch_end = self.capture()
        self._rows_written = -1  # what the history files hold
        self._steps_written = -1  # what steps.csv holds
        self._last_written: Checkpoint | None = None  # what last.npz holds
        self.flush(last=False)  # the history so far: empty, or the resumed run's

    def capture(self, params: Array | None = None, params_epoch: int | None = None) -> Checkpoint:
        """The full state now (with ``params`` instead of the live weights, when given)."""
        prepared = self.prepared
        splits = prepared.splits
        return capture(
            prepared.training, self.resolved, prepared.task, splits.mean, splits.std, params,
            params_epoch, prepared.signature, splits.target_scale,
        )  # fmt: skip

    def end_epoch(self, row: dict[str, float]) -> None:
        self.history.append(row)
        self.epoch_end = self.capture()

    def write_checkpoint(self, name: str, state: Checkpoint) -> None:
        state.write(self.layout.checkpoint(name))

    def flush(self, last: bool = True) -> None:
        """Bring steps.csv, history.csv, history.json and (with ``last``) last.npz up to date,
        in that order: a crash between them leaves each complete, the CSV at most a row ahead of
        the JSON, and each at least as far as last.npz."""
        if self._steps_written != len(self.steps):
            write_text(self.layout.steps, self.steps.text())
            self._steps_written = len(self.steps)
        history = self.history
        if self._rows_written != len(history):
            cols = columns(self.prepared.data.classification)
            cols += [k for k in (history[0] if history else {}) if k not in cols]  # diagnostics
            csv_text, json_text = history_text(history, cols)
            write_text(self.layout.history_csv, csv_text)
            write_text(self.layout.history_json, json_text)
            self._rows_written = len(history)
        state = self.epoch_end
        finite = all(np.all(np.isfinite(v)) for v in state.params.values())
        if last and self._last_written is not state and finite:
            self.write_checkpoint(LAST, state)  # never a non-finite last.npz
            self._last_written = state


class InMemory(RunFiles):
    """The same bookkeeping with nothing written: a run of the Python API without a directory
    keeps its history and steps in memory. With no checkpoint to write, a captured state is only
    its step count and weights' epoch (what the metrics read), not a copy of every array."""

    def __init__(self, prepared: Prepared) -> None:  # no directory: RunFiles.__init__ writes
        self.prepared = prepared
        self.resolved = prepared.cfg.resolved()
        self.history = []
        self.steps = StepLog()
        self.epoch_end = self.capture()

    def capture(self, params: Array | None = None, params_epoch: int | None = None) -> Checkpoint:
        training = self.prepared.training
        epoch = weights_epoch_of(training, params, params_epoch)
        return Checkpoint({}, step=training.step, params_epoch=epoch)

    def write_checkpoint(self, name: str, state: Checkpoint) -> None:
        """Nothing is written."""

    def flush(self, last: bool = True) -> None:
        """Nothing is written."""
