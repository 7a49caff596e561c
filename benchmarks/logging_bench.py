"""Logging benchmark: what the tensorboard and mlflow loggers cost a run's training.

`bprop train configs/digits.yaml` (as shipped: 64-128-64-10, Adam, minibatches of 64, early
stopping) trains in this process without loggers and with both (tensorboard, and mlflow into a
SQLite store in a temporary folder: the client and the store in this very process, the
costliest way to log), the ways interleaved. Timed: the training itself, from the run's first
event to its stop (every step's and epoch's logging inside it; the run's start and end, where
the loggers create their runs and upload files, outside), median over the repeats. `make bench`
runs it; alone: ``python benchmarks/logging_bench.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def training_seconds(overrides: list[str], out: Path) -> tuple[float, int]:
    """Wall seconds from RunStarted to Stopped of digits with ``overrides``, and its steps."""
    from backprop_cli.config import load_config
    from backprop_cli.core.training import StepDone, Stopped
    from backprop_cli.runs.train.plan import prepare
    from backprop_cli.runs.training import train_into

    plan = prepare(load_config(ROOT / "configs/digits.yaml", overrides))
    started, ended, steps = 0.0, 0.0, 0
    for event in train_into(plan, out, plot=False):
        if type(event).__name__ == "RunStarted":
            started = time.perf_counter()
        elif isinstance(event, StepDone):
            steps += 1
        elif isinstance(event, Stopped):
            ended = time.perf_counter()
    return ended - started, steps


def per_step_us(rows: list[tuple[int, int, float, float, float]], store: str) -> dict[str, float]:
    """Microseconds per update of each logger's per-step path alone, over ``rows``: the
    tensorboard event (serialized, checksummed, written and flushed), and the mlflow metric
    (queued, sent with log_batch into the SQLite store ``store``, the store's work included)."""
    from tensorboardX.event_file_writer import EventsWriter

    from backprop_cli.runs.loggers.tensorboard import TensorBoard
    from backprop_cli.runs.loggers.tracking import client_for, send, step_metrics

    with tempfile.TemporaryDirectory() as tmp:
        board = TensorBoard(Path(tmp), 0)
        board.folder.mkdir()
        board._writer = EventsWriter(str(board.folder / "events"), ".bench.bprop")
        board._steps(rows[:1])  # the first row goes the general way, once per run
        start = time.perf_counter()
        board._steps(rows[1:])
        board._writer.flush()
        tensorboard = (time.perf_counter() - start) / (len(rows) - 1)
    client = client_for(store)
    run_id = client.create_run("0").info.run_id
    start = time.perf_counter()
    send(client, run_id, step_metrics(rows, int(time.time() * 1000)))
    mlflow = (time.perf_counter() - start) / len(rows)
    return {"tensorboard_us": tensorboard * 1e6, "mlflow_us": mlflow * 1e6}


def run(repeats: int = 5) -> dict[str, Any]:
    from backprop_cli.runs.artifacts.step_log import read_steps

    if not all(importlib.util.find_spec(p) for p in ("tensorboardX", "mlflow")):
        return {}
    plain: list[float] = []
    logged: list[float] = []
    steps = 0
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # MLflow's ./mlruns there
        store = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        both = ["output.loggers=[tensorboard, mlflow]", f"output.mlflow.uri={store}"]
        for rep in range(repeats + 1):  # the first round warms the data cache and imports
            a, steps = training_seconds([], Path(tmp) / f"plain-{rep}")
            b, _ = training_seconds(both, Path(tmp) / f"logged-{rep}")
            if rep:
                plain.append(a)
                logged.append(b)
        rows = [
            (int(r["step"]), int(r["epoch"]), r["loss"], r["lr"], r["grad_norm"])
            for r in read_steps(Path(tmp) / "plain-0")
        ]
        each = per_step_us(rows, store)
    p, q = statistics.median(plain), statistics.median(logged)
    step_us = p / steps * 1e6
    return {"steps": steps, "plain_s": p, "logged_s": q, "cost": q / p - 1, "step_us": step_us,
            **each}  # fmt: skip


def report(r: dict[str, Any]) -> list[str]:
    if not r:
        return ["loggers: tensorboardX or mlflow not installed; not measured"]
    step = r["step_us"]
    return [
        f"loggers on configs/digits.yaml ({r['steps']} steps of {step:.0f} µs): training "
        f"{r['plain_s']:.3f} s without, {r['logged_s']:.3f} s with tensorboard and mlflow "
        f"(histograms every 10 epochs; the run's start and end, and MLflow's sending at its "
        f"end, outside): {r['cost']:+.1%}",
        f"  per-step logging alone: tensorboard {r['tensorboard_us']:.1f} µs per update "
        f"({r['tensorboard_us'] / step:.1%} of a step), mlflow {r['mlflow_us']:.1f} µs "
        f"({r['mlflow_us'] / step:.1%}; sent into a SQLite store in this process, the store's "
        "work included: a tracking server does that work in its own process)",
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print("\n".join(report(run())))
