"""What the built-in data sets are: task, size, classes, options and where they come from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.split import are_labels
from . import GENERATORS, generator_options, load_raw
from .files import SHIPPED, SHIPPED_TABLES, shipped_path
from .table.encode import Settings, targets
from .table.read import Request, read_table

SOURCES = {
    "xor": "the four XOR points",
    "spirals": "interleaved spiral arms",
    "moons": "two half circles",
    "circles": "a circle in a circle",
    "blobs": "Gaussian clusters",
    "sine": "y = sin(x) + noise",
    "ravine": "ill-conditioned y = Σ x/s",
    "digits": "UCI 8×8 digits, CC BY 4.0",
    "iris": "Fisher's iris, CC BY 4.0",
    "mnist5k": "MNIST 28×28, CC BY-SA 3.0",
    "penguins": "Palmer penguins (text, gaps), CC0",
}


@dataclass
class DatasetRow:
    name: str
    task: str
    samples: int
    features: int
    options: str
    source: str


def describe_datasets() -> list[DatasetRow]:
    """One row per built-in data set, measured by loading it (generated ones at defaults)."""
    rows = []
    for name in [*GENERATORS, *SHIPPED]:
        raw, _ = load_raw(name, None, None, {}, np.random.default_rng(0))
        labelled = are_labels(raw.y)
        options = generator_options(name) if name in GENERATORS else {}
        rows.append(
            DatasetRow(
                name,
                f"{len(np.unique(raw.y))} classes" if labelled else "regression",
                len(raw.X),
                raw.X.shape[1],
                ", ".join(f"{k}={v}" for k, v in options.items()) or "–",
                SOURCES.get(name, ""),
            )
        )
    for name, (_, target) in SHIPPED_TABLES.items():
        table = read_table(shipped_path(name), Request(target), np.dtype(np.float64))
        classes = targets(table, "classification", Settings())[1] or []
        rows.append(
            DatasetRow(name, f"{len(classes)} classes", table.n_rows, len(table.kinds), "–",
                       SOURCES.get(name, ""))
        )  # fmt: skip
    return rows
