"""Logging benchmark: what the tensorboard and mlflow loggers cost a run.

`configs/digits.yaml` (as shipped: 64-128-64-10, Adam, minibatches of 64, early stopping) trains
in this process without loggers, with both (tensorboard, and mlflow to an ``mlflow server``
started here on 127.0.0.1, SQLite behind it, as a tracking server is used), and with both but no
histograms, the ways interleaved, medians over the repeats. Measured:

- the training (from the run's first event to its stop): every step's and epoch's logging is
  inside it;
- the whole run (from the call to its last event): the loggers' start and end too (creating the
  MLflow run, the params, the pictures, the uploads);
- each logger's per-step path alone, per update: the tensorboard event (serialized, checksummed,
  written), and the mlflow metric (made, queued, sent with log_batch to the server).

`make bench` runs it; alone: ``python benchmarks/logging_bench.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: A pause before each timed run, so that the server's work for the last one is not timed in it.
SETTLE_SECONDS = 1.0


def timed_run(overrides: list[str], out: Path) -> tuple[float, float, int]:
    """Wall seconds of digits with ``overrides``: its training (RunStarted to Stopped) and the
    whole run, and its number of steps."""
    from backprop_cli.config import load_config
    from backprop_cli.core.training import StepDone, Stopped
    from backprop_cli.runs.train.plan import prepare
    from backprop_cli.runs.training import train_into

    plan = prepare(load_config(ROOT / "configs/digits.yaml", overrides))
    called = time.perf_counter()
    started, ended, steps = 0.0, 0.0, 0
    for event in train_into(plan, out, plot=True):
        if type(event).__name__ == "RunStarted":
            started = time.perf_counter()
        elif isinstance(event, StepDone):
            steps += 1
        elif isinstance(event, Stopped):
            ended = time.perf_counter()
    return ended - started, time.perf_counter() - called, steps


@contextlib.contextmanager
def tracking_server(folder: Path) -> Iterator[str]:
    """An ``mlflow server`` on 127.0.0.1 (a free port, SQLite in ``folder``) for the block."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
               str(port), "--workers", "1", "--backend-store-uri",
               f"sqlite:///{folder / 'server.db'}", "--artifacts-destination",
               str(folder / "artifacts")]  # fmt: skip
    with (folder / "server.log").open("wb") as log:
        quiet = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job workers
        server = subprocess.Popen(
            command, stdout=log, stderr=log, start_new_session=True, env=quiet
        )
        try:
            for _ in range(240):  # up to two minutes
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(f"{uri}/health", timeout=2),
                ):
                    break
                if server.poll() is not None:
                    raise RuntimeError((folder / "server.log").read_text()[-2000:])
                time.sleep(0.5)
            yield uri
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def per_step_us(rows: list[tuple[int, int, float, float, float]], uri: str) -> dict[str, float]:
    """Microseconds per update of each logger's per-step path alone, over ``rows``: the
    tensorboard event's, and the mlflow step losses' (one every `step_every` updates), made and
    sent to the server in the request that sends the run's status anyway: what they add to it,
    in this process's CPU time and in wall time (the server's storing waited for), medians."""
    from backprop_cli.config.models import MlflowConfig
    from backprop_cli.runs.loggers.event_files import EventWriter
    from backprop_cli.runs.loggers.tensorboard import TensorBoard
    from backprop_cli.runs.loggers.tracking import client_for, send, step_metrics

    with tempfile.TemporaryDirectory() as tmp:
        board = TensorBoard(Path(tmp), 0)
        board._writer = EventWriter(Path(tmp))
        board._steps(rows[:1])  # the first row goes the general way, once per run
        start = time.perf_counter()
        board._steps(rows[1:])
        board._writer.flush()
        tensorboard = (time.perf_counter() - start) / (len(rows) - 1)
    every = int(MlflowConfig.model_fields["step_every"].default)
    client = client_for(uri)
    costs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(5):
        for with_steps in (False, True):
            run_id = client.create_run("0").info.run_id
            metrics = step_metrics(rows, int(time.time() * 1000), every) if with_steps else []
            wall, cpu = time.perf_counter(), time.process_time()
            send(client, run_id, metrics, tags={"bprop.status": "completed"})
            costs[with_steps].append((time.process_time() - cpu, time.perf_counter() - wall))
    cpu, wall = (
        (
            statistics.median(c[i] for c in costs[True])
            - statistics.median(c[i] for c in costs[False])
        )
        / len(rows)
        for i in (0, 1)
    )
    return {"tensorboard_us": tensorboard * 1e6, "mlflow_us": cpu * 1e6,
            "mlflow_wall_us": wall * 1e6, "mlflow_every": every}  # fmt: skip


