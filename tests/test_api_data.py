"""`bp.train(config, data=...)`: a pandas DataFrame, a pyarrow Table or (X, y) arrays held in
memory train exactly as a file of the same data does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import backprop_cli as bp

from helpers import strip_seconds

BIRDS = {
    "island": ["Biscoe", "Dream", "Torgersen", None] * 15,
    "bill": [39.1 + (i % 7) for i in range(60)],
    "mass": [3750.0 + 40 * (i % 9) if i % 11 else float("nan") for i in range(60)],
    "species": ["Adelie", "Gentoo", "Chinstrap"] * 20,
}
CONFIG = {
    "name": "birds",
    "seed": 0,
    "data": {"target": "species", "missing": "median", "test_split": 0.2},
    "model": {
        "layers": [{"units": 8, "activation": "tanh"}, {"units": 3, "activation": "softmax"}]
    },
    "loss": "cross_entropy",
    "optimizer": {"type": "adam", "lr": 0.05},
    "training": {"epochs": 5, "batching": {"type": "minibatch", "size": 8}},
}


def from_file(tmp_path: object, frame: pd.DataFrame) -> bp.TrainResult:
    path = tmp_path / "birds.csv"  # type: ignore[operator]
    frame.to_csv(path, index=False, na_rep="NA")
    config = CONFIG | {"data": CONFIG["data"] | {"path": str(path)}}
    return bp.train(config)


@pytest.mark.parametrize("kind", ["DataFrame", "pyarrow Table"])
def test_a_table_in_memory_trains_as_the_same_file_does(kind: str, tmp_path: object) -> None:
    frame = pd.DataFrame(BIRDS)
    data = frame if kind == "DataFrame" else pa.Table.from_pandas(frame, preserve_index=False)
    result = bp.train(CONFIG, data=data)
    expected = from_file(tmp_path, frame)
    assert strip_seconds(result.history) == strip_seconds(expected.history)
    assert result.metrics["test"] == expected.metrics["test"]
    assert result.model.class_names == ["Adelie", "Chinstrap", "Gentoo"]
    assert list(result.model.predict(frame.head(3))) == list(expected.model.predict(frame.head(3)))


def test_arrays_in_memory_train_as_the_same_npz_does(tmp_path: object) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    path = tmp_path / "xy.npz"  # type: ignore[operator]
    np.savez(path, X=X, y=y)
    config = CONFIG | {
        "data": {"test_split": 0.2},
        "model": {
            "layers": [{"units": 4, "activation": "tanh"}, {"units": 2, "activation": "softmax"}]
        },
    }
    result = bp.train(config, data=(X, y))
    expected = bp.train(config | {"data": {"path": str(path), "test_split": 0.2}})
    assert strip_seconds(result.history) == strip_seconds(expected.history)
    assert result.metrics["test"] == expected.metrics["test"]


def test_a_config_file_or_its_source_is_replaced_by_the_data_given(tmp_path: object) -> None:
    config = tmp_path / "c.yaml"  # type: ignore[operator]
    config.write_text(
        "name: c\ndata: {dataset: iris, test_split: 0.2}\nmodel:\n  layers:\n"
        "    - {units: 2, activation: softmax}\nloss: cross_entropy\ntraining: {epochs: 1}\n"
    )
    X = np.tile(np.arange(60.0)[:, None], (1, 3))
    result = bp.train(config, data=(X, np.arange(60) % 2))
    assert sum(result.metrics["samples"].values()) == 60  # iris has 150 rows
    assert result.status == "completed" and result.model.feature_names is None


def test_data_that_cannot_work_is_one_clear_error() -> None:
    with pytest.raises(bp.DataError, match="data must be a pandas DataFrame, a pyarrow Table"):
        bp.train(CONFIG, data="birds.csv")
    with pytest.raises(bp.ConfigError, match=r"data.target: applies to a table"):
        bp.train(CONFIG, data=(np.zeros((10, 2)), np.zeros(10, dtype=int)))
    untargeted = CONFIG | {"data": {"missing": "median"}}
    with pytest.raises(bp.DataError, match=r"data.target is not set; .*island, bill, mass"):
        bp.train(untargeted, data=pd.DataFrame(BIRDS))
    arrays = CONFIG | {"data": {}}
    with pytest.raises(bp.DataError, match=r"y must hold one target per row of X \(10 rows\)"):
        bp.train(arrays, data=(np.zeros((10, 2)), np.zeros(9, dtype=int)))
    with pytest.raises(bp.DataError, match=r"X must hold real numbers"):
        bp.train(arrays, data=(np.array([["a", "b"]] * 10), np.zeros(10, dtype=int)))


def test_a_run_of_data_in_memory_says_where_its_data_went(tmp_path: object) -> None:
    from helpers import cli

    frame = pd.DataFrame(BIRDS)
    run = tmp_path / "run"  # type: ignore[operator]
    bp.train(CONFIG, data=frame, out=run)
    result = cli(["evaluate", str(run)])
    assert result.exit_code == 2
    assert "trained on data held in memory" in " ".join(result.output.split())
    (tmp_path / "birds.csv").write_text(frame.to_csv(index=False, na_rep="NA"))  # type: ignore[operator]
    again = cli(["evaluate", str(run), str(tmp_path / "birds.csv"), "--json"])  # type: ignore[operator]
    assert again.exit_code == 0, again.output
