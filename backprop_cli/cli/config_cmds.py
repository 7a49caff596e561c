"""Writing and checking configs: `bprop init`, `bprop config`, `bprop schema`, `bprop datasets`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console, fail, shown_path
from .options import Overrides
from .outputs import to_stdout


def _write(path: Path, overwrite: bool, text: str) -> None:
    """Write ``text`` to ``path`` (``-``: standard output); an existing file only with
    ``overwrite``."""
    from ..system.atomic import write_text
    from .outputs import check_output, write_output

    check_output(path, overwrite)
    write_output(path, lambda target: write_text(target, text, exclusive=not overwrite))


def init(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Your own table (.csv, .tsv, .parquet, .feather): the config is fitted to it.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="With --data: the column to predict (default: one named like a target, "
            "e.g. label, class, y, or like the file).",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="A built-in data set (see bprop datasets)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where to write the config (-: standard output). Default: FILE's name .yaml "
            "with --data, config.yaml with --dataset.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it exists.")
    ] = False,
) -> None:
    """Write a commented config that trains as it is, for your own table or a built-in data set.

    With --data FILE it is fitted to the table: its target, the loss and output units the
    target's values call for, what to do with missing cells and rare categories, id-like
    columns dropped, a network sized to its inputs. With --dataset (default: moons), a starter
    for a built-in data set.

    Example:  bprop init --data houses.csv --target price
    """
    from ..config.models import BUILTIN_DATASETS
    from ..config.starter import starter_config
    from ..runs.artifacts.layout import STARTER_CONFIG

    if data is not None:
        if dataset is not None:
            fail("--data and --dataset: give one of them (your own table, or a built-in)")
        _init_table(data, target, out, overwrite)
        return
    if target is not None:
        fail("--target: names a column of --data FILE; give --data too")
    dataset = dataset or "moons"
    if dataset not in BUILTIN_DATASETS:
        fail(
            f"--dataset: unknown data set {dataset!r}; choose one of: {', '.join(BUILTIN_DATASETS)}"
        )
    out = out or Path(STARTER_CONFIG)
    _write(out, overwrite, starter_config(dataset))
    if not to_stdout(out):
        console.print(
            f"wrote {out}; train it with: bprop train {out}", soft_wrap=True, markup=False
        )


def _init_table(data: Path, target: str | None, out: Path | None, overwrite: bool) -> None:
    """`init --data`: a config fitted to the table ``data``."""
    import os
    import re

    from ..config.starter import table_starter
    from ..data.table.arrow import table_ending
    from ..data.table.profile import profile
    from ..errors import ConfigError
    from .outputs import check_output

    ending = table_ending(data)
    stem = data.name[: -len(ending)] if ending else data.stem
    if out is not None and not to_stdout(out):
        stem = out.stem  # the run is named as its config
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "experiment"
    out = out or Path(f"{name}.yaml")
    if not to_stdout(out) and out.exists() and out.resolve() == data.resolve():
        raise ConfigError(f"--out: {out} is the --data file itself; write the config elsewhere")
    check_output(out, overwrite)  # before the table is read
    found = profile(data, target)
    folder = Path.cwd() if to_stdout(out) else out.resolve().parent
    path = Path(os.path.relpath(data.resolve(), folder)).as_posix()
    _write(out, overwrite, table_starter(found, path, name))
    if not to_stdout(out):
        dropped = f"; dropped {', '.join(found.dropped)}" if found.dropped else ""
        task = f"{len(found.classes)} classes" if found.task == "classification" else "a regression"
        console.print(
            f"wrote {out}: {found.target!r} as {task}{dropped}. Check it with: bprop inspect "
            f"{out}; train it with: bprop train {out}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )


def schema(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write the JSON Schema (-: standard output)."),
    ] = Path("bprop.schema.json"),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it exists.")
    ] = False,
) -> None:
    """Write the JSON Schema of the config, so that editors validate and complete configs.

    Put `# yaml-language-server: $schema=bprop.schema.json` on a config's first line (the YAML
    extension of VS Code and other editors read it).

    Example:  bprop schema --out bprop.schema.json
    """
    from ..config.reference import json_schema_text

    _write(out, overwrite, json_schema_text())
    if not to_stdout(out):
        console.print(f"wrote {out}")


def config(
    path: Annotated[Path, typer.Argument(help="The experiment's YAML config.", metavar="CONFIG")],
    set_: Overrides = None,
) -> None:
    """Print the config as bprop reads it: validated, overrides applied, every default filled.

    Example:  bprop config configs/spirals.yaml --set optimizer.lr=0.003
    """
    from ..config import load_config, to_yaml

    cfg = load_config(path, list(set_ or []))
    typer.echo(to_yaml(cfg.resolved()), nl=False)


def datasets() -> None:
    """List the built-in data sets: task, size, classes, options and source.

    Example:  bprop datasets
    """
    from rich.table import Table

    from ..data.catalog import describe_datasets

    table = Table(title="built-in data sets: data: {dataset: NAME, options: {...}}")
    for column in ("name", "task", "size", "what", "options (defaults)"):
        table.add_column(column, no_wrap=column in ("name", "task", "size"))
    for row in describe_datasets():
        size = f"{row.samples}×{row.features}"
        table.add_row(row.name, row.task, size, row.source, row.options)
    console.print(table)
    from ..data.files import datasets_dir

    licences = shown_path(str(datasets_dir() / "README.md"))
    console.print(f"Shipped files and their licences: {licences}", soft_wrap=True)
