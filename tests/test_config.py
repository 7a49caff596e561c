"""Experiment configs: the issue's example loads as written, and mistakes read clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from backprop_cli.config import load_config
from backprop_cli.errors import ConfigError

EXAMPLE = """\
name: mnist-adam
seed: 0
dtype: float32                 # float32 | float64
data:
  dataset: mnist5k             # a built-in, or instead `path:` to a file (one of the two)
  validation_split: 0.1        # 0 disables; stratified for classification
  test_split: 0.1
  standardize: true            # fitted on the training split only
model:
  init_from: null              # optional .npz of initial weights (keys as in checkpoints)
  layers:
    - {type: dense, units: 128, activation: relu, init: he_normal}
    - {type: dense, units: 10, activation: softmax}
loss: cross_entropy            # mse | cross_entropy | binary_cross_entropy
optimizer: {type: adam, lr: 0.001}
schedule: {type: cosine, min_lr: 1.0e-5}   # absent: constant
training:
  epochs: 20
  batching: {type: minibatch, size: 64}     # full (batch GD) | sgd (one sample per step) | minibatch
  shuffle: true                # a fresh order every epoch, from the seed; false: file order
  clip: {type: norm, max_norm: 5.0}         # or {type: value, max_value: 1.0}; absent: none
  early_stopping: {monitor: val_loss, patience: 10, min_delta: 0.0, restore_best: true}  # optional
output:
  dir: runs
  checkpoint_every: 5          # epochs; 0: only initial, best and last
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def problems(path: Path, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value).splitlines()


def test_the_documented_example_loads_as_written(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, EXAMPLE))
    assert cfg.optimizer.type == "adam" and cfg.optimizer.lr == 0.001
    assert cfg.schedule.type == "cosine" and cfg.schedule.min_lr == 1e-5
    assert cfg.training.batching.type == "minibatch" and cfg.training.batching.size == 64
    assert cfg.training.clip is not None and cfg.training.clip.type == "norm"
    assert cfg.training.early_stopping is not None and cfg.training.early_stopping.patience == 10
    assert cfg.model.layers[0].init == "he_normal" and cfg.output.checkpoint_every == 5
    resolved = cfg.resolved()
    assert resolved["optimizer"]["beta2"] == 0.999  # defaults filled
    assert resolved["schedule"]["warmup_epochs"] == 0


def test_every_mistake_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        EXAMPLE.replace("lr: 0.001", "lr: -1, betta1: 2")
        .replace("units: 128", "units: 0")
        .replace("type: cosine", "type: cosin")
        .replace("size: 64", "size: many"),
    )
    lines = problems(path)
    assert f"{path}: optimizer.lr: Input should be greater than 0 (received: -1)" in lines
    assert any(
        line.startswith(f"{path}: optimizer.betta1: unknown key; did you mean 'beta1'?")
        for line in lines
    )
    assert (
        f"{path}: model.layers.0.units: Input should be greater than or equal to 1 (received: 0)"
        in lines
    )
    assert any(
        line.startswith(f"{path}: schedule.type: unknown type 'cosin'; choose one of:")
        for line in lines
    )
    assert any(line.startswith(f"{path}: training.batching.size:") for line in lines)
    assert len(lines) == 5


def test_yaml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nmodel: [unclosed\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: YAML syntax error: line 3, column 1")


def test_cross_field_rules_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    lines = problems(path, ("model.layers.1.activation=sigmoid",))
    assert lines == [  # the value is the override's: named as the caller names overrides
        "overrides model.layers.1.activation: loss cross_entropy needs a softmax output layer, "
        "received sigmoid; set it to softmax, or use loss mse"
    ]
    lines = problems(path, ("data.validation_split=0",))
    assert lines[0].startswith(f"{path}: training.early_stopping.monitor: val_loss needs")


def test_overrides_reach_lists_and_report_bad_paths(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    cfg = load_config(path, ("model.layers.0.units=32", "training.clip=null", "seed=7"))
    assert cfg.model.layers[0].units == 32 and cfg.training.clip is None and cfg.seed == 7
    assert "no list item '5'" in problems(path, ("model.layers.5.units=3",))[0]
    assert "expected key.path=value" in problems(path, ("seed",))[0]
    assert (
        "optimizer.lr: Input should be a valid number" in problems(path, ("optimizer.lr=fast",))[0]
    )


def test_file_paths_resolve_against_the_config(tmp_path: Path) -> None:
    text = EXAMPLE.replace("dataset: mnist5k", "path: data/my.csv")
    cfg = load_config(write(tmp_path, text))
    assert cfg.data.path == str((tmp_path / "data/my.csv").resolve())


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_a_config_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    (line,) = problems(write(tmp_path, text))
    assert "the config must be a mapping" in line
