"""The figures configs/lessons/README.md quotes, from one training of every lesson config.

Chaotic runs (large rates, oversized weights) end in different places under different BLAS
kernels, so the README quotes each figure as the range measured under several kernels. Run this
once per kernel and merge the outputs:

    for k in Haswell SkylakeX Sandybridge; do
        OPENBLAS_CORETYPE=$k python benchmarks/lesson_figures.py --json > figures-$k.json
    done
    env -u OPENBLAS_CORETYPE python benchmarks/lesson_figures.py --json > figures-default.json
    python benchmarks/lesson_figures.py --merge figures-*.json

The output names the OpenBLAS kernel it ran under (threadpoolctl, where installed, else the
variable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "configs" / "lessons"


def kernel() -> str:
    """The OpenBLAS kernel this process runs, as threadpoolctl reports it where installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.environ.get("OPENBLAS_CORETYPE", "default") + " (OPENBLAS_CORETYPE)"
    import numpy  # noqa: F401  (loads its BLAS)

    found = [i for i in threadpool_info() if i["internal_api"] == "openblas"]
    return ",".join(i.get("architecture", "?") for i in found) or "no OpenBLAS"


def train(name: str, out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(history, metrics) of configs/lessons/<name>.yaml trained as written."""
    from backprop_cli.config import load_config
    from backprop_cli.runs.train.run import RunFinished, execute, prepare

    events = list(execute(prepare(load_config(LESSONS / f"{name}.yaml")), out / name, plot=False))
    assert isinstance(events[-1], RunFinished)
    history = json.loads((out / name / "history.json").read_text())
    return history, events[-1].metrics


def spread(history: list[dict[str, Any]]) -> float:
    """First layer's gradient norm over the last layer's, in the first epoch."""
    norms = [v for k, v in history[0].items() if k.endswith(".grad_norm") and k != "grad_norm"]
    return float(norms[0] / norms[-1])


def figures(out: Path) -> dict[str, float]:
    """Every figure of configs/lessons/README.md, by a name that says what it is."""
    import numpy as np

    from backprop_cli.runs.reports.step_plot import read_step_series

    f: dict[str, float] = {}
    fixes = ("relu", "batchnorm", "residual", "init")
    for name in ["vanishing-sigmoid"] + [f"vanishing-fix-{x}" for x in fixes]:
        history, _ = train(name, out)
        f[f"{name} spread"] = spread(history)
        f[f"{name} val_accuracy"] = history[-1]["val_accuracy"]
    history, metrics = train("exploding", out)
    f["exploding stop_epoch"] = metrics["stop_epoch"] if "stop_epoch" in metrics else len(history)
    for name in ("exploding-fix-clipping", "exploding-fix-init", "exploding-fix-batchnorm"):
        history, metrics = train(name, out)
        f[f"{name} grad_norm epoch 1"] = history[0]["grad_norm"]
        f[f"{name} train_loss"] = history[-1]["train_loss"]
        f[f"{name} val_loss"] = history[-1]["val_loss"]
        f[f"{name} val_accuracy"] = history[-1]["val_accuracy"]
        f[f"{name} test loss"] = metrics["test"]["loss"]
        f[f"{name} test accuracy"] = metrics["test"]["accuracy"]
        f[f"{name} val_loss / train_loss"] = history[-1]["val_loss"] / history[-1]["train_loss"]
    for name in ["dying-relu"] + [f"dying-relu-fix-{x}" for x in ("leaky", "elu", "prelu")]:
        history, _ = train(name, out)
        if "layers.1.dead_fraction" in history[0]:
            f[f"{name} dead share epoch 1"] = history[0]["layers.1.dead_fraction"]
            f[f"{name} dead share"] = history[-1]["layers.1.dead_fraction"]
        f[f"{name} val_accuracy"] = history[-1]["val_accuracy"]
    for name in ("ravine-sgd", "ravine-fix-momentum"):
        f[f"{name} train_loss"] = train(name, out)[0][-1]["train_loss"]
    for name in ("batching-full", "batching-minibatch", "batching-sgd"):
        history, _ = train(name, out)
        rows = read_step_series(name, out / name).rows
        losses = np.array([r["loss"] for r in rows[-len(rows) // 4 :]])
        f[f"{name} updates"] = len(rows)
        f[f"{name} step-loss spread"] = float(losses.std() / losses.mean())
        f[f"{name} train_loss"] = history[-1]["train_loss"]
    for name in ("lr-too-large", "lr-fix-schedule"):
        last = [r["train_loss"] for r in train(name, out)[0][-10:]]
        f[f"{name} last 10 epochs mean"] = float(np.mean(last))
        f[f"{name} last 10 epochs range"] = max(last) - min(last)
    return f


def merge(paths: list[Path]) -> str:
    """A table of each figure's value under each kernel, and its range."""
    runs = [json.loads(p.read_text()) for p in paths]
    lines = ["figure | " + " | ".join(r["kernel"] for r in runs) + " | range"]
    for key in runs[0]["figures"]:
        values = [r["figures"][key] for r in runs]
        cells = " | ".join(f"{v:.3g}" for v in values)
        lines.append(f"{key} | {cells} | {min(values):.3g} to {max(values):.3g}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON (for --merge)")
    parser.add_argument("--merge", nargs="+", type=Path, help="JSON outputs to tabulate")
    args = parser.parse_args()
    if args.merge:
        print(merge(args.merge))
        return
    with tempfile.TemporaryDirectory() as out:
        result = {"kernel": kernel(), "figures": figures(Path(out))}
    if args.json:
        json.dump(result, sys.stdout, indent=1)
    else:
        print(f"OpenBLAS kernel: {result['kernel']}")
        for key, value in result["figures"].items():
            print(f"{key}: {value:.4g}")


if __name__ == "__main__":
    main()