def run(repeats: int = 9) -> dict[str, Any]:
    from backprop_cli.runs.artifacts.step_log import read_steps

    if not all(importlib.util.find_spec(p) for p in ("tensorboardX", "mlflow")):
        return {}
    ways: dict[str, list[str]] = {"plain": [], "both": [], "no_histograms": []}
    times: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
    steps = 0
    with (
        tempfile.TemporaryDirectory() as tmp,
        contextlib.chdir(tmp),  # anything MLflow writes beside it lands there
        tracking_server(Path(tmp)) as uri,
    ):
        both = ["output.loggers=[tensorboard, mlflow]", f"output.mlflow.uri={uri}"]
        ways |= {"both": both, "no_histograms": [*both, "output.tensorboard.every=0"]}
        names = list(ways)
        for rep in range(repeats + 1):  # the first round warms the data cache and imports
            for way in names[rep % 3 :] + names[: rep % 3]:  # each way first in turn
                time.sleep(SETTLE_SECONDS)  # the server done with the last run's uploads
                training, whole, steps = timed_run(ways[way], Path(tmp) / f"{way}-{rep}")
                if rep:
                    times[way].append((training, whole))
        rows = [
            (int(r["step"]), int(r["epoch"]), r["loss"], r["lr"], r["grad_norm"])
            for r in read_steps(Path(tmp) / "plain-0")
        ]
        each = per_step_us(rows, uri)
    medians = {
        f"{way}_{part}_s": statistics.median(t[i] for t in times[way])
        for way in ways
        for i, part in enumerate(("training", "whole"))
    }
    return {"steps": steps, "step_us": medians["plain_training_s"] / steps * 1e6, **medians,
            **each}  # fmt: skip


def report(r: dict[str, Any]) -> list[str]:
    if not r:
        return ["loggers: tensorboardX or mlflow not installed; not measured"]
    step, plain = r["step_us"], r["plain_training_s"]
    per_step = r["tensorboard_us"] + r["mlflow_us"]
    fixed = (r["both_whole_s"] - r["both_training_s"]) - (r["plain_whole_s"] - plain)
    return [
        f"loggers on configs/digits.yaml ({r['steps']} steps of {step:.0f} µs; tensorboard, "
        "and mlflow to a tracking server on 127.0.0.1):",
        f"  per-step logging: {per_step:.1f} µs per update = {per_step / step:.1%} of a step "
        f"(tensorboard {r['tensorboard_us']:.1f} µs; mlflow {r['mlflow_us']:.1f} µs of this "
        f"process's CPU for the step loss of every {r['mlflow_every']}th update, made and sent "
        f"in batches, {r['mlflow_wall_us']:.1f} µs of wall time with the server's storing "
        "waited for)",
        f"  training {plain:.3f} s without loggers, {r['no_histograms_training_s']:.3f} s with "
        f"both ({r['no_histograms_training_s'] / plain - 1:+.1%}: every step and epoch "
        f"logged), {r['both_training_s']:.3f} s with histograms every 10 epochs too "
        f"({r['both_training_s'] / plain - 1:+.1%})",
        f"  the loggers' start and end (the MLflow run, params, pictures and uploads): "
        f"{fixed:+.3f} s per run",
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print("\n".join(report(run())))
