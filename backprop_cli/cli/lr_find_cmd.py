"""`bprop lr-find`: the learning-rate range test of a config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console, fail, fmt, in_config, progress_bar
from .options import ConfigArg, Overrides


def lr_find(
    config: ConfigArg,
    start: Annotated[float, typer.Option("--start", help="The first rate (> 0).")] = 1e-7,
    end: Annotated[float, typer.Option("--end", help="The last rate (> --start).")] = 10.0,
    steps: Annotated[
        int, typer.Option("--steps", min=3, help="Updates from --start to --end.")
    ] = 100,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The directory for lr_find.csv and lr_find.png (default: "
            "{output.dir}/{name}-lr-find, or -2, -3... if taken; never overwritten).",
        ),
    ] = None,
    set_: Overrides = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
) -> None:
    """Find a learning rate: the range test, from the config's initial weights.

    One update per batch with the rate rising geometrically from --start to --end over --steps
    updates, stopping early once the smoothed loss passes 4 times its minimum. Writes
    lr_find.csv and lr_find.png (smoothed loss against a log lr axis) and prints the rate at
    which the smoothed loss falls fastest, as a ready --set. The config's file is not changed.

    Example:  bprop lr-find configs/digits.yaml --steps 200
    """
    from ..config import load_config
    from ..errors import BpropError, ConfigError
    from ..runs.artifacts.rundirs import claim_new_dir
    from ..runs.reports.lr_finder import run_range_test, write

    if not 0 < start < float("inf"):
        raise BpropError(f"--start: a rate must be a positive number; received {start:g}")
    if not start < end < float("inf"):
        raise BpropError(f"--end ({end:g}) must be a number larger than --start ({start:g})")
    cfg = load_config(config, list(set_ or []))
    updates = run_range_test(cfg, start, end, steps)  # --steps is checked here
    try:
        test = None
        progress = progress_bar(console.is_terminal and not quiet)
        with progress:
            task = progress.add_task("range test", total=steps, info="")
            for test in updates:
                info = f"lr {test.lrs[-1]:.2g}  loss {fmt(test.smoothed[-1])}"
                progress.update(task, completed=len(test.lrs), info=info)
    except ConfigError as exc:
        raise ConfigError(in_config(config, exc, set_ or [])) from None
    assert test is not None
    with claim_new_dir(out, Path(cfg.output.dir), f"{cfg.name}-lr-find") as claimed:
        files = write(test, claimed, f"{cfg.name}: learning-rate range test")
    suggestion = test.suggestion()
    ended = (
        f"stopped after {len(test.lrs)} updates: the smoothed loss passed 4× its minimum"
        if test.stop == "diverged"
        else f"{len(test.lrs)} updates from {start:g} to {end:g}"
    )
    console.print(f"{ended}; wrote {', '.join(str(f) for f in files)}", soft_wrap=True)
    if suggestion is None:
        fail("too few updates to suggest a rate: raise --steps or lower --start")
    console.print(
        f"suggested lr: {suggestion:.2g} (steepest descent of the smoothed loss)\n"
        f"  bprop train {config} --set optimizer.lr={suggestion:.2g}",
        soft_wrap=True,
        highlight=False,
    )
