"""`bprop runs`: the runs under a folder as a table, and `bprop runs diff` of two runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import exit_codes
from .console import console, fail, fmt, printable, strict_json


class RunsGroup(TyperGroup):
    """`bprop runs [DIR]` lists; `bprop runs diff A B` compares: a first word that names no
    subcommand is the listing's."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


GROUP = typer.Typer(
    name="runs",
    cls=RunsGroup,
    epilog=exit_codes.HELP,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@GROUP.command("list", epilog=exit_codes.HELP)
def runs(
    folder: Annotated[
        Path,
        typer.Argument(help="Where to look, recursively (default: runs).", metavar="DIR"),
    ] = Path("runs"),
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            help="Order by name, status, epochs, best, when, duration or test.<figure> "
            "(e.g. test.accuracy).",
        ),
    ] = "when",
    reverse: Annotated[bool, typer.Option("--reverse", help="Largest first.")] = False,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="Only runs whose config has key.path=value (repeatable; all must hold).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The runs under a folder (default runs/, sweeps, comparisons and cross-validations
    included) as a table: status, epochs, the best monitored value, test figures, kernels, when
    and how long; unreadable run directories are listed as broken.

    bprop runs [DIR] is bprop runs list [DIR] (its options --sort, --reverse, --filter and
    --json: see bprop runs list -h); bprop runs diff A B compares two runs, bprop runs sync
    uploads runs to MLflow.

    Example:  bprop runs runs/ --filter optimizer.type=adam --sort test.accuracy --reverse
    """
    from ..runs.artifacts.survey import matching, ordered, sort_problem, survey

    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        fail(f"{folder}: {what}; give the folder your runs are in (output.dir)")
    problem = sort_problem(sort)
    if problem:
        fail(f"--sort: {problem}")
    found = survey(folder)
    wanted = _filters(filters or [], found)
    listed = ordered(matching(found, wanted), sort, reverse)
    if as_json:
        console.print_json(strict_json([r.as_json() for r in listed]))
        return
    if not listed:
        message = f"no runs under {printable(str(folder))}"
        message += " match the filters" if wanted else ""
        console.print(message, markup=False, highlight=False)
        return
    console.print(_table(listed, folder, console.width))


def _filters(given: list[str], found: list[Any]) -> dict[str, Any]:
    """``key=value`` filters as key → value (as YAML reads it); a key no run's config has is a
    mistake, named with the keys that are near it."""
    import difflib

    from ..config import parse_value

    wanted: dict[str, Any] = {}
    keys = {k for r in found for k in r.config}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--filter {item!r}: expected key.path=value, e.g. optimizer.type=adam")
        if found and key not in keys:
            near = difflib.get_close_matches(key, sorted(keys), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            fail(f"--filter {item!r}: no run's config has the key {key}{hint}")
        wanted[key] = parse_value(value)
    return wanted


COLUMNS = ("run", "status", "epochs", "best", "test", "kernels", "when", "took")
#: The columns that give up width, in turn, when the table is wider than the terminal.
NARROWING = (("status", 12), ("run", 16), ("best", 12), ("test", 10))
#: The columns a terminal too narrow for the rest goes without, in turn.
SPARE = ("kernels", "took", "when")


def _table(listed: list[Any], folder: Path, room: int) -> Any:
    """The runs as a table at most ``room`` characters wide."""
    from rich.table import Table
    from rich.text import Text

    rows = []
    for r in listed:
        best = f"{fmt(r.best[1])} {r.best[0]} @{r.best[2]}" if r.best else "–"
        status = r.status if r.status != "broken" else f"broken: {r.detail}"
        cells = [r.name, status, fmt(r.epochs), best, _test(r.test), r.kernels or "–",
                 _when(r.started), _took(r.seconds)]  # fmt: skip
        rows.append([printable(cell) for cell in cells])
    shown = list(COLUMNS)
    for spare in SPARE:  # a narrow terminal drops these before it squeezes names and figures
        natural = _widths(shown, rows, room=sys.maxsize)
        if sum(natural) + 2 * (len(natural) - 1) <= room:
            break
        at = shown.index(spare)
        del shown[at]
        rows = [row[:at] + row[at + 1 :] for row in rows]
    widths = _widths(shown, rows, room)
    title = f"{len(listed)} run{'s' * (len(listed) != 1)} under {printable(str(folder))}"
    table = Table(title=Text(title), box=None, pad_edge=False, header_style="bold underline")
    for column, width in zip(shown, widths, strict=True):
        table.add_column(
            column,
            justify="right" if column in ("epochs", "took") else "left",
            width=width,
            no_wrap=column != "run",
            overflow="fold" if column == "run" else "ellipsis",
        )
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # a name is text, never markup
    return table


def _widths(columns: list[str], rows: list[list[str]], room: int) -> list[int]:
    """Each column as wide as its widest cell; where the table is wider than ``room``, the
    status, the run names (which fold) and the best and test figures give up width, each down
    to a floor."""
    widths = [max(len(c) for c in cells) for cells in zip(columns, *rows, strict=True)]
    for column, floor in NARROWING:
        over = sum(widths) + 2 * (len(widths) - 1) - room  # two spaces between columns
        at = columns.index(column)
        if over > 0:
            widths[at] = max(min(floor, widths[at]), widths[at] - over)
    return widths


LABELS = {"accuracy": "acc", "r2": "r²"}


def _test(test: dict[str, float]) -> str:
    """The test figure a run is judged by: accuracy, else R² and RMSE, else the loss."""
    for keys in (("accuracy",), ("r2", "rmse"), ("loss",)):
        shown = [f"{LABELS.get(k, k)} {fmt(test[k])}" for k in keys if k in test]
        if shown:
            return " ".join(shown)
    return "–"


def _when(started: float | None) -> str:
    return "–" if started is None else time.strftime("%m-%d %H:%M", time.localtime(started))


def _took(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, rest = divmod(seconds, 60)
    return f"{rest:.1f}s" if minutes < 1 else f"{int(minutes)}m {rest:02.0f}s"


GROUP.info.help = runs.__doc__  # `bprop runs -h` tells what `bprop runs` does


@GROUP.command("diff", epilog=exit_codes.HELP)
def diff(
    first: Annotated[Path, typer.Argument(help="A run directory.", metavar="A")],
    second: Annotated[Path, typer.Argument(help="Another run directory.", metavar="B")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Two runs side by side: the config keys that differ, then their figures (status, epochs,
    best, final and test values). `bprop plot A B` overlays their curves.

    Example:  bprop runs diff runs/digits runs/digits-1
    """
    from ..runs.artifacts.survey import compared, read_run

    runs = []
    for path in (first, second):
        if not path.is_dir():
            fail(f"{path}: no such run directory")
        listed = read_run(path, path.parent)
        if listed.status == "broken":
            fail(f"{path}: cannot be read ({listed.detail})")
        runs.append(listed)
    keys, figures = compared(runs[0], runs[1])
    if as_json:
        document = {"config": keys, "figures": figures}
        console.print_json(strict_json(document))
        return
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    names = (escape(printable(str(first))), escape(printable(str(second))))
    for title, rows in (("config keys that differ", keys), ("figures", figures)):
        table = Table(title=title)
        for column in ("", *names):
            table.add_column(column)
        for key, (a, b) in rows.items():
            table.add_row(*(Text(printable(cell)) for cell in (key, fmt(a), fmt(b))))
        if rows or title == "figures":
            console.print(table)
        else:
            console.print("the two runs' configs are the same")


