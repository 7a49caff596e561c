"""`bprop sweep`: a hyperparameter search, here, in local processes or on a Dask cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import exit_codes
from .console import console, exit_interrupted, fmt, progress_bar, repeated, warning
from .options import ConfigArg, Dask, Jobs, Overrides, TableOnly

if TYPE_CHECKING:
    from ..runs.artifacts.outcomes import RunSummary
    from ..runs.campaigns.campaign import Campaign
    from ..runs.campaigns.search import GuidedSearch
    from ..runs.campaigns.sweep import Trial
    from ..runs.campaigns.trials import ResumePlan, Sweep


#: Trials listed in the terminal's table; sweep.csv and sweep.json hold them all.
SHOWN_TRIALS = 15


def sweep(
    ctx: typer.Context,
    config: ConfigArg,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="key.path=v1,v2,... (repeatable; every combination)."),
    ] = None,
    random: Annotated[
        int | None, typer.Option("--random", min=1, help="Trials drawn at random from --space.")
    ] = None,
    space: Annotated[
        list[str] | None,
        typer.Option(
            "--space",
            help="key.path=uniform:a:b, loguniform:a:b, int:a:b or choice:v1,v2 (repeatable).",
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="History column that ranks trials (default: val_loss, "
            "or train_loss without validation).",
        ),
    ] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="min (default) or max.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="The sweep directory (new, or the one to resume).")
    ] = None,
    set_: Overrides = None,
    jobs: Jobs = 1,
    dask: Dask = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Run only the trials --out does not hold finished.")
    ] = False,
    quiet: TableOnly = False,
    folds: Annotated[
        int | None,
        typer.Option(
            "--folds",
            min=2,
            help="Cross-validate every trial over this many folds (as bprop cv) and rank the "
            "trials by the mean of their folds' scores.",
        ),
    ] = None,
) -> None:
    """Train one run per trial of a search space and rank the trials.

    The space comes from the config's sweep: section and --grid / --random with --space. Every
    trial's config is validated first; invalid ones are reported and skipped. The sweep directory
    gets a run directory per trial, sweep.csv, sweep.json, best.yaml (the winner's config, ready
    for bprop train), sweep.png, search.png and parallel.png.

    With bprop[tune], sweep.search (type tpe, cmaes or gp) picks each trial from the results so
    far and sweep.pruner (median, successive_halving, hyperband) stops poor trials early; the
    study is kept in the sweep directory (study.journal) and --resume continues it.

    Example:  bprop sweep configs/spirals.yaml --grid optimizer.lr=0.1,0.01,0.001 --jobs 2
    """
    from ..runs.artifacts.outcomes import RunStatus, outcome
    from ..runs.campaigns.trials import open_sweep

    with open_sweep(
        config, set_ or [], grid or [], space or [], random, metric, mode, folds, out, resume,
        jobs, dask,
    ) as run:  # fmt: skip
        for trial in run.trials:
            if trial.config is None:
                console.print(
                    f"[yellow]skipped[/] trial {trial.id} {trial.params}:", soft_wrap=True
                )
                for line in trial.problem.splitlines():
                    console.print(f"  {line}", soft_wrap=True, markup=False)
        if run.guided is not None:
            results = run_guided(run, quiet)
        else:
            plan = run.plan(resume)
            _report_changes(plan)
            results = run.results(run_shown(run.campaign, plan.todo, quiet, run.kept(plan)))
        _finish(run, results)
        out_dir, interrupted = run.campaign.directory, run.campaign.stopped
        planned = run.guided.total if run.guided is not None else len(results)
    if interrupted:
        again = ["sweep", str(config), "--out", str(out_dir), "--resume"]
        again += repeated("--grid", grid) + repeated("--space", space)
        again += ["--random", str(random)] if random is not None else []
        again += ["--metric", metric] if metric else []
        again += repeated("--set", set_)
        again += ["--jobs", str(jobs)] if jobs > 1 else []
        again += ["--dask", dask] if dask else []
        again += ["--folds", str(folds)] if folds is not None else []
        ended = [r for r in results if r.status not in (RunStatus.INTERRUPTED, RunStatus.CANCELLED)]
        exit_interrupted(
            ctx,
            f"interrupted with {len(ended)} of {planned} trials done; continue with: ",
            again,
        )
    raise typer.Exit(exit_codes.of_outcome(outcome(r.status for r in results)))


def run_guided(run: Sweep, quiet: bool) -> list[RunSummary]:
    """The trials of a guided sweep, asked of its study as workers come free (those a resumed
    search kept first), shown as `run_shown` shows a list's."""
    guided = run.guided
    assert guided is not None
    kept = list(guided.summaries.values())
    todo = guided.total - len(guided.trials)  # those to ask again are not counted yet
    pruner = (run.search.pruner or {}).get("type")
    how = f"{run.search.sampler} search" + (f", {pruner} pruner" if pruner else "")
    again = [name for name, _, _ in guided.again]
    if again and not quiet:
        shown = ", ".join(again[:10]) + (" …" if len(again) > 10 else "")
        console.print(
            f"asking again {len(again)} trials that were running when the search stopped (their "
            f"folders are trained afresh): {shown}",
            soft_wrap=True,
            markup=False,
        )
    run_shown(run.campaign, guided, quiet, kept, todo, how)
    if guided.out_of_time:  # even with --quiet: it is why the table is short
        console.print(
            f"the time budget ({run.search.time_budget:g} s) is spent: {len(guided.trials)} "
            f"of {guided.total} trials started",
            soft_wrap=True,
        )
    return guided.results()


