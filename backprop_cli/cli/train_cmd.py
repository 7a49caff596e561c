"""`bprop train`: run an experiment config and render its progress with Rich."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import exit_codes
from .console import (
    FIGURE_LABELS,
    console,
    exit_interrupted,
    fail,
    fmt,
    in_config,
    loss_label,
    progress_bar,
    repeated,
    shown_path,
    warning,
)
from .options import ConfigArg, Overrides
from .signals import graceful_stop

if TYPE_CHECKING:
    from ..runs.train.run import RunFinished


def train(
    ctx: typer.Context,
    config: ConfigArg,
    out: Annotated[
        Path | None, typer.Option("--out", help="The run directory, exactly (never overwritten).")
    ] = None,
    set_: Overrides = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue the run that wrote this checkpoint.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Override the config's seed.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    diagnostics: Annotated[
        bool,
        typer.Option(
            "--diagnostics",
            help="Record per-layer gradient norms, update ratios and dead ReLUs each epoch, and "
            "warn about vanishing or exploding gradients (training.diagnostics).",
        ),
    ] = False,
) -> None:
    """Train the network a YAML experiment describes and save the run to disk.

    The run directory ({output.dir}/{name}, or --out) receives config.yaml, steps.csv (one row
    per update), history.csv and history.json, metrics.json, loss.png and checkpoints/ (initial,
    every N epochs, best, last).
    An existing run is never overwritten.

    Example:  bprop train configs/mnist5k.yaml --set optimizer.lr=0.003
    """
    from ..config import load_config
    from ..core.training import StopReason
    from ..errors import ConfigError
    from ..runs.artifacts.layout import RunLayout
    from ..runs.artifacts.rundirs import claim_run_dir, run_of_checkpoint
    from ..runs.train.plan import prepare
    from ..runs.train.run import path_note
    from ..runs.training import train_into
    from ..system.locking import check_free

    overrides = list(set_ or []) + ([f"seed={seed}"] if seed is not None else [])
    overrides += ["training.diagnostics=true"] if diagnostics else []
    with contextlib.ExitStack() as stack:
        busy = out or (run_of_checkpoint(resume) if resume is not None else None)
        if busy is not None:
            check_free(busy)  # before the data is loaded
        cfg = load_config(config, overrides)
        try:
            prepared = prepare(cfg, resume)
        except ConfigError as exc:  # found with the data: name the config it is about
            raise ConfigError(in_config(config, exc, overrides)) from None
        if prepared.dataset.report is not None and not quiet:
            from ..data.table.inspection import one_line

            report = prepared.dataset.report
            report = report | {"source": shown_path(report["source"])}
            console.print(one_line(report), soft_wrap=True, highlight=False, markup=False)
        scale = prepared.dataset.target_scale
        if scale is not None and not quiet:
            note = scale.note(prepared.dataset.target_name)
            console.print(note, soft_wrap=True, highlight=False, markup=False)
        claimed = claim_run_dir(
            out, Path(cfg.output.dir), cfg.name, resume, prepared.training.epoch
        )
        run_dir = stack.enter_context(claimed)
        if not quiet:  # once the run is sure to start
            note = path_note(prepared)
            console.print(note, soft_wrap=True, highlight=False, markup=False)
        try:
            with graceful_stop() as stop:
                events = train_into(prepared, run_dir, stop=stop)
                scaled = prepared.dataset.target_scale is not None
                finished = _render(events, quiet, cfg.loss, scaled)
        except KeyboardInterrupt:
            console.print(f"interrupted at once; the files written so far are in {run_dir}")
            raise typer.Exit(exit_codes.INTERRUPTED) from None
    if finished is not None and finished.status == StopReason.DIVERGED:
        fail(f"training diverged: {finished.metrics.get('stop_detail', '')}", exit_codes.DIVERGED)
    if finished is not None and finished.status == StopReason.INTERRUPTED:
        again = ["train", str(config), "--resume", str(RunLayout(run_dir).last)]
        again += repeated("--set", set_)
        again += ["--seed", str(seed)] if seed is not None else []
        again += ["--diagnostics"] if diagnostics else []
        again += ["--quiet"] if quiet else []
        exit_interrupted(
            ctx,
            f"interrupted ({finished.metrics.get('stop_detail', '')}); saved the run as of epoch "
            f"{finished.metrics['epochs_run']}. Continue with: ",
            again,
        )


#: At most about this many per-epoch lines are printed; longer runs print every k-th epoch.
MAX_EPOCH_LINES = 50


def _label(column: str, loss: str, scaled: bool) -> str:
    """A history column's name, saying what a loss column is for an mse network."""
    return loss_label(loss, column, scaled) if column.endswith("_loss") else column


