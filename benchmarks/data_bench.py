"""Loading benchmarks: how fast bprop reads a large CSV and how much memory it takes.

Two files are generated in a temporary folder:
- an MNIST-shaped CSV, 60,000 rows × 785 integer columns (784 pixels 0–255 and a label);
- a HIGGS-shaped CSV, 2,000,000 rows × 29 float columns (a 0/1 label and 28 features).

Each load runs in a fresh process that imports the same libraries first, so that its peak
resident memory (VmHWM) above the peak before the load is what the load itself took. Measured:
- bprop's load (`load_data`: read, split 80/10/10, standardize, float32) without the cache;
- the reference: `pyarrow.csv.read_csv` and the copy of its columns into a float32 matrix;
- bprop's load writing the cache, then a second load served by the cache (memory-mapped).

Figures: seconds (median of ``repeats``), MB/s of the file, and peak memory as a multiple of the
final feature matrix. Also: encoding a text column of 40,000 categories (one per row) for a few
rows, which takes time linear in the categories (a lookup per category, never a search).
Run alone with ``python benchmarks/data_bench.py``; `make bench` runs it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CHILD_PRELUDE = """
import json, os, sys, time
import numpy as np, pyarrow, pyarrow.csv
from backprop_cli.config.models import DataConfig
from backprop_cli.data import load_data

def hwm():
    line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
    return int(line.split()[1]) * 1024

path = sys.argv[1]
before = hwm()
started = time.perf_counter()
"""

BPROP_LOAD = """
data = DataConfig.model_validate(
    {"path": path, "target": "label", "validation_split": 0.1, "test_split": 0.1}
)
splits = load_data(data, "classification", np.random.default_rng(0), True, np.dtype(np.float32))
seconds = time.perf_counter() - started
parts = [split.X for split in splits.splits().values()]
matrix = sum(X.nbytes for X in parts)
cache = (splits.report or {}).get("cache")
"""

REFERENCE_LOAD = """
table = pyarrow.csv.read_csv(path)
X = np.empty((table.num_rows, table.num_columns - 1), dtype=np.float32)
for j, column in enumerate(table.columns[:-1]):
    X[:, j] = column.to_numpy()
y = table.columns[-1].to_numpy()
seconds = time.perf_counter() - started
matrix = X.nbytes
cache = None
"""

CHILD_END = """
print("RESULT", json.dumps({"seconds": seconds, "peak": hwm() - before, "matrix": matrix,
                            "cache": cache}))
"""


def make_mnist_like(path: Path, rows: int = 60_000) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    columns = {f"pixel{j}": rng.integers(0, 256, rows, dtype=np.int32) for j in range(784)}
    columns["label"] = rng.integers(0, 10, rows, dtype=np.int32)
    pacsv.write_csv(pa.table(columns), path)


def make_higgs_like(path: Path, rows: int = 2_000_000) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    columns = {"label": rng.integers(0, 2, rows).astype(np.float32)}
    for j in range(28):
        columns[f"f{j}"] = rng.standard_normal(rows).astype(np.float32)
    # the label last, as bprop's default target
    names = [*(f"f{j}" for j in range(28)), "label"]
    pacsv.write_csv(pa.table({name: columns[name] for name in names}), path)


def _child(body: str, path: Path, env: dict[str, str]) -> dict[str, Any]:
    code = CHILD_PRELUDE + body + CHILD_END
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line.split(" ", 1)[1])


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak": statistics.median(r["peak"] for r in runs),
        "matrix": runs[0]["matrix"],
        "cache": runs[-1]["cache"],
    }


def measure(path: Path, repeats: int, cache_root: Path) -> dict[str, Any]:
    """bprop's load without the cache, the reference, and bprop's loads through the cache,
    alternated so that the machine's load drifts over all of them alike."""
    env = dict(os.environ)
    uncached = env | {"BPROP_NO_CACHE": "1"}
    bprop, reference, hits = [], [], []
    for i in range(repeats):
        bprop.append(_child(BPROP_LOAD, path, uncached))
        reference.append(_child(REFERENCE_LOAD, path, env))
        cached = env | {"BPROP_CACHE_DIR": str(cache_root / f"r{i}")}
        first = _child(BPROP_LOAD, path, cached)
        hits.append(_child(BPROP_LOAD, path, cached))
        assert first["cache"] == "stored" and hits[-1]["cache"] == "hit", (first, hits[-1])
    size = path.stat().st_size
    result = {"file_mb": size / 1e6, "bprop": _median(bprop), "reference": _median(reference),
              "cache_hit": _median(hits)}  # fmt: skip
    result["mb_per_s"] = size / 1e6 / result["bprop"]["seconds"]
    result["time_ratio"] = result["bprop"]["seconds"] / result["reference"]["seconds"]
    for name in ("bprop", "reference", "cache_hit"):
        result[name]["peak_over_matrix"] = result[name]["peak"] / result[name]["matrix"]
    return result


