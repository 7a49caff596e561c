"""`bprop compare-optimizers`: race optimizers from the same start and show who won."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import exit_codes
from .console import console, fail, fmt, progress_bar
from .options import ConfigArg, Dask, Jobs, Overrides
from .signals import graceful_stop

if TYPE_CHECKING:
    from ..runs.race import Result


def compare_optimizers(
    config: ConfigArg,
    optimizers: Annotated[
        str | None,
        typer.Option(
            "--optimizers",
            help="Comma-separated optimizer types (any optimizer.type of the config "
            "reference), each with its defaults and the config's lr. Default: the config's "
            "compare.optimizers, else the seed's four (see compare.optimizers in the reference).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The comparison directory, exactly (must be new or empty)."),
    ] = None,
    set_: Overrides = None,
    jobs: Jobs = 1,
    dask: Dask = None,
    target_loss: Annotated[
        float | None,
        typer.Option(
            "--target-loss",
            help="Report the first epoch each optimizer "
            "brings the train loss to this value (default: compare.target_loss).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the table and verdict.")
    ] = False,
) -> None:
    """Train the config once per optimizer from the same initial weights and batch order.

    Writes one run directory per optimizer (the `bprop train` layout) and comparison.csv,
    comparison.json, loss_curves.png and (for classification) accuracy_curves.png, then ranks the
    optimizers by best validation loss (train loss without validation).

    A diverging optimizer is reported and the others go on. The exit code is 0 when at least one
    optimizer finished, 3 when every one diverged.

    Example:  bprop compare-optimizers configs/compare-digits.yaml --jobs 2
    """
    from ..config import load_config
    from ..errors import BpropError
    from ..runs.execution import StopRequest, check_dask
    from ..runs.outcomes import outcome
    from ..runs.plan import prepare
    from ..runs.race import cancelled, contestants, race
    from ..runs.rundirs import claim_new_dir
    from ..system.locking import check_free

    names = [n.strip() for n in optimizers.split(",") if n.strip()] if optimizers else None
    stack = contextlib.ExitStack()
    try:
        if optimizers is not None and not names:
            raise BpropError("--optimizers: give at least one optimizer name")
        if target_loss is not None and not target_loss > 0:
            raise BpropError(f"--target-loss: must be a positive loss (received: {target_loss})")
        if out is not None:
            check_free(out)  # before the data is loaded
        cfg = load_config(config, list(set_ or []))
        lineup = contestants(cfg, names, str(config))
        prepare(lineup[0].config)  # data, network and labels checked before any file is written
        if dask is not None:
            check_dask(dask)
        if target_loss is None and cfg.compare is not None:
            target_loss = cfg.compare.target_loss
        new = claim_new_dir(out, Path(cfg.output.dir), f"{cfg.name}-compare")
        out_dir = stack.enter_context(new)
    except BpropError as exc:
        stack.close()
        fail(str(exc))

    with stack:
        if not quiet:
            console.print(
                f"comparing {', '.join(c.name for c in lineup)} on {cfg.name}"
                f" ({_where(jobs, dask)}) → {out_dir}",
                soft_wrap=True,
            )
        results: list[Result] = []
        labels = {c.name: c.label for c in lineup}
        StopRequest.remove_stale(out_dir)
        stop = StopRequest(out_dir)
        what = "every running optimizer after its current step, cancelling the rest"
        try:
            with graceful_stop(what, stop.request):
                _render(race(lineup, out_dir, target_loss, jobs, stop, dask), quiet, results)
        except KeyboardInterrupt:  # a second Ctrl-C: the optimizers not done are cancelled
            stop.request()
            done = {r.optimizer for r in results}
            results += [cancelled(c, out_dir / c.name) for c in lineup if c.name not in done]
        finally:
            stop.clear()
        _finish(results, labels, out_dir, target_loss, cfg.name)
        if stop():
            console.print(
                f"interrupted; the comparison so far is in {out_dir} (comparison.csv)",
                soft_wrap=True,
            )
            raise typer.Exit(exit_codes.INTERRUPTED)
        raise typer.Exit(exit_codes.of_outcome(outcome(r.status for r in results)))


def _where(jobs: int, dask: str | None) -> str:
    if dask is not None:
        return f"on the Dask cluster at {dask}"
    return "serially" if jobs == 1 else f"{jobs} processes"


def _render(events: Any, quiet: bool, results: list[Result]) -> None:
    """Show progress, appending each finished optimizer's result to ``results``."""
    from ..core.training import EpochEnded, EpochStarted
    from ..runs.race import ContestantDone, ContestantStarted

    live = console.is_terminal and not quiet
    progress = progress_bar(live)
    with progress:
        tasks: dict[int, Any] = {}
        for event in events:
            if isinstance(event, ContestantStarted):
                name = event.contestant.name
                total = event.contestant.config.training.epochs
                tasks[event.index] = progress.add_task(name, total=total, info="")
            elif isinstance(event, EpochStarted) and tasks:
                current = tasks[max(tasks)]
                progress.update(current, info=f"epoch {event.epoch}  lr {event.lr:.3g}")
            elif isinstance(event, EpochEnded) and tasks:
                current = tasks[max(tasks)]
                info = f"loss {fmt(event.row['train_loss'])}"
                progress.update(current, completed=event.epoch, info=info)
            elif isinstance(event, ContestantDone):
                result = event.result
                results.append(result)
                task = tasks.get(event.index)
                if task is not None:
                    progress.update(task, completed=result.epochs_run, info=result.status)
                if not quiet:
                    console.print(_done_line(result, event.index, event.total), soft_wrap=True)


