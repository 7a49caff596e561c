"""Options several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: ``--set key.path=value`` overrides of the config (repeatable).
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: key.path=value (repeatable)."),
]

#: The experiment config every training command starts from.
ConfigArg = Annotated[Path, typer.Argument(help="The experiment's YAML config.")]

#: Local worker processes, for the commands that train several runs.
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Local worker processes.")]


def _scheduler_address(address: str | None) -> str | None:
    """A --dask address that cannot be one is a usage error at once (exit 2)."""
    from ..runs.campaigns.scheduler_address import address_problem

    problem = "" if address is None else address_problem(address)
    if problem:
        raise typer.BadParameter(problem)
    return address


#: A Dask scheduler to run the runs on instead, for the commands that train several runs.
Dask = Annotated[
    str | None,
    typer.Option(
        "--dask",
        callback=_scheduler_address,
        help="Run on the Dask scheduler at this address (tcp://host:8786).",
    ),
]

#: --quiet for the commands whose result is a table.
TableOnly = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the table.")]
