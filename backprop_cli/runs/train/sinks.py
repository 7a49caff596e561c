"""Where a run's record goes: `execute` keeps the `Record` (history, steps, the state at the
end of the last completed epoch) and hands it to the sinks its caller chose, which the training
loop never sees.

- `RunFiles`: the run directory's config.yaml, steps.csv, history.csv, history.json and, at the
  end, metrics.json;
- `Checkpoints`: the checkpoint policy: initial.npz, epoch-NNNN.npz every N epochs, best.npz
  and last.npz;
- `pictures.Pictures`: loss.png and the boundary or fit of the final weights.

A run of the Python API without a directory has no sink: its history comes with the events.

Sinks flush in the order given, each write atomic, so that a crash at any point leaves every
file complete: with ``[RunFiles, Checkpoints]`` the history is at least as far as last.npz.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...config import to_yaml
from ...core.history import columns
from ...core.training import EpochEnded, StopReason
from ...core.types import Array
from ...system.atomic import remove_stale_temporaries, write_text
from ..artifacts.checkpoints import Checkpoint, capture, weights_epoch_of
from ..artifacts.layout import BEST, INITIAL, LAST, RUN_FILES, RunLayout, epoch_checkpoint
from ..artifacts.rundirs import is_checkpoint_name, read_history
from ..artifacts.step_log import Row, StepLog
from .plan import Plan


@dataclass
class Outcome:
    """How a run ended: its status, the figures of metrics.json, and its history."""

    status: StopReason
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(repr=False)


class Record:
    """What a run has done so far: its history rows, its steps, and ``epoch_end``, the full
    state at the end of the last completed epoch (at the start, before any). ``full``: states
    are captured whole (for checkpoints); otherwise only their counters are kept."""

    def __init__(self, plan: Plan, full: bool) -> None:
        self.plan, self.full = plan, full
        self.resolved = plan.cfg.resolved()
        self.history: list[dict[str, float]] = []
        self.steps = StepLog()
        #: The pictures drawn as the run ended (by `pictures.Pictures`), for the sinks after it.
        self.pictures: list[Path] = []
        #: What the sinks have to tell the user (a logger that failed), not yet shown.
        self.warnings: list[str] = []
        source = plan.source_dir
        if source is not None:  # continue the history of the run that wrote the checkpoint
            epoch = plan.training.epoch
            self.history = [r for r in read_history(source) if r["epoch"] <= epoch]
            self.steps = StepLog.resumed(source, epoch)
        self.epoch_end = self.capture()

    def capture(self, params: Array | None = None, params_epoch: int | None = None) -> Checkpoint:
        """The state now (with ``params`` instead of the live weights, when given)."""
        plan, training = self.plan, self.plan.training
        if not self.full:
            epoch = weights_epoch_of(training, params, params_epoch)
            return Checkpoint({}, step=training.step, params_epoch=epoch)
        data = plan.dataset
        return capture(
            training, self.resolved, plan.task, data.scaler, params, params_epoch,
            plan.signature, data.target_scale,
        )  # fmt: skip

    def brought(self, epoch: int, update: int) -> tuple[list[Row], list[dict[str, float]]]:
        """What a resumed run brings from the run it continues, past ``epoch`` and ``update``
        (what a logger already holds): the steps read back and the history rows."""
        steps = [row for row in self.steps.resumed_rows() if row[0] > update]
        return steps, [row for row in self.history if row["epoch"] > epoch]

    def end_epoch(self, row: dict[str, float]) -> None:
        self.history.append(row)
        self.epoch_end = self.capture()


class Sink:
    """Receives a run as it goes; every method does nothing unless a sink overrides it."""

    #: The directory the sink writes to (None: it writes none).
    directory: Path | None = None
    #: Whether it needs whole states (`Record.full`), as checkpoints do.
    needs_states = False

    def start(self, record: Record) -> None:
        """Before the first epoch (of this process: a resumed run has epochs behind it)."""

    def epoch(self, event: EpochEnded, record: Record) -> bool:
        """At the end of an epoch; True asks every sink to `flush` now."""
        return False

    def flush(self, record: Record) -> None:
        """Bring what the sink holds up to date with ``record``."""

    def finish(self, record: Record, outcome: Outcome) -> None:
        """Once the run has ended (after a last `flush`)."""


def history_text(rows: list[dict[str, float]], cols: list[str]) -> tuple[str, str]:
    """history.csv and history.json of ``rows`` (``cols`` in the CSV, in order)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    return buf.getvalue(), json.dumps(rows, indent=2)


class RunFiles(Sink):
    """A run directory's config.yaml, steps.csv, history.csv and history.json as training goes
    (each written atomically, steps before the history), and metrics.json at the end."""

    def __init__(self, run_dir: Path) -> None:
        self.directory = run_dir
        self.layout = RunLayout(run_dir)
        self._rows_written = -1  # what the history files hold
        self._steps_written = -1  # what steps.csv holds

    def start(self, record: Record) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        # temporaries of writes that a killed run left unfinished (their targets are complete)
        remove_stale_temporaries(self.layout.root, RUN_FILES)
        write_text(self.layout.config, to_yaml(record.resolved))
        self.flush(record)  # the history so far: empty, or the resumed run's

    def flush(self, record: Record) -> None:
        if self._steps_written != len(record.steps):
            write_text(self.layout.steps, record.steps.text())
            self._steps_written = len(record.steps)
        history = record.history
        if self._rows_written != len(history):
            cols = columns(record.plan.train.labels is not None)
            cols += [k for k in (history[0] if history else {}) if k not in cols]  # diagnostics
            csv_text, json_text = history_text(history, cols)
            write_text(self.layout.history_csv, csv_text)
            write_text(self.layout.history_json, json_text)
            self._rows_written = len(history)

    def finish(self, record: Record, outcome: Outcome) -> None:
        write_text(self.layout.metrics, json.dumps(outcome.metrics, indent=2))


class Checkpoints(Sink):
    """The checkpoint policy: initial.npz before a fresh run's first epoch, epoch-NNNN.npz
    every ``every`` epochs (0: none), best.npz whenever the best epoch changed, and last.npz,
    the state at the end of the last completed epoch (never non-finite weights)."""

    needs_states = True

    def __init__(self, run_dir: Path, every: int) -> None:
        self.directory = run_dir
        self.layout = RunLayout(run_dir)
        self.every = every
        self._best_pending = False
        self._last_written: Checkpoint | None = None  # what last.npz holds

    def start(self, record: Record) -> None:
        self.layout.checkpoints.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.layout.checkpoints, is_checkpoint_name)
        if record.plan.resume is None:
            self._write(INITIAL, record.epoch_end)

    def epoch(self, event: EpochEnded, record: Record) -> bool:
        self._best_pending = self._best_pending or event.improved
        periodic = bool(self.every) and event.epoch % self.every == 0
        if periodic:
            self._write(epoch_checkpoint(event.epoch), record.epoch_end)
        return periodic

    def flush(self, record: Record) -> None:
        if self._best_pending:
            self._write(BEST, record.capture(record.plan.training.best_params))
            self._best_pending = False
        state = record.epoch_end
        finite = all(np.all(np.isfinite(v)) for v in state.params.values())
        if self._last_written is not state and finite:
            self._write(LAST, state)
            self._last_written = state

    def _write(self, name: str, state: Checkpoint) -> None:
        state.write(self.layout.checkpoint(name))
