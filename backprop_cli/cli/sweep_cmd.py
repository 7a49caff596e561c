"""`bprop sweep`: a hyperparameter search, here, in local processes or on a Dask cluster."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import exit_codes
from .console import console, exit_interrupted, fail, fmt, progress_bar, repeated
from .options import ConfigArg, Dask, Jobs, Overrides, TableOnly

if TYPE_CHECKING:
    from ..runs.execution import StopRequest
    from ..runs.sweep import Space, Trial
    from ..runs.sweep_results import TrialResult
    from ..runs.trials import ResumePlan


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
    for bprop train) and sweep.png.

    Example:  bprop sweep configs/spirals.yaml --grid optimizer.lr=0.1,0.01,0.001 --jobs 2
    """
    from ..config import load_config
    from ..errors import BpropError, ConfigError
    from ..runs.cv import check_folds, fold_config
    from ..runs.execution import StopRequest, check_dask
    from ..runs.layout import SWEEP_FILES
    from ..runs.outcomes import outcome
    from ..runs.plan import prepare
    from ..runs.rundirs import claim, claim_new_dir, mark_sweep
    from ..runs.sweep import Space, make_trials
    from ..runs.sweep_results import sweep_metric, sweep_mode
    from ..system.atomic import remove_stale_temporaries
    from ..system.locking import check_free

    stack = contextlib.ExitStack()
    try:
        if out is not None:
            check_free(out)  # before the data is loaded
        cfg = load_config(config, list(set_ or []))
        search = Space.build(cfg, grid or [], space or [], random)
        mode = sweep_mode(cfg, mode)
        trials = make_trials(cfg, search, str(config))
        valid = [t for t in trials if t.config is not None]
        if not valid:
            raise ConfigError("no valid trial:\n" + "\n".join(t.problem for t in trials))
        assert valid[0].config is not None
        # The data and network, checked before any file is written; the metric, a column.
        first = valid[0].config
        if folds is not None:
            check_folds(folds, len(valid))
            first = fold_config(first, folds, folds - 1, str(config))  # a row for every fold
        option_metric = metric
        metric = sweep_metric(cfg, metric, prepare(first).history_columns)
        if dask is not None:
            check_dask(dask)
        if resume:
            if out is None or not out.is_dir():
                raise ConfigError("--resume: give --out, the directory of the sweep to continue")
            out_dir = stack.enter_context(claim(out, _accept_sweep))
        else:
            new = claim_new_dir(out, Path(cfg.output.dir), f"{cfg.name}-sweep", resumable=True)
            out_dir = stack.enter_context(new)
    except BpropError as exc:
        stack.close()
        fail(str(exc))

    with stack:
        for trial in trials:
            if trial.config is None:
                console.print(
                    f"[yellow]skipped[/] trial {trial.id} {trial.params}:", soft_wrap=True
                )
                for line in trial.problem.splitlines():
                    console.print(f"  {line}", soft_wrap=True, markup=False)
        StopRequest.remove_stale(out_dir)
        remove_stale_temporaries(out_dir, SWEEP_FILES)
        mark_sweep(out_dir)  # before any trial: only a folder marked so is resumed as a sweep
        stop = StopRequest(out_dir)
        if folds is None:
            results, interrupted = run_shown(
                valid, out_dir, metric, mode, jobs, dask, resume, quiet, stop
            )
        else:
            results, interrupted = _run_folds(
                valid, folds, str(config), out_dir, metric, mode, jobs, dask, resume, quiet, stop
            )
        results += [_invalid(t) for t in trials if t.config is None]
        configs = {t.name: t.config.resolved() for t in valid if t.config is not None}
        _finish(results, search, metric, mode, out_dir, cfg.name, configs)
    if interrupted:
        again = ["sweep", str(config), "--out", str(out_dir), "--resume"]
        again += repeated("--grid", grid) + repeated("--space", space)
        again += ["--random", str(random)] if random is not None else []
        again += ["--metric", option_metric] if option_metric else []
        again += repeated("--set", set_)
        again += ["--jobs", str(jobs)] if jobs > 1 else []
        again += ["--dask", dask] if dask else []
        again += ["--folds", str(folds)] if folds is not None else []
        done = sum(r.status not in ("interrupted", "cancelled") for r in results)
        exit_interrupted(
            ctx, f"interrupted with {done} of {len(results)} trials done; continue with: ", again
        )
    raise typer.Exit(exit_codes.of_outcome(outcome(r.status for r in results)))


