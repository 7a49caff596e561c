"""What `bprop inspect` reports of a config's data: a table's full report, or the sizes and
task of a generated, shipped or .npz data set."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...config import ExperimentConfig
from ...core.losses import is_classification
from ...data import table_request, table_source
from ...data.table.inspection import partial
from ...data.table.read import read_table
from ...errors import DataError
from ..trained.seeding import generators
from .build import build_splits


def inspect_data(cfg: ExperimentConfig) -> tuple[dict[str, Any], str | None]:
    """The report of ``cfg``'s data, loaded and split exactly as training would, and None; or,
    for a table whose rows cannot be prepared, what is known of its columns and the error."""
    started = time.perf_counter()
    try:
        splits = build_splits(cfg, generators(cfg.seed).data)
    except DataError as exc:
        path = table_source(cfg.data)
        if path is None or not path.is_file():
            raise
        try:
            table = read_table(path, table_request(cfg.data), np.dtype(cfg.dtype))
        except DataError:
            raise exc from None
        return partial(table, cfg.data.missing, cfg.task()), str(exc)
    if splits.report is not None:
        return splits.report, None
    parts = [split.X for split in splits.splits().values()]
    classes = None
    if splits.labelled:
        counts = np.bincount(splits.labels())
        names = splits.classes or [str(c) for c in range(len(counts))]
        classes = {name: int(n) for name, n in zip(names, counts, strict=False)}
    info = {
        "source": cfg.data.path or f"dataset {cfg.data.dataset}",
        "rows": sum(len(X) for X in parts),
        "columns": [],
        "task": cfg.task() if splits.labelled or not is_classification(cfg.loss) else "regression",
        "target": splits.target_name,
        "classes": classes,
        "dropped_rows": {"missing_target": 0, "missing_features": 0},
        "splits": splits.sizes(),
        "input_width": splits.n_features,
        "feature_bytes": sum(X.nbytes for X in parts),
        "load_seconds": time.perf_counter() - started,
    }
    return info, None
