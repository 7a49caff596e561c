"""The Python API (`import backprop_cli as bp`), used as a notebook would use it, against what the
command line gives for the same config."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import backprop_cli as bp
from backprop_cli.core.training import EpochEnded, StepDone
from backprop_cli.errors import ConfigError, DataError
from backprop_cli.runs.artifacts.checkpoints import Checkpoint
from backprop_cli.runs.train.run import RunFinished, RunStarted
from backprop_cli.runs.trained.evaluation import split_of

from helpers import CONFIG_DIR, cli, history_of, strip_seconds

IRIS = CONFIG_DIR / "iris.yaml"
PENGUINS = CONFIG_DIR.parent / "datasets" / "penguins.csv"


def test_load_config_from_a_file_a_dict_or_a_config_with_overrides() -> None:
    cfg = bp.load_config(IRIS, overrides=["training.epochs=7"])
    assert cfg.training.epochs == 7 and cfg.name == "iris"
    again = bp.load_config(cfg.resolved(), overrides=["optimizer.lr=0.5"])
    assert again.optimizer.lr == 0.5 and again.training.epochs == 7
    assert bp.load_config(again).optimizer.lr == 0.5
    with pytest.raises(ConfigError, match=r"training\.epochs"):
        bp.load_config({**cfg.resolved(), "training": {"epochs": 0}})


def test_train_in_memory_writes_nothing_and_matches_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = bp.load_config(IRIS, overrides=["training.epochs=12"])
    result = bp.train(cfg)
    assert list(tmp_path.iterdir()) == []  # no run directory, no file
    assert result.status == "completed" and result.run_dir is None
    run = tmp_path / "cli-run"
    assert cli(["train", str(IRIS), "--out", str(run), "--quiet", "--set", "training.epochs=12"]
               ).exit_code == 0  # fmt: skip
    assert strip_seconds(result.history) == strip_seconds(history_of(run))
    metrics = json.loads((run / "metrics.json").read_text())
    assert result.metrics["test"] == metrics["test"] and result.metrics["final"].keys()
    X, y = split_of(cfg, "test")
    assert result.model.evaluate(X, y)["accuracy"] == metrics["test"]["accuracy"]


def test_train_into_a_directory_and_callbacks_see_every_event(tmp_path: Path) -> None:
    seen: list[object] = []
    result = bp.train(IRIS, out=tmp_path / "run", callbacks=[seen.append])
    assert result.run_dir == tmp_path / "run" and (tmp_path / "run" / "metrics.json").is_file()
    assert isinstance(seen[0], RunStarted) and isinstance(seen[-1], RunFinished)
    epochs = [e for e in seen if isinstance(e, EpochEnded)]
    assert [e.row for e in epochs] == result.history
    steps = [e for e in seen if isinstance(e, StepDone)]
    assert [s.update for s in steps] == list(range(1, len(steps) + 1))
    with pytest.raises(ConfigError, match="already holds a run"):
        bp.train(IRIS, out=tmp_path / "run")  # never over an existing run


def test_training_events_can_be_stopped() -> None:
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) == 3

    events = list(bp.training_events(IRIS, stop=stop))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "interrupted"
    assert sum(isinstance(e, StepDone) for e in events) == 3


def test_a_loaded_model_predicts_as_bprop_predict_does(tmp_path: Path) -> None:
    run = tmp_path / "run"
    bp.train(IRIS, out=run)
    model = bp.load(run)
    assert model.class_names == ["setosa", "versicolor", "virginica"]
    cfg = bp.load_config(IRIS)
    X, y = split_of(cfg, "test")
    np.savez(tmp_path / "x.npz", X=X)
    printed = cli(["predict", str(run), str(tmp_path / "x.npz")]).output.split()
    assert printed[0] == "prediction" and list(model.predict(X)) == printed[1:]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(np.asarray(model.class_names)[proba.argmax(axis=1)]) == printed[1:]
    reported = json.loads(cli(["evaluate", str(run), "--json"]).output)
    assert model.evaluate(X, y)["accuracy"] == reported["accuracy"]
    names = np.asarray(model.class_names)[y]  # classes may be given by name
    assert model.evaluate(X, names)["accuracy"] == reported["accuracy"]


def test_binary_and_regression_models(tmp_path: Path) -> None:
    moons = bp.train(CONFIG_DIR / "moons.yaml", callbacks=()).model
    X, _ = split_of(bp.load_config(CONFIG_DIR / "moons.yaml"), "test")
    proba = moons.predict_proba(X)
    assert proba.shape == (len(X), 2)  # one sigmoid unit: P(0) and P(1)
    assert np.array_equal(moons.predict(X), (proba[:, 1] > 0.5).astype(np.int64))
    sine = bp.train(CONFIG_DIR / "sine.yaml").model
    Xs, ys = split_of(bp.load_config(CONFIG_DIR / "sine.yaml"), "test")
    assert sine.predict(Xs).shape == (len(Xs),)
    assert set(sine.evaluate(Xs, ys)) >= {"mse", "mae", "r2"}
    with pytest.raises(ConfigError, match="regression model has no class probabilities"):
        sine.predict_proba(Xs)


class CallbackError(Exception):
    """What the callback of `test_a_run_left_mid_way_keeps_its_last_epoch_and_frees_its_folder`
    raises."""


def leave_after_epoch_two(how: str, cfg: object, run: Path) -> None:
    """Train ``cfg`` into ``run`` and leave it once epoch 2 has ended: a callback raising, or
    the events closed, or dropped."""
    if how == "callback":

        def fail(event: object) -> None:
            if isinstance(event, EpochEnded) and event.epoch == 2:
                raise CallbackError

        with pytest.raises(CallbackError):
            bp.train(cfg, out=run, callbacks=[fail])
        return
    events = bp.training_events(cfg, out=run)
    for event in events:
        if isinstance(event, EpochEnded) and event.epoch == 2:
            break
    if how == "closed":
        events.close()
    else:
        del events  # the last reference: CPython finalizes the generator here
        gc.collect()


@pytest.mark.parametrize("how", ["callback", "closed", "dropped"])
def test_a_run_left_mid_way_keeps_its_last_epoch_and_frees_its_folder(
    how: str, tmp_path: Path
) -> None:
    cfg = bp.load_config(IRIS, overrides=["training.epochs=4"])
    run = tmp_path / "run"
    leave_after_epoch_two(how, cfg, run)
    last = Checkpoint.read(run / "checkpoints" / "last.npz")
    assert last.weights_epoch == 2 and len(history_of(run)) == 2
    resumed = cli(["train", str(IRIS), "--resume", str(run / "checkpoints" / "last.npz"),
                   "--quiet", "--set", "training.epochs=4"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output  # the lock was released
    assert [row["epoch"] for row in history_of(run)] == [1, 2, 3, 4]


KEPT_UNTIL_EXIT = """\
import sys
import backprop_cli as bp

