"""Search benchmark: what random search, TPE, and TPE with a pruner spend to reach a target.

On two shipped tasks (`configs/digits.yaml`, `configs/penguins.yaml`) each search runs a fixed
budget of trials over the same space, here, one trial at a time (``--jobs 1``: the order of the
trials is the order they ran), for each of several search seeds. The target is a validation loss
that random search reaches in about half its budget: the median, over the seeds, of random
search's best after half its trials. For each search we count what it spent, in the order its
trials ran, until its first finished trial at or below the target: the epochs trained (a pruned
trial's count too) and the trials' seconds. Reported: how many seeds reached the target, and the
median and quartiles of the epochs and seconds, beside random search's.

`make bench-search` runs it; alone: ``python benchmarks/search_bench.py [--seeds N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: The trials each search may run.
BUDGET = 30
TASKS: dict[str, dict[str, Any]] = {
    "digits": {
        "config": "configs/digits.yaml",
        "space": {
            "optimizer.lr": "loguniform:1e-4:3e-2",
            "model.layers.0.units": "int:16:256",
            "training.batching.size": "choice:16,32,64,128",
        },
    },
    "penguins": {
        "config": "configs/penguins.yaml",
        "space": {
            "optimizer.lr": "loguniform:1e-4:1e-1",
            "model.layers.0.units": "int:2:64",
            "training.batching.size": "choice:8,16,32,64",
        },
    },
}
PRUNER = {"type": "median", "min_epochs": 5, "startup_trials": 5}
METHODS: dict[str, dict[str, Any]] = {
    "random": {"search": {"type": "random"}},
    "tpe": {"search": {"type": "tpe"}},
    "tpe + median pruner": {"search": {"type": "tpe"}, "pruner": PRUNER},
    "tpe + hyperband": {
        "search": {"type": "tpe"},
        "pruner": {"type": "hyperband", "min_epochs": 3, "reduction_factor": 3},
    },
}


def run_search(task: str, method: str, seed: int, tmp: Path) -> list[dict[str, Any]]:
    """The trials of one search, in the order they ran."""
    from typer.testing import CliRunner

    from backprop_cli.cli.app import app

    spec = TASKS[task]
    cfg = yaml.safe_load((ROOT / spec["config"]).read_text())
    settings = METHODS[method]
    search = settings["search"] | {"trials": BUDGET, "seed": seed}
    cfg["sweep"] = {"space": spec["space"], "search": search, "metric": "val_loss"}
    if "pruner" in settings:
        cfg["sweep"]["pruner"] = settings["pruner"]
    cfg["data"].pop("path", None)
    path = tmp / f"{task}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp / f"{task}-{method.replace(' ', '')}-{seed}"
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), "--quiet"])
    if result.exit_code != 0:
        raise RuntimeError(f"{task} {method} {seed}: {result.output}")
    trials = json.loads((out / "sweep.json").read_text())["trials"]
    return sorted(trials, key=lambda t: t["id"])


def spent_to_reach(trials: list[dict[str, Any]], target: float) -> tuple[float, float]:
    """Epochs and seconds the trials spent, in order, up to the first finished one at or below
    ``target`` (inf when none reached it)."""
    epochs, seconds = 0, 0.0
    for t in trials:
        epochs += t["epochs"]
        seconds += t["seconds"]
        finished = t["status"] in ("ok", "early-stopped")
        if finished and t["score"] is not None and t["score"] <= target:
            return float(epochs), seconds
    return math.inf, math.inf


def best_after(trials: list[dict[str, Any]], count: int) -> float:
    scores = [t["score"] for t in trials[:count]
              if t["status"] in ("ok", "early-stopped") and t["score"] is not None]  # fmt: skip
    return min(scores) if scores else math.inf


def quartiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0], ordered[0]
    q1, q2, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, q2, q3


def run(seeds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            runs = {m: [run_search(task, m, s, Path(tmp)) for s in range(seeds)] for m in METHODS}
            target = statistics.median(best_after(t, BUDGET // 2) for t in runs["random"])
            table = {}
            for method, searches in runs.items():
                spent = [spent_to_reach(t, target) for t in searches]
                reached = [s for s in spent if math.isfinite(s[0])]
                table[method] = {
                    "reached": len(reached),
                    "epochs": quartiles([e for e, _ in spent]),
                    "seconds": quartiles([s for _, s in spent]),
                    "epochs_all": sum(t["epochs"] for ts in searches for t in ts) / seeds,
                    "pruned": sum(t["status"] == "pruned" for ts in searches for t in ts) / seeds,
                }
            results[task] = {"target": target, "methods": table}
    return results


def report(r: dict[str, Any], seeds: int) -> list[str]:
    lines = [f"searches of {BUDGET} trials, {seeds} seed(s) each, one trial at a time; target: "
             "random search's median best val_loss after half its trials"]  # fmt: skip
    if not all(os.environ.get(v) is None for v in OPENBLAS_VARS):
        lines.append("(OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE as set)")
    else:
        lines.append("(OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for this run)")
    for task, found in r.items():
        table = found["methods"]
        base = table["random"]["epochs"][1]
        lines.append(f"{task}: target val_loss {found['target']:.4g}")
        lines.append("  method               | reached | epochs to target: median [q1, q3] "
                     "| seconds: median [q1, q3] | × random's epochs | epochs, whole search "
                     "| pruned trials")  # fmt: skip
        for method, row in table.items():
            q1, q2, q3 = row["epochs"]
            s1, s2, s3 = row["seconds"]
            ratio = q2 / base if math.isfinite(q2) and math.isfinite(base) else math.nan
            lines.append(
                f"  {method:<20} | {row['reached']:>2}/{seeds:<4} | {q2:>7.0f} [{q1:.0f}, {q3:.0f}]"
                f" | {s2:>6.2f} [{s1:.2f}, {s3:.2f}] | {ratio:.2f} | {row['epochs_all']:.0f} "
                f"| {row['pruned']:.1f}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--unset-openblas-env", action="store_true")
    args = parser.parse_args()
    if args.unset_openblas_env and any(v in os.environ for v in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    sys.path.insert(0, str(ROOT))
    results = run(args.seeds)
    print("\n".join(report(results, args.seeds)))
    (ROOT / "benchmarks" / "search_latest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