@GROUP.command("sync", epilog=exit_codes.HELP)
def sync(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories that have ended, or folders of them (a sweep's, a cv's).",
            metavar="RUN...",
        ),
    ],
    to: Annotated[str, typer.Option("--to", help="Where to: mlflow.")] = "mlflow",
    uri: Annotated[
        str | None,
        typer.Option(
            "--uri",
            help="Tracking URI (default: the run's output.mlflow.uri, else MLFLOW_TRACKING_URI, "
            "else MLflow's).",
        ),
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", help="Experiment name (default: the run's output.mlflow)."),
    ] = None,
) -> None:
    """Upload runs trained without a tracking server to MLflow, as the mlflow logger would have
    logged them: params, metrics, tags, artifacts and status. A run synced before (or logged
    while it trained) goes on in the same MLflow run, nothing logged twice. A run that cannot be
    synced is named, and the others go on.

    Example:  bprop runs sync runs/digits runs/moons --to mlflow --uri http://127.0.0.1:5000
    """
    from ..runs.train.needs import LOGGER_EXTRAS, missing_package

    if to != "mlflow":
        fail(f"--to {to!r}: bprop syncs runs to mlflow")
    problem = missing_package("mlflow", LOGGER_EXTRAS["mlflow"])
    if problem:
        fail(f"--to mlflow: {problem}")
    from ..errors import BpropError
    from ..runs.artifacts.survey import runs_in
    from ..runs.loggers.tracking import configured, sync_run

    failed = []
    for run_dir in runs_in(run_dirs):
        where_uri, where_experiment = configured(run_dir)
        target = uri or where_uri
        try:
            run_id = sync_run(run_dir, target, experiment or where_experiment)
        except BpropError as exc:
            failed.append(str(exc))
        except Exception as exc:  # whatever MLflow raises, a bad URI's or a server's
            server = f" at {target}" if target else ""
            failed.append(
                f"{run_dir}: could not sync to MLflow{server}: {type(exc).__name__}: {exc}"
            )
        else:
            console.print(
                f"{printable(str(run_dir))} → MLflow run {run_id}",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )
    if failed:
        fail("\n".join(failed))
