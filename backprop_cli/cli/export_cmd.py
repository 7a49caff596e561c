"""`bprop export`: a trained network as ONNX, a PyTorch state_dict or plain weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console, err_console

SUFFIXES = {"onnx": ".onnx", "torch": ".safetensors", "npz": ".npz"}


def export(
    model: Annotated[
        Path,
        typer.Argument(
            help="A checkpoint (.npz), or a run directory (its checkpoints/last.npz).",
            metavar="RUN_OR_CHECKPOINT",
        ),
    ],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="onnx (the whole inference path, opset 17; needs bprop[onnx]), torch (a "
            "safetensors state_dict and the nn.Module code; needs bprop[torch]) or npz "
            "(weights and preprocessing).",
        ),
    ] = "onnx",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The file to write (default: model.onnx, ...; -: standard output, but for torch).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
) -> None:
    """Export a trained network for other tools: ONNX, PyTorch or plain weights.

    The ONNX model holds the input preprocessing, every layer in evaluation mode and the output
    activation: feed it the raw feature columns (input `features`) and read `probabilities` or
    `predictions`. The class names are in its metadata.

    Example:  bprop export runs/iris --format onnx --out iris.onnx
    """
    from ..errors import BpropError
    from ..runs.trained.export import FORMATS
    from ..runs.trained.export import export as write
    from ..runs.trained.model import load_model
    from .outputs import check_output, to_stdout, write_output

    if format_ not in FORMATS:
        raise BpropError(f"--format: choose from {', '.join(FORMATS)} (received {format_!r})")
    if format_ == "torch" and to_stdout(out):
        raise BpropError(
            "--out: the torch format comes with code that loads its file by name; give a "
            "file name instead of -"
        )
    path = out or Path(f"model{SUFFIXES[format_]}")
    check_output(path, overwrite, "--out" if out else "--format")
    loaded = load_model(model)
    notes = write_output(path, lambda target: write(loaded, format_, target, not overwrite))
    said = err_console if to_stdout(path) else console  # stdout may be carrying the model
    if not to_stdout(path):
        console.print(f"wrote {path} ({format_}, from {loaded.source})", soft_wrap=True)
    if format_ == "torch":
        console.print("Build and load it in PyTorch with:\n", soft_wrap=True)
        console.print(notes, soft_wrap=True, highlight=False, markup=False)
    elif notes:
        said.print("Before feeding the exported model:", soft_wrap=True)
        for line in notes.splitlines():
            said.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
