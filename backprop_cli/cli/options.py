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
