"""`bprop init`: a commented starter config for a built-in data set that trains as it is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from ..core.layers import LAYER_TYPES
from ..core.optim import OPTIMIZERS
from ..core.schedules import SCHEDULES
from .models import BUILTIN_DATASETS, DataConfig

#: Classes of the classification data sets (generated ones at their default options).
CLASSES = {"xor": 2, "spirals": 3, "moons": 2, "circles": 2, "blobs": 3, "digits": 10,
           "iris": 3, "mnist5k": 10, "penguins": 3}  # fmt: skip
REGRESSION = ("sine", "ravine")


def starter_config(dataset: str = "moons") -> str:
    """YAML text with a comment on every key; trains ``dataset`` with sensible defaults."""
    if dataset not in BUILTIN_DATASETS:
        raise ValueError(f"unknown data set {dataset!r}")
    big = dataset == "mnist5k"
    hidden = (128, 64) if big else (32, 32)
    if dataset in REGRESSION:
        output = "    - {type: dense, units: 1, activation: linear}    # one value per sample"
        loss = "mse                      # mean squared error (½ per sample), for regression"
    else:
        k = CLASSES[dataset]
        output = f"    - {{type: dense, units: {k}, activation: softmax}}   # one unit per class"
        loss = "cross_entropy            # with the softmax output, from the logits"
    epochs = 10 if big else 50
    standardize = "false" if dataset == "ravine" else "true"
    options = (  # four points are too few to split: repeat them with some noise
        "\n  options: {repeats: 50, noise: 0.1}   # generated data sets take options"
        if dataset == "xor"
        else ""
    )
    if dataset == "penguins":  # a table: text columns are one-hot, cells may be missing
        others = [way for way in get_args(DataConfig.model_fields["missing"].annotation)]
        others.remove("median")
        options = (
            f"\n  missing: median              # fill missing numbers (or {', '.join(others)})"
        )
    optimizers, schedules = _either(OPTIMIZERS), _either(SCHEDULES)
    layer_types = _either(LAYER_TYPES)
    return f"""\
# A bprop experiment: train it with `bprop train {dataset}.yaml`.
# Every key is optional unless marked required; `bprop config FILE` prints all the defaults.
name: {dataset}                 # required: names the run directory (runs/{dataset})
seed: 0                         # one seed for the split, the initial weights and the shuffling
dtype: float32                  # float32 (fast) or float64 (exact)

data:
  dataset: {dataset}            # a built-in (`bprop datasets`), or `path: my.csv`{options}
  validation_split: 0.1         # share held out to watch overfitting (0 for none)
  test_split: 0.1               # share held out for the final figures
  standardize: {standardize}    # zero mean, unit variance, fitted on the training split

model:
  layers:                       # required: {layer_types} layers
    - {{type: dense, units: {hidden[0]}, activation: relu}}    # He initialization by default
    - {{type: dense, units: {hidden[1]}, activation: relu}}
{output}

loss: {loss}

optimizer: {{type: adam, lr: 0.001}}    # {optimizers}
schedule: {{type: cosine}}             # {schedules} decay of the lr

training:
  epochs: {epochs}
  batching: {{type: minibatch, size: 32}}   # full (whole data), sgd (one sample) or minibatch
  # clip: {{type: norm, max_norm: 5.0}}     # cap the gradient's norm (against explosions)
  # early_stopping: {{monitor: val_loss, patience: 10}}
  # diagnostics: true                      # per-layer gradient norms in the history

output:
  dir: runs                     # where run directories go
  checkpoint_every: 10          # also keep a checkpoint every N epochs (0: initial/best/last)
"""


def _either(names: Iterable[str]) -> str:
    """``a, b or c``."""
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last
