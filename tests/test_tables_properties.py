"""Properties of the table encoding over random tables (Hypothesis): whatever the values, the gaps
and the split, the inputs are finite, each one-hot block marks the row's own category, a file
reads alike as CSV and Parquet, and the cache gives back exactly what was prepared."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.config.models import DataConfig
from backprop_cli.data import load_data
from backprop_cli.data.table.cache import arrays_of
from backprop_cli.data.table.encoding import MISSING

WORDS = st.sampled_from(["red", "blue", "green", "a b", "x,y", "Ünï"])
NUMBERS = st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def tables(draw: st.DrawFn) -> dict[str, list]:
    n = draw(st.integers(12, 40))
    column = {
        "num": draw(st.lists(st.one_of(st.none(), NUMBERS), min_size=n, max_size=n)),
        "word": draw(st.lists(st.one_of(st.none(), WORDS), min_size=n, max_size=n)),
        "label": [["p", "q", "r"][i % 3] for i in range(n)],
    }
    if all(w is None for w in column["word"]):  # a column with no value at all reads as numbers
        column["word"][0] = "red"
    for i in range(n):  # three cells in four have a number: the training split always has some
        if i % 4 != 3 and column["num"][i] is None:
            column["num"][i] = float(i)
    return column


def load(path: Path, strategy: str) -> object:
    section = DataConfig.model_validate(
        {
            "path": str(path),
            "target": "label",
            "missing": strategy,
            "validation_split": 0.2,
            "test_split": 0.2,
        }
    )
    return load_data(section, "classification", np.random.default_rng(0), False, np.dtype("f8"))


@settings(max_examples=25)
@given(tables(), st.sampled_from(["mean", "median", "most_frequent"]))
def test_every_input_is_finite_and_one_hot_blocks_mark_the_rows_category(
    columns: dict[str, list], strategy: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # A cache of its own: two examples may hold the same table, whose entry would be found.
        os.environ["BPROP_CACHE_DIR"] = str(Path(tmp) / "cache")
        path = Path(tmp) / "t.csv"
        table = pa.table({"num": pa.array(columns["num"], pa.float64()),
                          "word": pa.array(columns["word"], pa.string()),
                          "label": columns["label"]})  # fmt: skip
        pacsv.write_csv(table, path)
        splits = load(path, strategy)
        parquet = Path(tmp) / "t.parquet"
        pq.write_table(table, parquet)
        again = load(parquet, strategy)
    word = next(f for f in splits.encoding.features if f.name == "word")
    for X in (splits.train.X, splits.val.X, splits.test.X):
        assert np.all(np.isfinite(X))
        block = X[:, 1:]
        assert set(np.unique(block).tolist()) <= {0.0, 1.0}
        assert np.all(block.sum(axis=1) <= 1)
    train_block = splits.train.X[:, 1:]
    assert np.all(train_block.sum(axis=1) == 1)  # every training category has its column
    # which rows went to training: recover them from the labels' file order (stratified split)
    words = [w if w is not None else MISSING for w in columns["word"]]
    seen = {word.categories[j] for j in train_block.argmax(axis=1)}
    assert seen == set(word.categories) and seen <= set(words)
    fill = splits.encoding.features[0].fill
    present = [v for v in columns["num"] if v is not None]
    assert min(present) <= fill <= max(present)
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(arrays_of(splits)[name], arrays_of(again)[name], err_msg=name)


@settings(max_examples=15)
@given(tables())
def test_the_cache_gives_back_exactly_what_was_prepared(columns: dict[str, list]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # A cache of its own: two examples may hold the same table, whose entry would be found.
        os.environ["BPROP_CACHE_DIR"] = str(Path(tmp) / "cache")
        path = Path(tmp) / "t.csv"
        table = pa.table({"num": pa.array(columns["num"], pa.float64()),
                          "word": pa.array(columns["word"], pa.string()),
                          "label": columns["label"]})  # fmt: skip
        pacsv.write_csv(table, path)
        first, second = load(path, "median"), load(path, "median")
    assert (first.report["cache"], second.report["cache"]) == ("stored", "hit")
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(arrays_of(first)[name], arrays_of(second)[name], err_msg=name)
    assert first.encoding.to_json() == second.encoding.to_json()
