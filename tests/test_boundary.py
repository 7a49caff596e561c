"""Decision boundaries and fitted curves: drawn in the data's own units from a run's final weights,
from any checkpoint, and over a run's saved epochs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.runs.reports import boundary, pictures
from backprop_cli.runs.trained.evaluation import split_of
from backprop_cli.runs.trained.model import load_model

from helpers import CONFIG_DIR, cli


def train(tmp_path: Path, config: str, *sets: str) -> Path:
    out = tmp_path / config
    args = ["train", str(CONFIG_DIR / f"{config}.yaml"), "--out", str(out), "--quiet"]
    result = cli([*args, *(a for s in sets for a in ("--set", s))])
    assert result.exit_code == 0, result.output
    return out


def test_the_picture_that_applies() -> None:
    assert boundary.picture_name(2, True) == "boundary.png"
    assert boundary.picture_name(1, False) == "fit.png"
    assert boundary.picture_name(64, True) is None and boundary.picture_name(2, False) is None
    # the picture's classes are the task's rule (`core.task.decide`): one sigmoid unit, class 1
    # where p > 0.5; several, the largest output
    assert boundary.decide(np.array([[0.2], [0.5], [0.7]])).tolist() == [0, 0, 1]
    assert boundary.decide(np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])).tolist() == [1, 0]


def test_a_run_draws_its_boundary_or_fitted_curve(tmp_path: Path) -> None:
    moons = train(tmp_path, "moons", "training.epochs=3")
    sine = train(tmp_path, "sine", "training.epochs=3")
    digits = train(tmp_path, "digits", "training.epochs=1")
    assert (moons / "boundary.png").read_bytes()[:4] == b"\x89PNG" and not (
        moons / "fit.png"
    ).exists()
    assert (sine / "fit.png").read_bytes()[:4] == b"\x89PNG" and not (
        sine / "boundary.png"
    ).exists()
    assert not (digits / "boundary.png").exists() and not (digits / "fit.png").exists()


def test_predictions_from_raw_units_match_the_runs_own_evaluation(tmp_path: Path) -> None:
    """The picture maps raw features through the run's standardization: the classes it draws at
    the test points give exactly the test accuracy in metrics.json."""
    run = train(tmp_path, "spirals", "training.epochs=20")
    predict, where, name, epoch = pictures.of_checkpoint(run)
    assert (name, epoch) == ("boundary.png", 20)
    model = load_model(run)
    X_test, y_test = split_of(model.experiment(), "test")
    accuracy = float(np.mean(boundary.decide(predict(X_test)) == y_test))
    metrics = json.loads((run / "metrics.json").read_text())
    assert accuracy == metrics["test"]["accuracy"]
    # The points are the raw training and validation splits (spirals span about [−1, 1]).
    X_train, _ = split_of(model.experiment(), "train")
    assert [s for s, _, _ in where.points] == ["train", "val"]
    np.testing.assert_array_equal(where.points[0][1], X_train)
    assert where.points[0][1].min() < -0.5 and where.points[0][1].max() > 0.5


def test_the_end_of_run_scene_is_in_raw_units_too(tmp_path: Path) -> None:
    from backprop_cli.config import load_config
    from backprop_cli.runs.train.plan import prepare
    from backprop_cli.runs.training import train_into

    cfg = load_config(CONFIG_DIR / "moons.yaml", ["training.epochs=1"])
    prepared = prepare(cfg)
    list(train_into(prepared, tmp_path / "r", plot=False))
    drawn: list[boundary.Scene] = []
    original = boundary.plot_picture
    boundary.plot_picture = lambda predict, where, path, title="", exclusive=False: drawn.append(
        where
    )  # type: ignore[assignment]
    try:
        assert pictures.at_the_end(prepared, tmp_path / "r") == tmp_path / "r" / "boundary.png"
    finally:
        boundary.plot_picture = original  # type: ignore[assignment]
    X_raw, _ = split_of(cfg, "train")
    np.testing.assert_allclose(drawn[0].points[0][1], X_raw, rtol=1e-6, atol=1e-6)  # float32 data


def test_plot_boundary_for_a_checkpoint_and_an_animation_of_the_epochs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = train(tmp_path, "moons", "training.epochs=6", "output.checkpoint_every=2")
    monkeypatch.chdir(tmp_path)
    result = cli(["plot", str(run / "checkpoints" / "epoch-0002.npz"), "--boundary"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "boundary.png").read_bytes()[:4] == b"\x89PNG"
    result = cli(["plot", str(run), "--boundary", "--animate"])
    assert result.exit_code == 0, result.output
    assert "(4 frames)" in result.output  # initial, epochs 2, 4 and 6 (last.npz is epoch 6)
    from PIL import Image

    with Image.open(run / "boundary.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    before = (run / "boundary.gif").read_bytes()
    again = cli(["plot", str(run), "--boundary", "--animate"])
    assert again.exit_code == 2 and "pass --overwrite" in again.output
    assert (run / "boundary.gif").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{moons}", "{moons}", "--boundary"], "give one run directory or checkpoint"),
        (["{digits}", "--boundary"], "a classifier of 64 input features"),
        (["{moons}/checkpoints/last.npz", "--boundary", "--animate"], "is not a run directory"),
        (["{moons}", "--boundary", "--animate", "--out", "{tmp}/b.png"], "must end in .gif"),
        (["{moons}", "--boundary", "--out", "{tmp}/b.gif"], "must end in .png"),
    ],
)
def test_plot_boundary_refuses_what_it_cannot_draw(
    args: list[str], message: str, tmp_path: Path
) -> None:
    runs = {"moons": train(tmp_path, "moons", "training.epochs=1")}
    if any("digits" in a for a in args):
        runs["digits"] = train(tmp_path, "digits", "training.epochs=1")
    filled = [a.format(**runs, tmp=tmp_path) for a in args]
    result = cli(["plot", *filled])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not list(tmp_path.glob("b.*"))
