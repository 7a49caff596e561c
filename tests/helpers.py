"""Helpers shared by the test modules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner, Result

from backprop_cli.cli.app import app
from backprop_cli.core.activations import get_activation
from backprop_cli.core.layers import Dense
from backprop_cli.core.network import Network

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
runner = CliRunner()


def cli(args: list[str]) -> Result:
    """Run `bprop` with ``args`` in-process."""
    return runner.invoke(app, args)


def assert_same_arrays(a: Path, b: Path, keep: str = "") -> None:
    """The two checkpoints hold the same keys starting with ``keep`` and identical arrays there."""
    with np.load(a) as x, np.load(b) as y:
        keys = {k for k in x.files if k.startswith(keep) and k != "config"}
        assert keys and keys == {k for k in y.files if k.startswith(keep) and k != "config"}
        for key in sorted(keys):
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def history_of(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "history.json").read_text())


def strip_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in history]


def assert_within_scale(got: np.ndarray, ref: np.ndarray, tolerance: float) -> None:
    """Every entry of ``got`` within ``tolerance`` × the largest |entry| of ``ref``: agreement to
    rounding for float32 runs whose sums are ordered differently (an entry near zero can then
    differ by far more than ``tolerance`` of itself)."""
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    assert float(np.abs(got - ref).max(initial=0.0)) <= tolerance * scale


def train_quietly(config: Path, out: Path, *overrides: str) -> Path:
    """`bprop train CONFIG --out OUT --quiet`, each of ``overrides`` given with --set; the run
    must succeed."""
    args = ["train", str(config), "--out", str(out), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    result = cli(args)
    assert result.exit_code == 0, result.output
    return out


def seed_weights() -> dict[str, np.ndarray]:
    """The weights of the seed's worked 2-3-1 sigmoid network (tests/test_seed_examples.py
    derives every number from them): W1 = [[.1, .2], [.3, .4], [.5, .6]], b1 = (.1, .2, .3),
    W2 = [[.7, .8, .9]], b2 = .4; its example is x = (1, 2), y = 1 under mse with the ½."""
    return {
        "layers.0.W": np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]),
        "layers.0.b": np.array([0.1, 0.2, 0.3]),
        "layers.1.W": np.array([[0.7, 0.8, 0.9]]),
        "layers.1.b": np.array([0.4]),
    }


#: (loss, output activation) pairs the compiled whole step and epoch compute.
DENSE_LOSSES = [("cross_entropy", "softmax"), ("mse", "linear"), ("mse", "sigmoid"),
                ("mse", "tanh"), ("mse", "relu"), ("binary_cross_entropy", "sigmoid")]  # fmt: skip


def dense_network(hidden: list[tuple[int, str]], out: tuple[int, str], loss: str,
                  inputs: int = 5, dtype: str = "float64", seed: int = 0) -> Network:  # fmt: skip
    """A network of dense layers: ``hidden`` (units, activation) pairs, then ``out``."""
    layers = [Dense(u, get_activation(a)) for u, a in hidden]
    layers.append(Dense(out[0], get_activation(out[1])))
    return Network(layers, inputs, loss, np.random.default_rng(seed), dtype)
