"""What a table will be trained as, in plain data (`bprop inspect` prints it; `--json` gives it
as is): its columns and their kinds, missing cells and what is done with them, the task and its
classes, the splits, and the size of the feature matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .encoding import MISSING
from .identifiers import row_identifiers

if TYPE_CHECKING:
    from ..splits import Dataset
    from .encode import Prepared
    from .read import Table

FILLS = {"mean": "filled with the mean", "median": "filled with the median",
         "most_frequent": "filled with the most frequent value"}  # fmt: skip


#: What `inspect` says of a column that identifies rows (see `identifiers`).
IDENTIFIES = "unique per row, like an id: add it to data.drop"


def columns(table: Table, missing: str, identifiers: list[str]) -> list[dict[str, Any]]:
    """One entry per column used: name, kind, categories (categorical), missing cells, action;
    ``identifiers`` (columns unique per row) are flagged."""
    rows = []
    for name, kind in table.kinds.items():
        entry: dict[str, Any] = {"name": name, "kind": kind, "missing": table.missing[name]}
        if kind == "categorical":
            entry["categories"] = len(table.categorical[name].categories)
        entry["action"] = _action(kind, table.missing[name], missing)
        if name in identifiers:
            entry["identifies_rows"] = True
            entry["action"] = "; ".join(filter(None, [entry["action"], IDENTIFIES]))
        rows.append(entry)
    if table.target is not None and table.y is not None:
        y = table.y
        gaps = int((y.codes < 0).sum()) if hasattr(y, "codes") else int((y != y).sum())
        action = "rows dropped" if gaps else ""
        rows.append({"name": table.target, "kind": "target", "missing": gaps, "action": action})
    for name in table.unused:
        rows.append({"name": name, "kind": "unused", "missing": None, "action": "left out"})
    return rows


def _action(kind: str, gaps: int, missing: str) -> str:
    if not gaps:
        return ""
    if missing == "drop":
        return "rows dropped"
    if kind == "categorical":
        return f"category {MISSING}" if missing != "error" else "error (set data.missing)"
    return FILLS.get(missing, "error (set data.missing)")


def report(
    table: Table, identifiers: list[str], prepared: Prepared, data: Dataset, seconds: float
) -> dict[str, Any]:
    """Everything `bprop inspect` shows of a table that prepared without error (``identifiers``:
    its columns unique per row)."""
    encoding = prepared.encoding
    return {
        "source": str(table.source),
        "rows": table.n_rows,
        "columns_in_file": table.columns_in_file,
        "columns": columns(table, encoding.missing, identifiers),
        "task": encoding.task,
        "target": table.target,
        "classes": prepared.class_counts or None,
        "dropped_rows": {
            "missing_target": prepared.dropped_target,
            "missing_features": prepared.dropped_missing,
        },
        "splits": data.sizes(),
        "input_width": encoding.width,
        "feature_bytes": sum(split.X.nbytes for split in data.splits().values()),
        "load_seconds": seconds,
    }


def partial(table: Table, missing: str, task: str) -> dict[str, Any]:
    """What is known of a table whose rows cannot be prepared (the error comes beside it)."""
    return {
        "source": str(table.source),
        "rows": table.n_rows,
        "columns_in_file": table.columns_in_file,
        "columns": columns(table, missing, row_identifiers(table)),
        "task": task,
        "target": table.target,
    }


def one_line(info: dict[str, Any]) -> str:
    """The report in one line, as `bprop train` prints it at the start."""
    kinds = [c["kind"] for c in info["columns"]]
    categorical = kinds.count("categorical")
    task = info["task"]
    if info["classes"]:
        task += f", {len(info['classes'])} classes"
    dropped = sum(info["dropped_rows"].values())
    splits = info["splits"]
    text = (
        f"{info['source']}: {info['rows']:,} rows, {kinds.count('numeric')} numeric"
        + (f" + {categorical} categorical" if categorical else "")
        + f" features → {info['input_width']} inputs; {task}; "
        + f"train/val/test {splits['train']:,}/{splits['val']:,}/{splits['test']:,}"
    )
    if dropped:
        text += f"; {dropped:,} rows dropped for missing values"
    flagged = [c["name"] for c in info["columns"] if c.get("identifies_rows")]
    if flagged:
        text += (
            f"; {', '.join(map(repr, flagged))} {'is' if len(flagged) == 1 else 'are'} unique "
            f"per row, like an id: add {'it' if len(flagged) == 1 else 'them'} to data.drop"
        )
    return text