cfg = bp.load_config(sys.argv[1], overrides=["training.epochs=4"])
events = bp.training_events(cfg, out=sys.argv[2])
for event in events:
    if type(event).__name__ == "EpochEnded" and event.epoch == 2:
        break
# the program ends with the generator still open, in a global
"""


def test_a_run_kept_open_until_python_exits_keeps_its_last_epoch(tmp_path: Path) -> None:
    """Closed at exit, before the interpreter takes its modules apart (where the flush would
    fail with "import of io halted" and lose every epoch)."""
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", KEPT_UNTIL_EXIT, str(IRIS), str(run)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and "Exception ignored" not in done.stderr, done.stderr
    last = Checkpoint.read(run / "checkpoints" / "last.npz")
    assert last.weights_epoch == 2 and len(history_of(run)) == 2


@pytest.fixture(scope="module")
def iris_model() -> bp.TrainedModel:
    return bp.train(bp.load_config(IRIS, overrides=["training.epochs=3"])).model


@pytest.fixture(scope="module")
def sine_model() -> bp.TrainedModel:
    return bp.train(bp.load_config(CONFIG_DIR / "sine.yaml", overrides=["training.epochs=3"])).model


ENTRY_POINTS = {
    "outputs": lambda model, X: model.outputs(X),
    "predict": lambda model, X: model.predict(X),
    "predict_proba": lambda model, X: model.predict_proba(X),
    "evaluate": lambda model, X: model.evaluate(X, [0]),
}
BAD_X = [
    ("text", [["a", "b", "c", "d"]], r"X must hold real numbers; received dtype <U1"),
    ("ragged rows", [[1, 2, 3, 4], [1, 2]], r"X: its rows are not all of the same length"),
    ("complex numbers", np.ones((1, 4)) * 1j, r"X must hold real numbers; received dtype complex"),
    ("a dict", {"sepal_length": [1.0]}, r"X must be a 2-D array of numbers .*; received dict"),
    ("too few features", np.ones((1, 3)), r"takes 4 feature columns; this input has 3"),
    ("one row as 1-D", np.ones(4), r"takes 4 feature columns; this input has \(4,\)"),
    ("no rows", np.zeros((0, 4)), r"X: no rows to use"),
    ("infinity", [[1, 2, np.inf, 4]], r"X: row 1, column 3 is not finite"),
]  # fmt: skip


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(("case", "X", "message"), BAD_X, ids=[c[0] for c in BAD_X])
def test_features_the_model_cannot_take_are_a_data_error(
    entry: str, case: str, X: object, message: str, iris_model: bp.TrainedModel
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning (complex numbers cast to real) is no answer
        with pytest.raises(DataError, match=message):
            ENTRY_POINTS[entry](iris_model, X)


BAD_Y = [
    ("iris", "shorter than X", [0, 1], r"y must hold one target per row of X \(3 rows\); "
     r"received shape \(2,\)"),
    ("iris", "ragged", [[0], [1, 2], [0]], r"y: its rows are not all of the same length"),
    ("iris", "a dict", {"a": 1}, r"y must be an array of one target per row of X; received dict"),
    ("iris", "complex", [1j, 0, 0], r"y must hold real numbers or class names; received dtype "
     "complex"),
    ("iris", "one-hot rows", np.eye(3), r"y must hold one class \(its index or name\) per row"),
    ("iris", "unknown name", ["setosa", "rose", "setosa"], r"y: row 2: 'rose' is not a class of "
     "this model; its classes are setosa, versicolor, virginica"),
    ("iris", "index out of range", [0, 1, 7], r"y: data row 3: the target 7 is not a class"),
    ("sine", "text", ["a", "b", "c"], r"y must hold real numbers; received dtype <U1"),
    ("sine", "longer than X", np.zeros(4), r"one target per row of X \(3 rows\)"),
    ("sine", "not a number", [0.0, np.nan, 1.0], r"y: row 2 is not a finite number"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "case", "y", "message"), BAD_Y, ids=[c[1] for c in BAD_Y])
def test_targets_the_model_cannot_take_are_a_data_error(
    model: str, case: str, y: object, message: str, request: pytest.FixtureRequest
) -> None:
    trained = request.getfixturevalue(f"{model}_model")
    X = np.ones((3, len(trained.feature_names or [0]) if model == "sine" else 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=message):
            trained.evaluate(X, y)


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> tuple[bp.TrainedModel, dict]:
    """A model of columns width and height, which differ in scale and meaning (taking one for
    the other changes the predictions), and four rows to ask it about."""
    folder = tmp_path_factory.mktemp("sized")
    rng = np.random.default_rng(0)
    width, height = rng.uniform(0, 1, 80), rng.uniform(0, 100, 80)
    rows = [f"{w:g},{h:g},{int(w > 0.5)}" for w, h in zip(width, height, strict=True)]
    (folder / "train.csv").write_text("\n".join(["width,height,label", *rows]) + "\n")
    cfg = {
        "name": "sized", "data": {"path": str(folder / "train.csv"), "target": "label"},
        "model": {"layers": [{"units": 8, "activation": "tanh"},
                             {"units": 1, "activation": "sigmoid"}]},
        "loss": "binary_cross_entropy",
        "training": {"epochs": 20, "batching": {"type": "full"}},
    }  # fmt: skip
    probe = {"width": [0.1, 0.9, 0.3, 0.7], "height": [90.0, 5, 60, 20], "label": [0, 1, 0, 1]}
    return bp.train(cfg).model, probe


def test_a_table_is_matched_to_the_model_by_column_name(
    sized: tuple[bp.TrainedModel, dict],
) -> None:
    model, probe = sized
    in_order = np.c_[probe["width"], probe["height"]]
    expected = list(model.predict(in_order))
    assert list(model.predict(in_order[:, ::-1])) != expected  # the order matters to the model
    swapped = pa.table({"height": probe["height"], "label": probe["label"],
                        "width": probe["width"]})  # fmt: skip
    assert list(model.predict(swapped)) == expected
    assert list(model.predict(swapped.to_batches()[0])) == expected
    np.testing.assert_array_equal(model.predict_proba(swapped), model.predict_proba(in_order))
    assert model.evaluate(swapped, probe["label"]) == model.evaluate(in_order, probe["label"])
    with pytest.raises(DataError, match=r"X: no column 'height'; the model takes the columns "
                       r"width, height \(and the target 'label'\), in any order"):  # fmt: skip
        model.predict(pa.table({"width": probe["width"]}))
    with pytest.raises(DataError, match=r"X: unknown column 'depth'"):
        model.predict(swapped.append_column("depth", pa.array([1.0] * 4)))
    with pytest.raises(DataError, match=r"X: column 'width' holds values that are not numbers"):
        model.predict(pa.table({"width": ["narrow"] * 4, "height": probe["height"]}))


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> tuple[bp.TrainedModel, pa.Table, list]:
    """A model of a table with text columns and missing cells, the table (its columns in
    reverse order) and what `bprop predict` prints for the file."""
    cfg = bp.load_config(CONFIG_DIR / "penguins.yaml", overrides=["training.epochs=3"])
    run = tmp_path_factory.mktemp("penguins") / "run"
    model = bp.train(cfg, out=run).model
    printed = cli(["predict", str(run), str(PENGUINS)])
    assert printed.exit_code == 0, printed.output
    missing = pacsv.ConvertOptions(strings_can_be_null=True)  # NA cells, as bprop reads them
    table = pacsv.read_csv(PENGUINS, convert_options=missing)
    return model, table.select(table.column_names[::-1]), printed.output.split()


def test_a_table_with_text_and_missing_cells_is_encoded_as_bprop_predict_encodes_a_file(
    penguins: tuple[bp.TrainedModel, pa.Table, list],
) -> None:
    model, table, printed = penguins
    assert ["prediction", *model.predict(table)] == printed
    with pytest.raises(DataError, match=r"X: no column 'island'; the model takes the columns"):
        model.predict(table.drop_columns(["island"]))


def test_a_pandas_data_frame_is_matched_by_column_name(
    penguins: tuple[bp.TrainedModel, pa.Table, list],
) -> None:
    pandas = pytest.importorskip("pandas")
    model, table, printed = penguins
    frame = table.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert ["prediction", *model.predict(frame)] == printed
    with pytest.raises(DataError, match=r"X: no column 'island'; the model takes the columns"):
        model.predict(frame.drop(columns=["island"]))


def test_the_errors_are_reachable_from_the_package() -> None:
    """``except bp.DataError`` as the README writes it: the classes the API raises."""
    from backprop_cli import errors

    for name in ("BpropError", "ConfigError", "DataError", "CheckpointError"):
        assert getattr(bp, name) is getattr(errors, name)
    with pytest.raises(bp.CheckpointError, match="no such checkpoint"):
        bp.load(Path("no-such-run"))
