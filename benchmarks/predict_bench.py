"""Prediction benchmark: the peak memory of `bprop predict` on a large CSV.

A small classifier (3 numeric columns, 16 tanh units, 2 classes) is trained on 2,000 rows; then
`bprop predict` writes the predictions for a generated file of 2,000,000 rows × 3 columns
(57 MB), with and without ``--proba``, each in a fresh process, and for a file of 10 rows (what
the interpreter and the libraries take). Figures: the peak resident memory (VmHWM) and the wall
time of each run. `make bench` runs it; alone: ``python benchmarks/predict_bench.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROWS = 2_000_000

CONFIG = """name: predict-bench
data: {path: train.csv, target: label}
model:
  layers:
    - {type: dense, units: 16, activation: tanh}
    - {type: dense, units: 2, activation: softmax}
loss: cross_entropy
training: {epochs: 3}
"""

PREDICT = (
    "from backprop_cli.cli.app import app\n"
    "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
)


def write_files(folder: Path, rows: int) -> None:
    """train.csv (2,000 labelled rows), big.csv (``rows`` rows) and small.csv (10 rows)."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    formats = ["%.6f"] * 3
    np.savetxt(folder / "train.csv", np.c_[X[:2000], y[:2000]], delimiter=",",
               header="a,b,c,label", comments="", fmt=[*formats, "%d"])  # fmt: skip
    np.savetxt(folder / "big.csv", X, delimiter=",", header="a,b,c", comments="", fmt=formats)
    np.savetxt(folder / "small.csv", X[:10], delimiter=",", header="a,b,c", comments="",
               fmt=formats)  # fmt: skip


def run(peak_rss_mib: Callable[[str, list[str]], float], rows: int = ROWS) -> dict[str, Any]:
    """Peak MiB and seconds of `bprop predict` on ``rows`` rows (and on 10), measured by
    ``peak_rss_mib(code, argv)`` (a child process's VmHWM)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_files(folder, rows)
        (folder / "config.yaml").write_text(CONFIG)
        subprocess.run(
            [sys.executable, "-m", "backprop_cli", "train", str(folder / "config.yaml"),
             "--out", str(folder / "run"), "--quiet"],
            check=True, capture_output=True,
        )  # fmt: skip
        size = (folder / "big.csv").stat().st_size
        result: dict[str, Any] = {"rows": rows, "file_mb": size / 1e6}
        for name, data, extra in (
            ("small", "small.csv", []),
            ("big", "big.csv", []),
            ("big_proba", "big.csv", ["--proba"]),
        ):
            out = folder / f"{name}-predictions.csv"
            args = ["predict", str(folder / "run"), str(folder / data), "--out", str(out), *extra]
            started = time.perf_counter()
            peak = peak_rss_mib(PREDICT, args)
            result[name] = {"peak_mib": peak, "seconds": time.perf_counter() - started}
        return result


def report(r: dict[str, Any]) -> list[str]:
    small = r["small"]["peak_mib"]
    lines = [
        f"bprop predict, {r['rows']:,} rows × 3 columns ({r['file_mb']:.0f} MB CSV), fresh "
        "processes: peak memory (above the same command on 10 rows) and wall time",
        f"{'10 rows':>22}: {small:>6.0f} MiB",
    ]
    for key, label in (("big", "predictions"), ("big_proba", "with --proba")):
        x = r[key]
        lines.append(
            f"{label:>22}: {x['peak_mib']:>6.0f} MiB (+{x['peak_mib'] - small:.0f}) "
            f"{x['seconds']:>6.2f} s"
        )
    return lines


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench import peak_rss_mib

    print("\n".join(report(run(peak_rss_mib))))