def _done_line(result: Result, index: int, total: int) -> str:
    parts = [f"[{index}/{total}] {result.optimizer}: {result.status}"]
    if result.stop_epoch is not None:
        parts.append(f"at epoch {result.stop_epoch}")
    if result.best_val_loss is not None:
        parts.append(f"best val_loss {fmt(result.best_val_loss)}")
    elif result.best_train_loss is not None:
        parts.append(f"best train_loss {fmt(result.best_train_loss)}")
    parts.append(f"{result.train_seconds:.2f}s")
    if result.status == "error":
        parts.append(result.detail)
    return "  ".join(parts)


def _finish(
    results: list[Result],
    labels: dict[str, str],
    out_dir: Path,
    target_loss: float | None,
    name: str,
) -> None:
    from ..runs.comparison import write_comparison

    written = write_comparison(results, labels, out_dir, target_loss, name)
    console.print(_table(written.ranking, written.metric, target_loss, name))
    console.print(written.verdict, soft_wrap=True)
    console.print(f"wrote {', '.join(written.files)} in {out_dir}", soft_wrap=True)


def _table(ranking: list[Result], metric: str, target_loss: float | None, name: str) -> Any:
    """Ranked rows, the winner starred; columns only for what the runs have."""
    from rich import box
    from rich.table import Table

    from ..runs.outcomes import FINISHED

    def has(key: str) -> bool:
        return any(getattr(r, key) is not None for r in ranking)

    columns: list[tuple[str, Any]] = [
        ("optimizer", lambda r: r.optimizer),
        ("lr", lambda r: f"{r.hyperparameters['lr']:g}"),
        ("status", lambda r: r.status + (f"@{r.stop_epoch}" if r.stop_epoch else "")),
        (metric.removesuffix("_loss").replace("_", " "), lambda r: _short(getattr(r, metric))),
    ]
    if has("final_val_accuracy"):
        columns.append(("val acc", lambda r: _short(r.final_val_accuracy)))
    if has("test_accuracy"):
        columns.append(("test acc", lambda r: _short(r.test_accuracy)))
    if target_loss is not None:
        columns.append((f"≤{target_loss:g} at", lambda r: fmt(r.target_epoch)))
    columns.append(("time", lambda r: f"{r.train_seconds:.2f}s"))

    table = Table(title=f"{name}: optimizers ranked by {metric.replace('_', ' ')}",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    table.add_column("#", justify="right")
    for title, _ in columns:
        left = title in ("optimizer", "status")
        table.add_column(title, justify="left" if left else "right", no_wrap=left)
    winner = ranking[0] if ranking and ranking[0].status in FINISHED else None
    for rank, r in enumerate(ranking, start=1):
        style = "bold green" if r is winner else ("red" if r.status not in FINISHED else None)
        cells = [get(r) for _, get in columns]
        table.add_row("★" if r is winner else str(rank), *cells, style=style)
    return table


def _short(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"
