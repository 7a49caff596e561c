"""`bprop cv`: K-fold cross-validation of a config, here, in local processes or on Dask."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import exit_codes
from .console import console, exit_interrupted, fmt, repeated
from .options import ConfigArg, Dask, Jobs, Overrides, TableOnly

if TYPE_CHECKING:
    from ..runs.artifacts.outcomes import RunSummary
    from ..runs.campaigns.cv import CrossValidation


def cv(
    ctx: typer.Context,
    config: ConfigArg,
    folds: Annotated[int, typer.Option("--folds", "-k", min=2, help="The number of folds.")] = 5,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="The cross-validation directory (default: {output.dir}/{name}-cv)."
        ),
    ] = None,
    set_: Overrides = None,
    jobs: Jobs = 1,
    dask: Dask = None,
    quiet: TableOnly = False,
) -> None:
    """Cross-validate a config: one run per fold, each holding that fold out for validation.

    The rows left after the test split are cut into K folds (stratified for classification, from
    the config's seed); run k trains on the others and validates on fold k. The table gives the
    mean ± standard deviation of each fold's final and best figures; the directory gets a run
    per fold, cv.csv, cv.json and cv.png (the K learning curves).

    Example:  bprop cv configs/iris.yaml --folds 5 --jobs 2
    """
    from ..runs.artifacts.outcomes import outcome_of_all
    from ..runs.campaigns.cv import open_cv
    from .sweep_cmd import run_shown

    with open_cv(config, set_ or [], folds, out, jobs, dask) as run:
        results = run_shown(run.campaign, run.folds, quiet)
        _finish(run, results, folds)
        interrupted = run.campaign.stopped
    if interrupted:
        again = ["cv", str(config), "--folds", str(folds), *repeated("--set", set_)]
        again += ["--jobs", str(jobs)] if jobs > 1 else []
        exit_interrupted(
            ctx, "interrupted; the folds that finished are summarized. Run again: ", again
        )
    # Every fold must finish for the estimate to stand: else the code of those that did not.
    raise typer.Exit(exit_codes.of_outcome(outcome_of_all(r.status for r in results)))


def _finish(run: CrossValidation, results: list[RunSummary], folds: int) -> None:
    from rich.table import Table

    from ..runs.campaigns.cv import columns_of, finished, summary

    ordered, files = run.write(results)
    stats, cols, name = summary(ordered), columns_of(ordered), run.cfg.name
    table = Table(title=f"{name}: {folds}-fold cross-validation")
    for column in ("figure", "mean", "std", "per fold"):
        table.add_column(column, justify="left" if column in ("figure", "per fold") else "right")
    for col in cols:
        values = " ".join(_short(f.figures.get(col)) for f in ordered)
        table.add_row(col, fmt(stats["mean"].get(col)), fmt(stats["std"].get(col)), values)
    console.print(table)
    for f in ordered:
        if not f.result.status.finished:
            console.print(
                f"fold {f.number}: {f.result.status} {f.result.detail}",
                soft_wrap=True,
                markup=False,
            )
    headline = next((c for c in ("final_val_accuracy", "final_val_loss") if c in cols), None)
    if headline is not None and headline in stats["mean"]:
        n = sum(headline in f.figures for f in finished(ordered))
        among = f"{n} folds" if n == folds else f"the {n} of {folds} folds that finished"
        console.print(
            f"{headline.removeprefix('final_').replace('_', ' ')}: "
            f"{stats['mean'][headline]:.4f} ± {stats['std'][headline]:.4f} over {among}",
            soft_wrap=True,
        )
    console.print(f"wrote {', '.join(files)} in {run.campaign.directory}", soft_wrap=True)


def _short(value: float | None) -> str:
    """A fold's figure in a few characters."""
    if value is None:
        return "–"
    return f"{value:g}" if float(value).is_integer() else f"{value:.3g}"
