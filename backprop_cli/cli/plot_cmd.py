"""`bprop plot`: draw metrics of one or several run histories side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console

DEFAULT_METRICS = "train_loss,val_loss"


def plot(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Run directories, or comparison directories (each of their runs)."),
    ],
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            help="Comma-separated history columns, one panel each (e.g. train_loss,val_accuracy,"
            "lr,grad_norm). Columns no run has are an error; val_loss is skipped when absent.",
        ),
    ] = DEFAULT_METRICS,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="PNG to write (default: plot.png, or steps.png with --steps; plot-2.png... if "
            "taken; -: standard output).",
        ),
    ] = None,
    log: Annotated[
        bool | None,
        typer.Option(
            "--log/--linear", help="y scale (default: log where a loss spans more than 30×)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
    diagnostics: Annotated[
        bool,
        typer.Option(
            "--diagnostics",
            help="Draw each layer's gradient norm, update/weight ratio and dead-ReLU fraction "
            "(runs trained with --diagnostics) instead of --metric.",
        ),
    ] = False,
    steps: Annotated[
        bool,
        typer.Option(
            "--steps",
            help="Draw every update's loss from steps.csv (faint) and its moving average, "
            "instead of the per-epoch history; --metric may then name loss, lr or grad_norm.",
        ),
    ] = False,
    x: Annotated[
        str,
        typer.Option(
            "--x",
            help="With --steps: the x axis, steps, samples (samples seen) or seconds (training "
            "time); comma-separated for one panel each.",
        ),
    ] = "steps",
    boundary: Annotated[
        bool,
        typer.Option(
            "--boundary",
            help="Draw what one run or checkpoint learned: the decision boundary of a classifier "
            "of 2 features over its training and validation points, or the fitted curve of a "
            "regression of 1 (a run directory stands for its last.npz).",
        ),
    ] = False,
    animate: Annotated[
        bool,
        typer.Option(
            "--animate",
            help="With --boundary and a run directory: a GIF of the boundary at each saved "
            "epoch (initial.npz, epoch-NNNN.npz, last.npz), written as RUN/boundary.gif.",
        ),
    ] = False,
) -> None:
    """Plot history columns of runs side by side, one line per run, labelled by run name.

    With --diagnostics: one line per layer of each run's gradient norm, update/weight ratio and
    dead-ReLU fraction, to see vanishing or exploding gradients and dying ReLUs.

    With --steps: every update's loss, to see how noisy each batch strategy's steps are.

    Example:  bprop plot runs/spirals runs/spirals-2 --metric train_loss,val_accuracy --log

    Example:  bprop plot runs/batching-sgd runs/batching-full --steps --x samples,seconds

    With --boundary: the decision boundary (or fitted curve) of one run or checkpoint; with
    --animate as well, its evolution over the run's saved epochs.

    Example:  bprop plot runs/spirals --boundary --animate
    """
    from ..errors import BpropError
    from ..runs.artifacts.rundirs import expand_runs, read_history
    from ..runs.reports.plotting import diagnostic_series, plot_runs
    from .outputs import check_output, free_picture_name, to_stdout, write_output

    wanted = [m.strip() for m in metric.split(",") if m.strip()]
    if boundary or animate:
        from .picture_cmd import plot_boundary

        plot_boundary(runs, out, overwrite, animate)
        return
    if steps:
        _plot_steps(runs, wanted if metric != DEFAULT_METRICS else ["loss"], x, out, log, overwrite)
        return
    if not wanted:
        raise BpropError("--metric: give at least one history column")
    found = [(label, read_history(path)) for label, path in expand_runs(runs)]
    series = [(label, rows) for label, rows in found if rows]
    if not series:
        raise BpropError("no history to plot: the runs have not finished an epoch yet")
    if diagnostics:
        series, wanted = diagnostic_series(series)
        if not series:
            raise BpropError(
                "--diagnostics: these runs have no per-layer columns; train them with "
                "--diagnostics (or training.diagnostics: true)"
            )
    available = sorted({k for _, rows in series for r in rows for k in r} - {"epoch"})
    missing = [m for m in wanted if not any(m in r for _, rows in series for r in rows)]
    if metric == DEFAULT_METRICS and missing == ["val_loss"]:
        wanted, missing = ["train_loss"], []
    if missing:
        raise BpropError(
            f"--metric: no run has {', '.join(missing)}; available: {', '.join(available)}"
        )
    path = check_output(out, overwrite, picture=True) if out else free_picture_name("plot")
    title = "gradient flow" if diagnostics else ""
    write_output(
        path,
        lambda target: plot_runs(
            series, wanted, target, log=log, title=title, exclusive=not overwrite
        ),
    )
    if not to_stdout(path):
        labels = ", ".join(label for label, _ in series)
        console.print(f"wrote {path} ({labels})", soft_wrap=True)


def _plot_steps(
    runs: list[Path], wanted: list[str], x: str, out: Path | None, log: bool | None, overwrite: bool
) -> None:
    """`bprop plot --steps`: the per-step picture."""
    from ..errors import BpropError
    from ..runs.artifacts.rundirs import expand_runs
    from ..runs.reports.step_plot import STEP_COLUMNS, X_AXES, plot_steps, read_step_series
    from .outputs import check_output, free_picture_name, to_stdout, write_output

    axes = [a.strip() for a in x.split(",") if a.strip()]
    if not axes or any(a not in X_AXES for a in axes):
        raise BpropError(f"--x: choose from {', '.join(X_AXES)} (received {x!r})")
    unknown = [m for m in wanted if m not in STEP_COLUMNS]
    if not wanted or unknown:
        raise BpropError(
            f"--metric: with --steps choose from {', '.join(STEP_COLUMNS)} "
            f"(received {', '.join(unknown) or 'nothing'})"
        )
    series = [read_step_series(label, path) for label, path in expand_runs(runs)]
    series = [s for s in series if s.rows]
    if not series:
        raise BpropError(
            "--steps: these runs have no steps.csv rows (runs trained before steps.csv "
            "existed, or not yet past their first update)"
        )
    if "samples" in axes:  # every run can say how many samples each step saw
        for s in series:
            s.positions("samples")
    path = check_output(out, overwrite, picture=True) if out else free_picture_name("steps")
    write_output(
        path,
        lambda target: plot_steps(series, wanted, axes, target, log=log, exclusive=not overwrite),
    )
    if not to_stdout(path):
        labels = ", ".join(f"{s.label} ({len(s.rows)} steps)" for s in series)
        console.print(f"wrote {path} ({labels})", soft_wrap=True)
