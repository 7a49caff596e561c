"""A training run: `execute` wraps the training loop's events, hands the run's record to the
sinks its caller chose (`sinks`: the run directory's files, its checkpoints, its pictures) and
yields the events on (plus `RunStarted` and `RunFinished`) for the CLI to render.

Run directory (`layout.RunLayout`):
    config.yaml, steps.csv, history.csv, history.json, metrics.json, loss.png,
    checkpoints/initial.npz, checkpoints/epoch-NNNN.npz, checkpoints/best.npz, checkpoints/last.npz
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.training import (
    EpochEnded,
    Event,
    StepDone,
    Stopped,
    StopReason,
    Warned,
    evaluate,
    train,
)
from ...system import blas
from ...system.json_values import finite
from .plan import Plan
from .sinks import Outcome, Record, Sink

#: Steps, history, last.npz and best.npz are written at most this often (and always at
#: checkpoint epochs and at the end), so runs of many tiny epochs are not bound by fsync...
FLUSH_SECONDS = 1.0
#: ...nor by rewriting a long steps.csv: between writes at least this many times the last one's
#: duration passes, so writing takes at most about 1/FLUSH_SHARE of the run.
FLUSH_SHARE = 20


@dataclass
class RunStarted:
    run_dir: Path | None  # None: a run that writes nothing
    n_train: int
    n_val: int
    n_test: int
    n_params: int
    resumed_from: int  # epochs already done (0 for a fresh run)
    epochs: int


@dataclass
class RunFinished:
    run_dir: Path | None
    metrics: dict[str, Any]
    status: StopReason
    files: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list, repr=False)


def execute(
    plan: Plan,
    sinks: Sequence[Sink] = (),
    stop: Callable[[], bool] | None = None,
    judge: Callable[[EpochEnded], str | None] | None = None,
) -> Iterator[Event | RunStarted | RunFinished]:
    """Train, handing the run's record to ``sinks`` as events arrive, and yield the events on
    (without sinks nothing is written: the history and metrics come with the events).

    ``stop`` (asked after every step) ends the run early as "interrupted", ``judge`` (shown
    every epoch's end) as "pruned" (`core.training.train`). Whatever ends a run,
    its record's last state is the end of the last completed epoch, so ``--resume`` from
    last.npz redoes an unfinished epoch exactly as an uninterrupted run would have done it; that
    holds too when the caller stops iterating (closes the generator or drops it).
    """
    started = time.perf_counter() - plan.seconds
    net, training = plan.net, plan.training
    record = Record(plan, full=any(sink.needs_states for sink in sinks))
    run_dir = next((sink.directory for sink in sinks if sink.directory is not None), None)
    for sink in sinks:
        sink.start(record)
    n = plan.dataset.sizes()
    yield RunStarted(
        run_dir, n["train"], n["val"], n["test"], net.n_params, training.epoch, training.epochs
    )
    yield from _warnings(record)

    def flush() -> None:
        for sink in sinks:
            sink.flush(record)

    stopped = Stopped(StopReason.COMPLETED, training.epoch)
    last_flush, flush_cost = time.monotonic(), 0.0
    with blas.limited(blas_threads(plan), compiled=training.epoch_kernel is not None):
        for event in train(training, plan.train, plan.val, stop, judge):
            if isinstance(event, StepDone):
                record.steps.add(event.update, event.epoch, event.loss, event.lr, event.grad_norm)
            elif isinstance(event, EpochEnded):
                record.end_epoch(event.row)
                asked = [sink.epoch(event, record) for sink in sinks]
                waited = time.monotonic() - last_flush
                if any(asked) or waited >= max(FLUSH_SECONDS, FLUSH_SHARE * flush_cost):
                    flush_started = time.monotonic()
                    flush()
                    last_flush = time.monotonic()
                    flush_cost = last_flush - flush_started
            elif isinstance(event, Stopped):
                stopped = event
            try:
                yield event
                yield from _warnings(record)
            except GeneratorExit:  # the caller left mid-run (closed or dropped the events)
                flush()
                raise

    monitor = training.monitor
    if stopped.reason.finished and monitor.restore_best and training.best_params is not None:
        # the run ends with the restored best weights, however it finished
        final = record.capture(params_epoch=monitor.best_epoch)
        record.epoch_end = final.resumable_from(record.epoch_end)
    # After divergence or an interruption the live weights are mid-epoch (or non-finite), and
    # the record keeps the last completed epoch.
    flush()
    ended = record.epoch_end
    metrics = _metrics(
        plan, record.history, stopped, started, ended.step or 0, ended.weights_epoch or 0
    )
    outcome = Outcome(stopped.reason, metrics, record.history)
    for sink in sinks:
        sink.finish(record, outcome)
    yield from _warnings(record)
    written = []
    if run_dir is not None:
        written = sorted(
            str(p.relative_to(run_dir))
            for p in run_dir.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
    yield RunFinished(run_dir, metrics, stopped.reason, written, record.history)


def blas_threads(plan: Plan) -> int:
    """The BLAS threads ``plan``'s training runs with (`system.blas.threads_for`)."""
    training = plan.training
    rows = training.batching.batch_size(max(plan.dataset.sizes()["train"], 1))
    return blas.threads_for(rows, plan.net.n_params)


def path_note(plan: Plan) -> str:
    """One line: the code the steps run and why, and the BLAS threads."""
    training, threads = plan.training, blas_threads(plan)
    how = training.kernels
    if training.epoch_kernel is not None:
        how += " (compiled epochs)"
    elif training.step_kernel is not None:
        how += " (compiled steps)"
    why = f" — {training.path}" if training.path else ""
    return f"steps: {how}{why}; {threads} BLAS thread{'s' if threads > 1 else ''}"


def _warnings(record: Record) -> Iterator[Warned]:
    """What the sinks had to say since last asked (a logger that failed), as events."""
    epoch = record.plan.training.epoch
    while record.warnings:
        yield Warned(epoch, record.warnings.pop(0))


def _metrics(
    plan: Plan,
    history: list[dict[str, float]],
    stopped: Stopped,
    started: float,
    steps: int,
    weights_epoch: int,
) -> dict[str, Any]:
    from ..trained.evaluation import scores  # the test figures, once training has ended

    training, data, net = plan.training, plan.dataset, plan.net
    sizes = data.sizes()
    metrics: dict[str, Any] = {
        "stop_reason": stopped.reason,
        "stop_detail": stopped.detail,
        "stop_epoch": stopped.epoch,
        "epochs_run": training.epoch,
        "steps": steps,  # as of the last completed epoch (what last.npz holds)
        # the epoch whose end the final model's weights (last.npz's) are from
        "weights_epoch": weights_epoch,
        "total_seconds": time.perf_counter() - started,
        "train_seconds": sum(r["train_seconds"] for r in history),
        "final": history[-1] if history else {},
        "kernels": training.kernels,
        "samples": {"train": sizes["train"], "validation": sizes["val"], "test": sizes["test"]},
    }
    monitor = training.monitor
    best = next((r for r in history if r["epoch"] == monitor.best_epoch), None)
    if best is not None:
        metrics["best"] = {"monitor": monitor.monitor, **best}
    test = data.test
    if test is not None and stopped.reason.finished:
        held = test.for_loss(net, plan.train.labels is not None)
        loss, _ = evaluate(net, held.X, held.y, held.labels)
        # the figures as `bprop evaluate` computes them: a regression's in the target's units
        outputs, truth, scale = net.predict(test.X), test.y, data.target_scale
        if scale is not None:
            outputs, truth = scale.unscale(outputs), scale.original(truth)
        metrics["test"] = {"loss": loss} | scores(plan.task, outputs, truth)
    return finite(metrics)  # JSON has no NaN/Inf: they are written as null
