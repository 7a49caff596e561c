"""`bprop demo`: the notes' worked examples, computed by the engine and printed with Rich."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .console import console, fail

if TYPE_CHECKING:
    from ..demos import Demo


def demo(
    topic: Annotated[
        str | None,
        typer.Argument(help="The topic; `bprop demo` alone lists them."),
    ] = None,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot", help="Also draw the demo as a PNG (the topics marked --plot in the list)."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="PNG for --plot, implying it (default: TOPIC.png, or TOPIC-2.png...).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
    x: Annotated[
        float | None, typer.Option("--x", help="The point x of chain-rule and graph.")
    ] = None,
) -> None:
    """Walk through a concept of backpropagation with numbers the engine computes now.

    Without a topic, lists the topics.

    Example:  bprop demo chain-rule --x 2
    """
    from ..demos import DRAWN, POINTED, TOPICS

    if topic is None:
        _list(TOPICS, DRAWN)
        return
    if topic not in TOPICS:
        fail(f"unknown topic {topic!r}; choose one of: {', '.join(TOPICS)}")
    if x is not None and topic not in POINTED:
        fail(f"--x: applies to {' and '.join(POINTED)}, not {topic}")
    plot = plot or out is not None
    path = None
    if plot:
        from ..errors import BpropError
        from .outputs import check_output, free_picture_name, to_stdout

        if to_stdout(out):
            raise BpropError("--out: the demo prints its walk-through; give a .png name, not -")
        path = check_output(out, overwrite, picture=True) if out else free_picture_name(topic)
    shown = POINTED[topic](x) if x is not None else TOPICS[topic][1]()
    _render(shown)
    if path is not None:
        if not shown.series:
            fail(f"--plot: the {topic} demo has nothing to draw; it draws {' and '.join(DRAWN)}")
        from ..runs.reports.plotting import plot_runs

        plot_runs(shown.series, shown.metrics, path, log=False, title=shown.title,
                  exclusive=not overwrite, x=shown.x)  # fmt: skip
        console.print(f"wrote {path}")


def _list(topics: Mapping[str, tuple[str, object]], drawn: tuple[str, ...]) -> None:
    from rich.table import Table

    table = Table(title="bprop demo TOPIC", show_header=True)
    table.add_column("topic")
    table.add_column("what it shows")
    for name, (description, _) in topics.items():
        table.add_row(name, description + (" (--plot)" if name in drawn else ""))
    console.print(table)


def _render(shown: Demo) -> None:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    formulas = "\n".join(f"[cyan]{escape(line)}[/]" for line in shown.formulas)
    console.print(Panel(formulas, title=f"[bold]{escape(shown.title)}[/]", expand=False))
    for spec in shown.tables:
        table = Table(title=escape(spec.title))
        for column in spec.columns:
            table.add_column(escape(column), justify="left")
        for row in spec.rows:
            table.add_row(*[_cell(value) for value in row])
        console.print(table)
    for note in shown.notes:
        console.print(escape(note), soft_wrap=True)


def _cell(value: object) -> str:
    from rich.markup import escape

    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))