def _epoch_line(row: dict[str, float], epochs: int) -> str:
    parts = [f"epoch {int(row['epoch'])}/{epochs}", f"loss {fmt(row['train_loss'])}"]
    if "train_accuracy" in row:
        parts.append(f"acc {fmt(row['train_accuracy'])}")
    if row.get("val_loss") is not None:
        parts.append(f"val_loss {fmt(row['val_loss'])}")
    if row.get("val_accuracy") is not None:
        parts.append(f"val_acc {fmt(row['val_accuracy'])}")
    parts.append(f"lr {row['lr']:.3g}")
    parts.append(f"{row['train_seconds']:.2f}s")
    return "  ".join(parts)


def _render(events: Any, quiet: bool, loss: str, scaled: bool) -> RunFinished | None:
    from ..core.training import EpochEnded, EpochStarted, StepDone, Stopped, StopReason, Warned
    from ..runs.train.run import RunFinished, RunStarted

    live = console.is_terminal and not quiet
    progress = progress_bar(live)
    finished = None
    epochs, every, lr = 0, 1, 0.0
    with progress:
        epoch_task = batch_task = None
        for event in events:
            if isinstance(event, RunStarted):
                epochs = event.epochs
                every = max(1, -(-(epochs - event.resumed_from) // MAX_EPOCH_LINES))
                if not quiet:
                    resumed = (
                        f", resuming after epoch {event.resumed_from}" if event.resumed_from else ""
                    )
                    console.print(
                        f"training {event.n_params:,} parameters on {event.n_train} samples "
                        f"(validation {event.n_val}, test {event.n_test}){resumed}"
                        f" → {event.run_dir}"
                        + (f"; one line per {every} epochs" if every > 1 else ""),
                        soft_wrap=True,
                    )
                epoch_task = progress.add_task(
                    "epochs", total=epochs, completed=event.resumed_from, info=""
                )
            elif isinstance(event, EpochStarted):
                if batch_task is not None:
                    progress.remove_task(batch_task)
                lr = event.lr
                batch_task = progress.add_task(
                    f"epoch {event.epoch}", total=event.steps, info=f"lr {lr:.3g}"
                )
            elif isinstance(event, StepDone) and live and batch_task is not None:
                if event.step % 10 == 0 or event.step == event.steps:
                    info = f"loss {event.loss:.4f}  lr {lr:.3g}"
                    progress.update(batch_task, completed=event.step, info=info)
            elif isinstance(event, EpochEnded):
                if epoch_task is not None:
                    progress.update(epoch_task, completed=event.epoch)
                shown = event.epoch % every == 0 or event.epoch in (1, epochs)
                if not quiet and shown:
                    console.print(_epoch_line(event.row, epochs), soft_wrap=True)
            elif isinstance(event, Warned):
                warning(event.message, f"epoch {event.epoch}")
            elif isinstance(event, Stopped) and not quiet and event.reason != StopReason.COMPLETED:
                console.print(f"stopped: {event.reason} ({event.detail})")
            elif isinstance(event, RunFinished):
                finished = event
    if finished is not None:
        _summary(finished, loss, scaled)
    return finished


#: The test figures the summary shows (metrics.json holds them all).
SUMMARY_FIGURES = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "rmse", "mae", "r2")


def _summary(finished: RunFinished, loss: str, scaled: bool) -> None:
    from rich.table import Table

    from ..runs.artifacts.layout import CHECKPOINTS

    m = finished.metrics
    table = Table(title=f"run {finished.run_dir}", show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value")
    done = f"{m['epochs_run']} epochs ({m['steps']} steps)"
    if finished.status.finished:
        table.add_row("status", f"{finished.status} after {done}")
    else:  # stopped within an epoch: say which, beside the epochs it completed
        table.add_row("status", f"{finished.status} in epoch {m['stop_epoch']}, after {done}")
    final = m.get("final") or {}
    for key in ("train_loss", "train_accuracy"):
        if final.get(key) is not None:
            table.add_row(f"final {_label(key, loss, scaled)}", fmt(final[key]))
    best = m.get("best")
    if best:
        table.add_row(f"best epoch (by {best['monitor']})", fmt(best["epoch"]))
        for key in ("train_loss", "val_loss", "val_accuracy"):
            if best.get(key) is not None:
                table.add_row(f"  {_label(key, loss, scaled)}", fmt(best[key]))
    test = m.get("test") or {}
    if "loss" in test:
        table.add_row(f"test {loss_label(loss, scaled=scaled)}", fmt(test["loss"]))
    for key in (k for k in SUMMARY_FIGURES if k in test):
        table.add_row(f"test {FIGURE_LABELS[key]}", fmt(test[key]))
    table.add_row(
        "time",
        f"{m['total_seconds']:.1f}s total, {m['train_seconds']:.1f}s in steps "
        f"({m.get('kernels', 'numpy')} updates)",
    )
    folder = CHECKPOINTS + "/"
    table.add_row("files", ", ".join(f for f in finished.files if not f.startswith(folder)))
    saved = [f.removeprefix(folder) for f in finished.files if f.startswith(folder)]
    table.add_row(CHECKPOINTS, ", ".join(saved))
    console.print(table)
