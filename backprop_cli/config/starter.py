"""`bprop init`: a commented starter config that trains as it is, for a built-in data set
(`starter_config`) or fitted to a table file (`table_starter`).

Both size the network and its training with one `Recipe` from the number of rows and of inputs:
a small table gets one tanh layer, a large rate and small batches (as `configs/iris.yaml` and
`configs/penguins.yaml`); a wide one two ReLU layers and Adam's usual rate (as
`configs/digits.yaml`). Early stopping on the validation loss ends every run on its best
epoch's weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.layers import LAYER_TYPES
from ..core.optim import OPTIMIZERS
from ..core.schedules import SCHEDULES
from .models import BUILTIN_DATASETS

if TYPE_CHECKING:
    from ..data.table.profile import Profile

#: Rows, inputs and classes (0: a regression) of each built-in data set at its default options
#: (tests/test_use.py checks them against the data).
SIZES = {"xor": (200, 2, 2), "spirals": (300, 2, 3), "moons": (300, 2, 2),
         "circles": (300, 2, 2), "blobs": (300, 2, 3), "sine": (200, 1, 0), "ravine": (200, 2, 0),
         "digits": (1797, 64, 10), "iris": (150, 4, 3), "mnist5k": (5000, 784, 10),
         "penguins": (344, 10, 3)}  # fmt: skip
#: Inputs up to this many make a small network (one tanh layer).
SMALL_INPUTS = 32


@dataclass(frozen=True)
class Recipe:
    """How a starter config trains: its hidden layers, optimizer rate, batches and splits."""

    hidden: tuple[int, ...]
    activation: str
    lr: float
    batch: int
    epochs: int
    validation_split: float
    test_split: float


def recipe(rows: int, inputs: int) -> Recipe:
    """The recipe for a table of ``rows`` rows and ``inputs`` inputs (after one-hot)."""
    small = inputs <= SMALL_INPUTS
    epochs = 100 if rows < 1_000 else 50 if rows < 10_000 else 20
    splits = (0.2, 0.2) if rows < 2_000 else (0.1, 0.1)
    # a batch no larger than the training split (a couple of rows less, for the splits' rounding)
    training_rows = max(1, math.floor(rows * (1 - sum(splits))) - 2)
    return Recipe(
        hidden=(32,) if small else (128, 64),
        activation="tanh" if small else "relu",
        lr=0.01 if small else 0.001,
        batch=min(16 if rows < 1_000 else 64, training_rows),
        epochs=epochs,
        validation_split=splits[0],
        test_split=splits[1],
    )


def starter_config(dataset: str = "moons") -> str:
    """YAML text with a comment on every key; trains ``dataset`` with sensible defaults."""
    if dataset not in BUILTIN_DATASETS:
        raise ValueError(f"unknown data set {dataset!r}")
    rows, inputs, classes = SIZES[dataset]
    extra = ""
    if dataset == "xor":  # four points are too few to split: repeat them with some noise
        extra = "\n  options: {repeats: 50, noise: 0.1}   # generated data sets take options"
    if dataset == "penguins":  # a table: text columns are one-hot, cells may be missing
        extra = (
            "\n  drop: [year]  # the year of measuring says nothing of the species"
            "\n  missing: median  # numbers: the training split's median; a category: <missing>"
        )
    source = f"  dataset: {dataset}  # a built-in (`bprop datasets`), or `path: my.csv`{extra}"
    header = f"`bprop train {dataset}.yaml`"
    scaled = dataset != "ravine"  # the ravine's unequal scales are the point of it
    return _config(dataset, header, source, rows, inputs, classes, scaled)


def table_starter(found: Profile, path: str, name: str) -> str:
    """YAML text fitted to the table ``found`` describes, read from ``path`` (relative to the
    config), for a run named ``name``."""
    lines = [f"  path: {_scalar(path)}  # relative to this file"]
    if found.task == "classification":
        what = f"{len(found.classes)} classes: {_listed(found.classes)}"
    else:
        what = "numbers: a regression"
    lines.append(f"  target: {_scalar(found.target)}  # the column to predict ({what})")
    if found.target_missing:
        lines[-1] += f"; {found.target_missing} rows without it are left out"
    for names, why in (
        (found.identifiers, "unique per row, like an id: nothing to learn from"),
        (found.wide, "too many categories to one-hot"),
    ):
        if names:
            lines.append(f"  # {_names(names)}: {why}")
    if found.dropped:
        lines.append(f"  drop: [{', '.join(map(_scalar, found.dropped))}]")
    kept = [n for n in found.categorical if n not in found.dropped]
    if kept:
        counts = ", ".join(f"{_shown(n)} ({found.categorical[n]})" for n in kept)
        lines.append(f"  # text columns, one 0/1 input per category: {counts}")
    gaps = {n: k for n, k in found.missing.items() if n not in found.dropped}
    if gaps:
        shown = ", ".join(f"{_shown(n)} {k}" for n, k in gaps.items())
        lines.append(f"  # missing cells: {shown}")
        lines.append(
            "  missing: median  # numbers: the training split's median; a category: <missing>"
        )
    rare = [n for n in found.rare if n not in found.dropped]
    if rare:
        lines.append(
            f"  unknown: ignore  # rare categories in {_names(rare)}: one unseen in training "
            "gets zeros at predict time"
        )
    if found.empty:
        lines.append(f"  # {_names(found.empty)}: no value in any row")
    source = "\n".join(lines)
    classes = len(found.classes) if found.task == "classification" else 0
    header = "`bprop train CONFIG`; `bprop inspect CONFIG` shows how the data is read"
    dtype = "float64" if found.huge else "float32"
    return _config(name, header, source, found.rows, found.input_width, classes, dtype=dtype)


def _config(
    name: str,
    train: str,
    source: str,
    rows: int,
    inputs: int,
    classes: int,
    scaled: bool = True,
    dtype: str = "float32",
) -> str:
    """The whole config: ``source`` is the data section's lines; ``scaled``: standardize the
    features; ``dtype`` float64 for values beyond float32's range."""
    plan = recipe(rows, inputs)
    wide = "; this data holds values beyond float32's 3.4e38" if dtype == "float64" else ""
    hidden = "\n".join(
        f"    - {{type: dense, units: {units}, activation: {plan.activation}}}"
        for units in plan.hidden
    )
    if classes == 0:
        output = "    - {type: dense, units: 1, activation: linear}    # the predicted value"
        loss = "mse  # regression: the target is standardized for training (standardize_target)"
    elif classes == 2:
        output = "    - {type: dense, units: 1, activation: sigmoid}   # P(the second class)"
        loss = "binary_cross_entropy  # with the sigmoid output, from the logit"
    else:
        output = f"    - {{type: dense, units: {classes}, activation: softmax}}   # one per class"
        loss = "cross_entropy  # with the softmax output, from the logits"
    return f"""\
# A bprop experiment: train it with {train}.
# Every key is optional unless marked required; `bprop config FILE` prints all the defaults.
name: {_scalar(name)}  # required: names the run directory (runs/NAME)
seed: 0  # one seed for the split, the initial weights and the shuffling
dtype: {dtype}  # float32 (fast) or float64 (exact{wide})

data:
{source}
  validation_split: {plan.validation_split}  # share held out to pick the best epoch
  test_split: {plan.test_split}  # share held out for the final figures
  standardize: {str(scaled).lower()}  # features to zero mean, unit variance (training split)

model:
  layers:  # required: {_either(LAYER_TYPES)} layers; up to {inputs} inputs
{hidden}
{output}

loss: {loss}

optimizer: {{type: adam, lr: {plan.lr}}}  # {_either(OPTIMIZERS)}
schedule: {{type: constant}}  # {_either(SCHEDULES)} decay of the lr

training:
  epochs: {plan.epochs}
  batching: {{type: minibatch, size: {plan.batch}}}  # full (whole data), sgd or minibatch
  early_stopping: {{monitor: val_loss, patience: 20}}  # ends on the best epoch's weights
  # clip: {{type: norm, max_norm: 5.0}}  # cap the gradient's norm (against explosions)
  # diagnostics: true  # per-layer gradient norms in the history

output:
  dir: runs  # where run directories go
  checkpoint_every: 0  # also keep a checkpoint every N epochs (0: initial, best and last)
"""


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar: as it is where bprop's YAML reader reads it back so, else
    double-quoted (`_quoted`)."""
    from .loading import parse_yaml

    if text.isprintable() and re.fullmatch(r"[^\s:#,\[\]{}&*!|>'\"%@`<]+", text):
        try:
            if parse_yaml(text) == text:
                return text
        except Exception:
            pass
    return _quoted(text)


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar of ``text``: backslash and quote escaped, and every character
    that is not printable (line breaks, controls) as an escape, so it stays on its line."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _shown(name: str) -> str:
    """A name in a comment: as it is, or quoted when it holds a character that would end the
    comment's line."""
    return name if name.isprintable() else _quoted(name)


def _names(names: list[str]) -> str:
    return ", ".join(map(_shown, names))


def _listed(names: list[str], shown: int = 5) -> str:
    """The first few names, then how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return _names(names[:shown]) + more


def _either(names: Iterable[str]) -> str:
    """``a, b or c``."""
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last
