"""The Python API (`import backprop_cli as bp`), used as a notebook would use it, against what the
command line gives for the same config."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest

import backprop_cli as bp
from backprop_cli.core.training import EpochEnded, StepDone
from backprop_cli.errors import ConfigError
from backprop_cli.runs import checkpoints
from backprop_cli.runs.inference import split_of
from backprop_cli.runs.run import RunFinished, RunStarted

from helpers import CONFIG_DIR, cli, history_of, strip_seconds

IRIS = CONFIG_DIR / "iris.yaml"


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
    last = checkpoints.load(run / "checkpoints" / "last.npz")
    assert checkpoints.weights_epoch(last) == 2 and len(history_of(run)) == 2
    resumed = cli(["train", str(IRIS), "--resume", str(run / "checkpoints" / "last.npz"),
                   "--quiet", "--set", "training.epochs=4"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output  # the lock was released
    assert [row["epoch"] for row in history_of(run)] == [1, 2, 3, 4]
