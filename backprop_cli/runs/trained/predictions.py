"""`bprop predict`'s output: a CSV of each row's prediction (the class by its name, or the
value) and, if asked, each class's probability, computed and written one block of rows at a
time (`Model.block_rows`): memory stays bounded whatever the input's size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...core.task import Task
from ...core.types import Array
from ...system.atomic import atomic_open
from .model import Model
from .model_files import input_blocks


def prediction_text(
    model: Model, path: Path, proba: bool, header: bool = True, rows: int | None = None
) -> Iterator[tuple[str, int]]:
    """The CSV of the predictions for the rows of ``path`` (see `input_blocks`: ``header``,
    ``rows``), a piece at a time with the number of rows it holds: the header line with the
    first block's lines (nothing before the first block is computed), then each block's."""
    names = model.class_names()
    if model.classification:
        columns = ["prediction"] + ([_cell(f"p_{name}") for name in names] if proba else [])
    else:
        width = model.net.output_dim
        columns = ["prediction"] if width == 1 else [f"prediction_{j}" for j in range(width)]
    cells = [_cell(name) for name in names]
    done = 0
    for X in input_blocks(model, path, header, rows):
        outputs = model.outputs(X, str(path), done)
        lines = (
            _lines(model.task, outputs, cells, proba) if model.classification else _values(outputs)
        )
        yield ("" if done else ",".join(columns)) + "\n" + "\n".join(lines), len(outputs)
        done += len(outputs)
    yield "\n", 0


def write_predictions(
    model: Model,
    path: Path,
    out: Path,
    proba: bool,
    header: bool = True,
    exclusive: bool = True,
    rows: int | None = None,
) -> int:
    """Write `prediction_text` to ``out`` as it is computed, into a temporary file renamed to
    ``out`` at the end (with ``exclusive``, never over an existing file): a failure part-way
    leaves no partial output and ``out`` as it was. Returns the number of rows predicted."""
    count = 0
    with atomic_open(out, "w", exclusive) as fh:
        for text, n in prediction_text(model, path, proba, header, rows):
            fh.write(text)
            count += n
    return count


def _lines(task: Task, outputs: Array, cells: list[str], proba: bool) -> list[str]:
    """Each row's class (its CSV cell) and, with ``proba``, each class's probability."""
    classes = task.decide(outputs).tolist()
    if not proba:
        return [cells[c] for c in classes]
    probs = task.probabilities(outputs)
    line = "{}" + ",{:.6g}" * probs.shape[1]  # a float32 is formatted as the float it is
    return [line.format(cells[c], *row) for c, row in zip(classes, probs.tolist(), strict=True)]


def _values(outputs: Array) -> list[str]:
    """Each row's predicted values, every digit that tells floats apart (a price near 1.7e9
    keeps its units, not 6 significant digits)."""
    return [",".join(map(repr, row)) for row in outputs.tolist()]


def _cell(text: str) -> str:
    """A CSV cell: quoted when it holds a comma, a quote or a line break."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
