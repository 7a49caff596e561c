"""`bprop cv`: K-fold cross-validation of a config, here, in local processes or on Dask."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import exit_codes
from .console import console, exit_interrupted, fail, fmt, repeated
from .options import ConfigArg, Dask, Jobs, Overrides, TableOnly

if TYPE_CHECKING:
    from ..runs.sweep_results import TrialResult


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
    from ..config import load_config
    from ..errors import BpropError
    from ..runs.cv import fold_config, fold_trials
    from ..runs.execution import StopRequest, check_dask
    from ..runs.layout import CV_FILES
    from ..runs.outcomes import outcome_of_all
    from ..runs.plan import prepare
    from ..runs.rundirs import claim_new_dir
    from ..system.atomic import remove_stale_temporaries
    from ..system.locking import check_free
    from .sweep_cmd import run_shown

    stack = contextlib.ExitStack()
    try:
        if out is not None:
            check_free(out)
        cfg = load_config(config, list(set_ or []))
        # the data (a row for every fold) and network, checked before any file is written
        prepare(fold_config(cfg, folds, folds - 1, str(config)))
        trials = fold_trials(cfg, folds, str(config))
        if dask is not None:
            check_dask(dask)
        new = claim_new_dir(out, Path(cfg.output.dir), f"{cfg.name}-cv")
        out_dir = stack.enter_context(new)
    except BpropError as exc:
        stack.close()
        fail(str(exc))
    with stack:
        StopRequest.remove_stale(out_dir)
        remove_stale_temporaries(out_dir, CV_FILES)
        stop = StopRequest(out_dir)
        results, interrupted = run_shown(
            trials, out_dir, "val_loss", "min", jobs, dask, False, quiet, stop
        )
        _finish(results, out_dir, cfg.name, folds)
    if interrupted:
        again = ["cv", str(config), "--folds", str(folds), *repeated("--set", set_)]
        again += ["--jobs", str(jobs)] if jobs > 1 else []
        exit_interrupted(
            ctx, "interrupted; the folds that finished are summarized. Run again: ", again
        )
    # Every fold must finish for the estimate to stand: else the code of those that did not.
    raise typer.Exit(exit_codes.of_outcome(outcome_of_all(r.status for r in results)))


def _finish(results: list[TrialResult], out_dir: Path, name: str, folds: int) -> None:
    from rich.table import Table

    from ..runs.cv import columns_of, fold_result, summary, write_cv

    per_fold = [fold_result(r, out_dir / r.name) for r in results]
    files = write_cv(per_fold, out_dir, name)
    stats, cols = summary(per_fold), columns_of(per_fold)
    table = Table(title=f"{name}: {folds}-fold cross-validation")
    for column in ("figure", "mean", "std", "per fold"):
        table.add_column(column, justify="left" if column in ("figure", "per fold") else "right")
    ordered = sorted(per_fold, key=lambda f: f.fold)
    for col in cols:
        values = " ".join(_short(f.figures.get(col)) for f in ordered)
        table.add_row(col, fmt(stats["mean"].get(col)), fmt(stats["std"].get(col)), values)
    console.print(table)
    for f in ordered:
        if f.status not in ("ok", "early-stopped"):
            console.print(f"fold {f.fold}: {f.status} {f.detail}", soft_wrap=True, markup=False)
    headline = next((c for c in ("final_val_accuracy", "final_val_loss") if c in cols), None)
    if headline is not None and headline in stats["mean"]:
        n = sum(headline in f.figures for f in per_fold)
        among = f"{n} folds" if n == folds else f"the {n} of {folds} folds that finished"
        console.print(
            f"{headline.removeprefix('final_').replace('_', ' ')}: "
            f"{stats['mean'][headline]:.4f} ± {stats['std'][headline]:.4f} over {among}",
            soft_wrap=True,
        )
    console.print(f"wrote {', '.join(files)} in {out_dir}", soft_wrap=True)


def _short(value: float | None) -> str:
    """A fold's figure in a few characters."""
    if value is None:
        return "–"
    return f"{value:g}" if float(value).is_integer() else f"{value:.3g}"
