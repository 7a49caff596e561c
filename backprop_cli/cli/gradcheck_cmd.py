"""`bprop gradcheck`: prove the engine's gradients against finite differences."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import exit_codes
from .console import console, fail

if TYPE_CHECKING:
    from ..core.gradcheck import Fuse, TensorCheck


def gradcheck(
    config: Annotated[
        Path | None,
        typer.Argument(help="Check the network of this experiment config on a batch of its data."),
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, help="Samples in the batch checked (with CONFIG).")
    ] = 8,
    eps: Annotated[
        float, typer.Option(min=1e-12, max=1e-1, help="Finite-difference step ε.")
    ] = 1e-4,
    tol: Annotated[float, typer.Option(min=0.0, help="Largest relative error that passes.")] = 1e-6,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the weights, data and sampled entries.")
    ] = 0,
    samples: Annotated[
        int | None,
        typer.Option(min=1, help="Check K random entries per tensor instead of all of them."),
    ] = None,
    failures_only: Annotated[
        bool, typer.Option("--failures-only", help="List only the tensors that failed.")
    ] = False,
    kernels: Annotated[
        str,
        typer.Option(
            help="The path checked: numpy (the reference) or fused (bprop[fast]'s kernels and "
            "whole compiled steps, as a fused training run uses them)."
        ),
    ] = "numpy",
) -> None:
    """Check every gradient of the engine against central finite differences in float64.

    With no argument it runs the built-in battery: every activation, every loss with each output
    activation it accepts, networks of one to three layers, every parameter tensor and the input
    gradient. Exit 0 when every tensor passes, 1 when any relative error exceeds --tol.

    With CONFIG it checks that experiment's network (in float64) on a batch of its training data.

    Example:  bprop gradcheck --tol 1e-7 --seed 3

    Example:  bprop gradcheck configs/digits.yaml --samples 20

    Example:  bprop gradcheck --kernels fused
    """
    from ..core.gradcheck import run_battery

    fuse = _fuse(kernels)
    if config is not None:
        results = _check_config(config, eps, tol, seed, samples, batch, fuse)
    else:
        results = list(run_battery(eps=eps, tol=tol, seed=seed, samples=samples, fuse=fuse))
    _render(results, failures_only)
    if not all(r.passed for r in results):
        raise typer.Exit(exit_codes.CHECK_FAILED)


def _fuse(kernels: str) -> Fuse | None:
    """What puts a network on the ``--kernels`` path (None: the reference)."""
    if kernels == "numpy":
        return None
    if kernels != "fused":
        fail(f"--kernels: choose numpy or fused (received {kernels!r})")
    from ..errors import ConfigError
    from ..runs.train.build import fused_path

    try:
        return fused_path()
    except ConfigError as exc:
        fail(str(exc).replace("training.kernels", "--kernels"))


def _check_config(
    path: Path,
    eps: float,
    tol: float,
    seed: int,
    samples: int | None,
    batch: int,
    fuse: Fuse | None = None,
) -> list[TensorCheck]:
    import numpy as np

    from ..config import load_config
    from ..core.gradcheck import check_network
    from ..runs.train.build import build_network, build_splits
    from ..runs.trained.seeding import generators

    cfg = load_config(path)
    streams = generators(cfg.seed)
    data_rng, init_rng, noise_rng = streams.data, streams.weights, streams.noise
    splits = build_splits(cfg, data_rng)
    net = build_network(cfg, splits.n_features, init_rng, "float64", noise_rng)
    rng = np.random.default_rng(seed)
    train = splits.train
    take = rng.choice(len(train), size=min(batch, len(train)), replace=False)
    X = train.X[take].astype(np.float64)
    y = net.prepare_targets(train.y[take])
    step = fuse(net, len(X)) if fuse is not None else None
    case = f"{cfg.name} ({len(take)} samples)"
    return check_network(net, X, y, case, eps, tol, samples, rng, step)


def _render(results: list[TensorCheck], failures_only: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Gradient check (float64, five-point central differences)")
    for column, justify in (
        ("case", "left"),
        ("tensor", "left"),
        ("shape", "left"),
        ("entries", "right"),
        ("max rel error", "right"),
        ("status", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        if failures_only and r.passed:
            continue
        status = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
        entries = str(r.checked) + (f" (+{r.skipped} at kinks)" if r.skipped else "")
        table.add_row(
            escape(r.case), r.tensor, str(r.shape), entries, f"{r.max_rel_error:.2e}", status
        )
    console.print(table)
    failed = [r for r in results if not r.passed]
    worst = max(results, key=lambda r: r.max_rel_error)
    cases = len({r.case for r in results})
    tol = results[0].tol
    if failed:
        console.print(
            f"[bold red]FAILED[/]: {len(failed)} of {len(results)} tensors in {cases} cases exceed "
            f"tol {tol:g} (worst {worst.max_rel_error:.2e}: {escape(worst.case)}, {worst.tensor})"
        )
    else:
        console.print(
            f"[green]passed[/]: all {len(results)} tensors in {cases} cases within tol {tol:g} "
            f"(worst {worst.max_rel_error:.2e}: {escape(worst.case)}, {worst.tensor})"
        )
