"""`bprop compare-optimizers`: race optimizers from the same start and show who won."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import exit_codes
from .console import console, fmt, progress_bar, warning
from .options import ConfigArg, Dask, Jobs, Overrides
from .signals import graceful_stop

if TYPE_CHECKING:
    from ..runs.artifacts.outcomes import RunSummary
    from ..runs.campaigns.race import Race


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
    from ..errors import BpropError
    from ..runs.artifacts.outcomes import outcome
    from ..runs.campaigns.comparison import write_comparison
    from ..runs.campaigns.race import open_race

    names = [n.strip() for n in optimizers.split(",") if n.strip()] if optimizers else None
    if optimizers is not None and not names:
        raise BpropError("--optimizers: give at least one optimizer name")
    if target_loss is not None and not target_loss > 0:
        raise BpropError(f"--target-loss: must be a positive loss (received: {target_loss})")
    with open_race(config, set_ or [], names, target_loss, out, jobs, dask) as race:
        campaign, name = race.campaign, race.cfg.name
        if not quiet:
            console.print(
                f"comparing {', '.join(c.name for c in race.lineup)} on {name}"
                f" ({_where(jobs, dask)}) → {campaign.directory}",
                soft_wrap=True,
            )
        what = "every running optimizer after its current step, cancelling the rest"
        progress = progress_bar(console.is_terminal and not quiet)
        with graceful_stop(what, campaign.request_stop), progress:
            results = campaign.run(race.lineup, _display(progress, quiet))
        written = write_comparison(results, race.lineup, campaign.directory, race.target_loss, name)
        console.print(_table(written.ranking, written.metric, race))
        console.print(written.verdict, soft_wrap=True)
        console.print(f"wrote {', '.join(written.files)} in {campaign.directory}", soft_wrap=True)
        if campaign.stopped:
            console.print(
                f"interrupted; the comparison so far is in {campaign.directory} (comparison.csv)",
                soft_wrap=True,
            )
            raise typer.Exit(exit_codes.INTERRUPTED)
        raise typer.Exit(exit_codes.of_outcome(outcome(r.status for r in results)))


def _where(jobs: int, dask: str | None) -> str:
    if dask is not None:
        return f"on the Dask cluster at {dask}"
    return "serially" if jobs == 1 else f"{jobs} processes"


def _display(progress: Any, quiet: bool) -> Callable[[Any], None]:
    """What shows the campaign's events: a bar per optimizer (its epochs, when it trains here)
    and, unless ``quiet``, a line as each ends."""
    from ..core.training import EpochEnded, EpochStarted, Warned
    from ..runs.campaigns.campaign import JobEnded, JobStarted

    tasks: dict[int, Any] = {}

    def show(event: Any) -> None:
        if isinstance(event, JobStarted):
            total = event.job.config.training.epochs
            tasks[event.index] = progress.add_task(event.job.name, total=total, info="")
        elif isinstance(event, EpochStarted) and tasks:
            current = tasks[max(tasks)]
            progress.update(current, info=f"epoch {event.epoch}  lr {event.lr:.3g}")
        elif isinstance(event, EpochEnded) and tasks:
            current = tasks[max(tasks)]
            info = f"loss {fmt(event.row['train_loss'])}"
            progress.update(current, completed=event.epoch, info=info)
        elif isinstance(event, JobEnded):
            result = event.summary
            task = tasks.get(event.index)
            if task is not None:
                progress.update(task, completed=result.epochs, info=result.status)
            if not quiet:
                console.print(_done_line(result, event.index, event.total), soft_wrap=True)
            for message in result.warnings:
                warning(message, result.name)
        elif isinstance(event, Warned):  # the campaign's
            warning(event.message)

    return show


def _done_line(result: RunSummary, index: int, total: int) -> str:
    from ..runs.artifacts.outcomes import RunStatus

    parts = [f"[{index}/{total}] {result.name}: {result.status}"]
    if result.stop_epoch is not None:
        parts.append(f"at epoch {result.stop_epoch}")
    if result.best_val_loss is not None:
        parts.append(f"best val_loss {fmt(result.best_val_loss)}")
    elif result.best_train_loss is not None:
        parts.append(f"best train_loss {fmt(result.best_train_loss)}")
    parts.append(f"{result.train_seconds:.2f}s")
    if result.status is RunStatus.ERROR:
        parts.append(result.detail)
    return "  ".join(parts)


def _table(ranking: list[RunSummary], metric: str, race: Race) -> Any:
    """Ranked rows, the winner starred; columns only for what the runs have."""
    from rich import box
    from rich.table import Table

    from ..runs.artifacts.outcomes import FINISHED
    from ..runs.campaigns.comparison import target_epoch

    def has(key: str) -> bool:
        return any(getattr(r, key) is not None for r in ranking)

    lineup, target_loss, name = {c.name: c for c in race.lineup}, race.target_loss, race.cfg.name
    columns: list[tuple[str, Any]] = [
        ("optimizer", lambda r: r.name),
        ("lr", lambda r: f"{lineup[r.name].hyperparameters['lr']:g}"),
        ("status", lambda r: r.status + (f"@{r.stop_epoch}" if r.stop_epoch else "")),
        (metric.removesuffix("_loss").replace("_", " "), lambda r: _short(getattr(r, metric))),
    ]
    if has("final_val_accuracy"):
        columns.append(("val acc", lambda r: _short(r.final_val_accuracy)))
    if has("test_accuracy"):
        columns.append(("test acc", lambda r: _short(r.test_accuracy)))
    if target_loss is not None:
        columns.append((f"≤{target_loss:g} at", lambda r: fmt(target_epoch(r, target_loss))))
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