def _run_folds(
    valid: list[Trial], folds: int, source: str, out_dir: Path, metric: str, mode: str,
    jobs: int, dask: str | None, resume: bool, quiet: bool, stop: StopRequest,
) -> tuple[list[TrialResult], bool]:  # fmt: skip
    """Every trial's folds, run together (with ``resume``, only those not finished); a row per
    trial with the folds' mean score."""
    from ..runs.cv import cross_validated, folds_of_trials
    from ..runs.layout import fold_name

    runs = folds_of_trials(valid, folds, source)
    done, interrupted = run_shown(runs, out_dir, metric, mode, jobs, dask, resume, quiet, stop)
    by_name = {r.name: r for r in done}
    results = []
    for trial in valid:
        mine = [by_name[f"{trial.name}/{fold_name(k + 1)}"] for k in range(folds)]
        results.append(cross_validated(trial, mine))
    return results, interrupted


def _accept_sweep(directory: Path) -> None:
    from ..errors import ConfigError
    from ..runs.layout import SWEEP_JSON, SWEEP_MARKER
    from ..runs.rundirs import is_sweep_dir

    if not is_sweep_dir(directory):
        raise ConfigError(
            f"--resume: {directory} holds no sweep bprop wrote (no {SWEEP_MARKER} or "
            f"{SWEEP_JSON}); give the --out of the sweep to continue"
        )


def _invalid(trial: Trial) -> TrialResult:
    from ..runs.sweep_results import TrialResult

    return TrialResult(trial.id, trial.name, trial.params, "invalid", detail=trial.problem)


def run_shown(
    valid: list[Trial], out_dir: Path, metric: str, mode: str, jobs: int, dask: str | None,
    resume: bool, quiet: bool, stop: StopRequest,
) -> tuple[list[TrialResult], bool]:  # fmt: skip
    """Run the trials to do; the results, and whether a signal stopped the sweep."""
    from ..runs.trials import plan_resume, run_trials, summarize
    from .signals import graceful_stop

    results: list[TrialResult] = []
    todo = valid
    if resume:
        plan = plan_resume(valid, out_dir)
        results = [summarize(t, out_dir / t.name, metric, mode) for t in plan.finished]
        todo = plan.todo
        _report_changes(plan)
    if not quiet:
        where = (
            f"the Dask cluster at {dask}"
            if dask
            else (f"{jobs} processes" if jobs > 1 else "this process")
        )
        done = f"; {len(results)} already finished" if results else ""
        console.print(f"{len(todo)} trials on {where} → {out_dir}{done}", soft_wrap=True)
    progress = progress_bar(console.is_terminal and not quiet)
    finished: set[int] = set()
    what = "every running trial after its current step, cancelling the queued ones"
    try:
        with graceful_stop(what, stop.request), progress:
            bar = progress.add_task("trials", total=len(todo), info="")
            for result in run_trials(todo, out_dir, metric, mode, stop, jobs, dask):
                finished.add(result.id)
                results.append(result)
                progress.update(bar, advance=1, info=result.name)
                if not quiet:
                    console.print(_line(result, metric), soft_wrap=True, markup=False)
    except KeyboardInterrupt:  # a second Ctrl-C: whatever had not finished is cancelled
        stop.request()
        results += [_unfinished(t, "cancelled", "stopped at once") for t in todo
                    if t.id not in finished]  # fmt: skip
    except Exception as exc:  # a lost worker ends joblib's run: record who did not finish
        reason = f"worker lost ({type(exc).__name__}: {exc}); rerun with --resume"
        results += [_unfinished(t, "error", reason) for t in todo if t.id not in finished]
    finally:
        stop.clear()
    return results, stop()


def _unfinished(trial: Trial, status: str, detail: str) -> TrialResult:
    from ..runs.sweep_results import TrialResult

    return TrialResult(trial.id, trial.name, trial.params, status, detail=detail)


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


def _line(result: TrialResult, metric: str) -> str:
    score = f"{metric} {fmt(result.score)}" if result.score is not None else ""
    from ..runs.outcomes import FINISHED

    detail = f"  {result.detail}" if result.status not in FINISHED else ""
    return f"trial {result.id} {result.name}: {result.status}  {score}{detail}"


def _finish(
    results: list[TrialResult], search: Space, metric: str, mode: str, out_dir: Path, name: str,
    configs: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    from rich.table import Table

    from ..runs.outcomes import FINISHED
    from ..runs.sweep_results import write_sweep

    summary = write_sweep(results, search, metric, mode, out_dir, name, configs)
    winner, keys = summary.winner, search.keys
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
        style = "bold green" if r is winner else (None if r.status in FINISHED else "red")
        table.add_row(
            "★" if r is winner else str(rank), *[_cell(r.params.get(k)) for k in keys],
            r.status, fmt(r.score), str(r.epochs), f"{r.seconds:.1f}", style=style,
        )  # fmt: skip
    console.print(table)
    if winner is not None:
        console.print(f"best: {winner.name} ({metric} {fmt(winner.score)})", soft_wrap=True)
    console.print(f"wrote {', '.join(summary.files)} in {out_dir}", soft_wrap=True)


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
