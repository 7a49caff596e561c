"""`bprop plot --boundary [--animate]`: what one run or checkpoint learned, in the data's units."""

from __future__ import annotations

from pathlib import Path

from .console import console, err_console


def plot_boundary(runs: list[Path], out: Path | None, overwrite: bool, animate: bool) -> None:
    from ..errors import BpropError
    from ..runs.artifacts.layout import ANIMATION
    from ..runs.reports import boundary, pictures
    from .outputs import check_output, free_picture_name, to_stdout, write_output

    if len(runs) != 1:
        raise BpropError("--boundary: give one run directory or checkpoint")
    source = runs[0]
    if animate:
        if not source.is_dir():
            raise BpropError(
                f"--animate: {source} is not a run directory; give the run whose epoch "
                "checkpoints to animate"
            )
        path = out or source / ANIMATION
        option = "--out" if out else "--animate"
        check_output(path, overwrite, option, picture=True, suffix=".gif")
        frames, where = pictures.frames_of(source)
    else:
        predict, where, name, epoch = pictures.of_checkpoint(source)
        stem = name.removesuffix(".png")
        path = check_output(out, overwrite, picture=True) if out else free_picture_name(stem)
    said = err_console if to_stdout(path) else console  # stdout may be carrying the picture
    if animate:
        write_output(
            path, lambda target: boundary.animate(frames, where, target, exclusive=not overwrite)
        )
        if not to_stdout(path):
            console.print(f"wrote {path} ({len(frames)} frames)", soft_wrap=True)
        if len(frames) < 3:
            said.print(
                "few frames: train with output.checkpoint_every: 1 (or a small N) to keep the "
                "weights of more epochs",
                soft_wrap=True,
            )
        return
    title = f"{source}, epoch {epoch}"
    write_output(
        path,
        lambda target: boundary.plot_picture(
            predict, where, target, title, exclusive=not overwrite
        ),
    )
    if not to_stdout(path):
        console.print(f"wrote {path}", soft_wrap=True)
