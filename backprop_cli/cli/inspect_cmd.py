"""`bprop inspect`: what a config's data will be trained as, before any training."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .console import console, fail, shown_path
from .options import ConfigArg, Overrides


def inspect(
    config: ConfigArg,
    set_: Overrides = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON, for scripts.")
    ] = False,
) -> None:
    """Show what a config's data will be trained as, before training: columns, missing values,
    task, classes and splits.

    For a table (a CSV, TSV, Parquet or Feather file, or the built-in penguins): the source and
    its rows, each column with its kind (numeric, categorical with its category count, target),
    its missing cells and what will be done with them, the task and the classes with their
    counts, the split sizes, the input width after one-hot encoding, the feature matrix's memory
    and the load time. Other data sets get their sizes and task. When the rows cannot be
    prepared (missing values with data.missing: error, say), the columns are shown and then the
    error, with exit code 2.

    Example:  bprop inspect configs/penguins.yaml
    """
    from ..config import load_config
    from ..runs.train.inspecting import inspect_data

    cfg = load_config(config, list(set_ or []))
    info, problem = inspect_data(cfg)
    if as_json:
        typer.echo(json.dumps(info | ({"error": problem} if problem else {}), indent=2))
    else:
        _show(info)
    if problem is not None:
        fail(problem)


def _show(info: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..system.resources import size_text

    console.print(
        f"{shown_path(info['source'])}: {info['rows']:,} rows"
        + (f", {info['columns_in_file']} columns" if info.get("columns_in_file") else ""),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    if info.get("columns"):
        table = Table(title="columns")
        for column in ("column", "kind", "categories", "missing", "what is done"):
            table.add_column(
                column, justify="right" if column in ("categories", "missing") else "left"
            )
        for c in info["columns"]:
            table.add_row(escape(c["name"]), c["kind"], str(c.get("categories", "")),
                          str(c["missing"] or ""), c["action"])  # fmt: skip
        console.print(table)
    if "splits" not in info:
        return  # the rows could not be prepared: the error follows
    task = info["task"]
    if info.get("target"):
        task += f" of {info['target']!r}"
    console.print(f"task: {task}", highlight=False, markup=False)
    if info.get("classes"):
        total = sum(info["classes"].values())
        counts = Table(title="classes")
        for column in ("class", "rows", "share"):
            counts.add_column(column, justify="left" if column == "class" else "right")
        for name, n in info["classes"].items():
            counts.add_row(escape(name), f"{n:,}", f"{n / total:.1%}")
        console.print(counts)
    dropped = info.get("dropped_rows") or {}
    if dropped.get("missing_target"):
        console.print(f"{dropped['missing_target']:,} rows without a target are dropped")
    if dropped.get("missing_features"):
        console.print(f"{dropped['missing_features']:,} rows missing a feature are dropped")
    splits = info["splits"]
    console.print(
        f"splits: train {splits['train']:,}, validation {splits['val']:,}, test {splits['test']:,}",
        highlight=False,
    )
    console.print(
        f"input width: {info['input_width']:,} columns; feature matrix "
        f"{size_text(info['feature_bytes'])}; loaded in {info['load_seconds']:.2f}s",
        highlight=False,
    )
