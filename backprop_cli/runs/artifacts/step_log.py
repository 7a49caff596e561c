"""steps.csv: one row per update (``step``, ``epoch``, ``loss``, ``lr``, ``grad_norm``).

``step`` counts updates from 1 over the whole run, ``loss`` is the batch's mean loss before its
update and ``grad_norm`` the gradient's norm before clipping. The rows of an epoch that did not
finish (a run interrupted or diverged mid-epoch) are kept, so the steps up to a divergence can be
seen; a run resumed from epoch E keeps the rows of epochs ≤ E and redoes the rest, so its
steps.csv is the one an uninterrupted run writes.
"""

from __future__ import annotations

import contextlib
import csv
import math
from pathlib import Path

from ...errors import DataError
from .layout import STEPS

COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm")
Row = tuple[int, int, float, float, float]  # one update, in the order of COLUMNS
HEADER = ",".join(COLUMNS) + "\n"


def csv_number(value: float) -> str:
    """A float as the shortest text that reads back to it (empty for NaN and ±∞, as CSV has
    no spelling of its own for them)."""
    return repr(value) if math.isfinite(value) else ""


class StepLog:
    """The rows of steps.csv, kept as text and extended as updates arrive."""

    def __init__(self, lines: list[str] | None = None) -> None:
        self._lines: list[str] = lines or []
        self._pending: list[Row] = []
        #: The rows this process added (after the ``n_resumed`` rows read back), as numbers.
        self.added: list[Row] = []
        self.n_resumed = len(self._lines)

    @classmethod
    def resumed(cls, run_dir: Path, epoch: int) -> StepLog:
        """The rows of ``run_dir``'s steps.csv up to the end of ``epoch``."""
        path = run_dir / STEPS
        if not path.is_file():
            return cls()
        try:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[1:]
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable steps.csv: {exc}") from None
        kept = []
        for line in lines:
            fields = line.split(",")
            if len(fields) == len(COLUMNS) and fields[1].isdigit() and int(fields[1]) <= epoch:
                kept.append(line)
        return cls(kept)

    def add(self, step: int, epoch: int, loss: float, lr: float, grad_norm: float) -> None:
        row = (step, epoch, loss, lr, grad_norm)
        self._pending.append(row)
        self.added.append(row)

    def resumed_rows(self) -> list[Row]:
        """The rows read back from the resumed run's steps.csv, as numbers."""
        rows = []
        for line in self._lines[: self.n_resumed]:
            step, epoch, *values = line.rstrip("\n").split(",")
            with contextlib.suppress(ValueError):  # a row the file spoiled is left out
                loss, lr, norm = (float(v) if v else math.nan for v in values)
                rows.append((int(step), int(epoch), loss, lr, norm))
        return rows

    def __len__(self) -> int:
        return len(self._lines) + len(self._pending)

    def text(self) -> str:
        """The whole file, header included."""
        if self._pending:
            self._lines.extend(
                f"{s},{e},{csv_number(loss)},{csv_number(lr)},{csv_number(norm)}\n"
                for s, e, loss, lr, norm in self._pending
            )
            self._pending.clear()
        return HEADER + "".join(self._lines)


def read_steps(run_dir: Path) -> list[dict[str, float]]:
    """The rows of ``run_dir``'s steps.csv as numbers (NaN where a value was not finite); []
    when it has none."""
    path = run_dir / STEPS
    if not path.is_file():
        return []
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or list(reader.fieldnames)[: len(COLUMNS)] != list(
                COLUMNS
            ):
                raise DataError(f"{path}: not a steps.csv (expected the columns {HEADER.strip()})")
            return [
                {k: float(v) if v else math.nan for k, v in row.items() if k in COLUMNS}
                for row in reader
            ]
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable steps.csv: {exc}") from None