def run_shown(
    campaign: Campaign,
    runs: list[Trial] | GuidedSearch,
    quiet: bool,
    done: list[RunSummary] | None = None,
    count: int | None = None,
    how: str = "",
) -> list[RunSummary]:
    """The summaries of ``done`` (runs that had finished already), then of ``runs`` (a list, or
    a guided search's trials, ``count`` of them planned), run in ``campaign`` with a bar of the
    runs and, unless ``quiet``, a line as each ends."""
    from ..core.training import Warned
    from ..runs.campaigns.campaign import JobEnded
    from .signals import graceful_stop

    done = done or []
    count = len(runs) if isinstance(runs, list) else count or 0
    if not quiet:
        where = (
            f"the Dask cluster at {campaign.dask}"
            if campaign.dask
            else (f"{campaign.n_jobs} processes" if campaign.n_jobs > 1 else "this process")
        )
        already = f"; {len(done)} already finished" if done else ""
        how = f" ({how})" if how else ""
        console.print(
            f"{count} trials{how} on {where} → {campaign.directory}{already}", soft_wrap=True
        )
    ids = {t.name: t.id for t in runs} if isinstance(runs, list) else None
    progress = progress_bar(console.is_terminal and not quiet)
    what = "every running trial after its current step, cancelling the queued ones"
    with graceful_stop(what, campaign.request_stop), progress:
        bar = progress.add_task("trials", total=count, info="")

        def show(event: object) -> None:
            if isinstance(event, Warned):  # the campaign's
                warning(event.message)
            elif isinstance(event, JobEnded):
                result = event.summary
                progress.update(bar, advance=1, info=result.name)
                if not quiet:
                    number = ids[result.name] if ids is not None else _place(runs, result.name)
                    line = _line(number, result, campaign.metric)
                    console.print(line, soft_wrap=True, markup=False)
                for message in result.warnings:
                    warning(message, result.name)

        jobs = [t.job for t in runs] if isinstance(runs, list) else runs
        return done + campaign.run(jobs, show)


def _place(search: object, name: str) -> int:
    trials = getattr(search, "trials", {})
    return int(trials[name].id) if name in trials else 0


def _report_changes(plan: ResumePlan) -> None:
    if plan.changed:
        console.print(
            f"the config or the space changed since this sweep ran: rerunning "
            f"{len(plan.changed)} trials (their earlier runs moved to superseded/):",
            soft_wrap=True,
        )
        for name, keys in plan.changed.items():
            shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
            console.print(f"  {name}: {shown} differ", soft_wrap=True, markup=False)
    aside = [name for name in plan.moved if name not in plan.changed]
    if aside:
        console.print(
            f"{len(aside)} trial folders held files that are not a bprop run's; moved to "
            f"superseded/ before their trials run: {', '.join(aside[:10])}"
            + (" …" if len(aside) > 10 else ""),
            soft_wrap=True,
            markup=False,
        )
    if plan.dropped:
        console.print(
            f"{len(plan.dropped)} earlier trials are not in this space; left on disk, out of "
            f"sweep.csv: {', '.join(plan.dropped[:10])}" + (" …" if len(plan.dropped) > 10 else ""),
            soft_wrap=True,
            markup=False,
        )


def _line(trial: int, result: RunSummary, metric: str | None) -> str:
    score = f"{metric} {fmt(result.score)}" if result.score is not None else ""
    detail = f"  {result.detail}" if not result.status.finished else ""
    return f"trial {trial} {result.name}: {result.status}  {score}{detail}"


def _finish(run: Sweep, results: list[RunSummary]) -> None:
    from rich.table import Table

    summary = run.write(results)
    winner, keys, metric, mode = summary.winner, run.search.keys, run.metric, run.mode
    name, params = run.cfg.name, {t.name: t.params for t in run.trials}
    shown = min(len(results), SHOWN_TRIALS)
    title = f"{name}: {len(results)} trials ranked by {metric} ({mode})"
    if shown < len(results):
        title += f", the best {shown} shown (all in sweep.csv)"
    table = Table(title=title)
    table.add_column("#", justify="right")
    for key in keys:
        table.add_column(key.split(".")[-1], justify="right")
    for column in ("status", metric, "epochs", "seconds"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for rank, r in enumerate(summary.ranking[:SHOWN_TRIALS], start=1):
        style = "bold green" if r is winner else (None if r.status.finished else "red")
        table.add_row(
            "★" if r is winner else str(rank), *[_cell(params[r.name].get(k)) for k in keys],
            r.status, fmt(r.score), str(r.epochs), f"{r.seconds:.1f}", style=style,
        )  # fmt: skip
    console.print(table)
    if winner is not None:
        console.print(f"best: {winner.name} ({metric} {fmt(winner.score)})", soft_wrap=True)
    console.print(f"wrote {', '.join(summary.files)} in {run.campaign.directory}", soft_wrap=True)


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