def run(repeats: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mnist, higgs = folder / "mnist60k.csv", folder / "higgs2m.csv"
        make_mnist_like(mnist)
        make_higgs_like(higgs)
        return {
            "mnist_60000x785": measure(mnist, repeats, folder / "cache-mnist"),
            "higgs_2000000x29": measure(higgs, max(1, repeats - 1), folder / "cache-higgs"),
        }


def categorical(categories: int = 40_000, repeats: int = 3) -> dict[str, Any]:
    """Seconds to read a file with a text column of ``categories`` distinct values and to
    one-hot encode three of its rows for a model that knows them all (medians)."""
    import time

    import numpy as np

    from backprop_cli.data.table.encoding import Encoding, Feature
    from backprop_cli.data.table.read import Request, read_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ids.csv"
        path.write_text("c,y\n" + "".join(f"k{i},{i % 2}\n" for i in range(categories)))
        read, encode = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            table = read_table(path, Request(target="y"), np.dtype(np.float64))
            read.append(time.perf_counter() - started)
            known = [f"k{i}" for i in reversed(range(categories))]
            encoding = Encoding(
                [Feature("c", "categorical", categories=known)], "y", "classification"
            )
            started = time.perf_counter()
            encoding.encode(table, np.array([0, 1, 2]), np.dtype(np.float64))
            encode.append(time.perf_counter() - started)
    return {"categories": categories, "read_s": statistics.median(read),
            "encode_s": statistics.median(encode)}  # fmt: skip


def categorical_report(r: dict[str, Any]) -> list[str]:
    return [
        f"A text column of {r['categories']:,} categories: read {r['read_s']:.3f} s, 3 rows "
        f"one-hot encoded in {r['encode_s']:.3f} s (linear in the categories)"
    ]


def report(r: dict[str, Any]) -> list[str]:
    lines = [
        "Loading a CSV (read, split, standardize; float32); medians; peak memory above the",
        "process's peak before the load, as a multiple of the final feature matrix",
        f"{'file':>18} {'MB':>6} {'what':>30} {'s':>7} {'MB/s':>7} {'peak MiB':>9} {'×matrix':>8}",
    ]
    for name, m in r.items():
        for label, key in (
            ("bprop, no cache", "bprop"),
            ("pyarrow read_csv + to NumPy", "reference"),
            ("bprop, served by the cache", "cache_hit"),
        ):
            x = m[key]
            lines.append(
                f"{name:>18} {m['file_mb']:>6.0f} {label:>30} {x['seconds']:>7.2f} "
                f"{m['file_mb'] / x['seconds']:>7.0f} {x['peak'] / 2**20:>9.0f} "
                f"{x['peak_over_matrix']:>8.2f}"
            )
        lines.append(
            f"{'':>18} bprop / reference time: {m['time_ratio']:.2f} (target ≤ 1.5); "
            f"peak {m['bprop']['peak_over_matrix']:.2f}× the matrix (target ≤ 2)"
        )
    return lines


if __name__ == "__main__":
    results = run()
    print("\n".join([*report(results), *categorical_report(categorical())]))
