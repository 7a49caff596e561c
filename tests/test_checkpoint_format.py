"""Checkpoints a user already holds keep working: the runs in ``fixtures/checkpoint-v0`` were
written by bprop before checkpoints carried a schema version (see its README). Each still
loads, evaluates, predicts and resumes exactly as the version that wrote it did, and reads
as a checkpoint of today's format (`Checkpoint.read` migrates it).

Both runs compute in float64, so the figures recorded there agree with today's to rounding
(relative 1e-9) whichever BLAS kernel runs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.runs.artifacts.checkpoints import SCHEMA, Checkpoint

from helpers import assert_same_arrays, cli, history_of, strip_seconds

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "checkpoint-v0"
DATASETS = Path(__file__).resolve().parents[1] / "datasets"
#: Each run: (epochs it was trained to, epochs of the uninterrupted run it resumes to).
RUNS = {"penguins": (5, 8), "sine": (4, 7)}
RTOL = 1e-9


def copied(name: str, tmp_path: Path) -> Path:
    """The fixture run ``name``, copied where a test may write into it."""
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def assert_close(got: object, want: object, where: str = "") -> None:
    """Equal structures; numbers equal to within `RTOL`."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for k, (a, b) in enumerate(zip(got, want, strict=True)):
            assert_close(a, b, f"{where}[{k}]")
    elif isinstance(want, float) and not isinstance(got, str):
        assert got == pytest.approx(want, rel=RTOL, abs=1e-12), where
    else:
        assert got == want, where


@pytest.mark.parametrize("name", sorted(RUNS))
@pytest.mark.parametrize("split", ["test", "val"])
def test_an_old_checkpoint_evaluates_as_when_it_was_written(name, split, tmp_path):
    run = copied(name, tmp_path)
    result = cli(["evaluate", str(run), "--split", split, "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    suffix = "" if split == "test" else "-val"
    want = json.loads((FIXTURES / f"{name}.evaluate{suffix}.json").read_text())
    got.pop("checkpoint"), want.pop("checkpoint")
    assert_close(got, want)


def test_an_old_checkpoint_predicts_as_when_it_was_written(tmp_path):
    run = copied("penguins", tmp_path)
    out = tmp_path / "predictions.csv"
    args = ["predict", str(run), str(DATASETS / "penguins.csv"), "--proba", "--out", str(out)]
    result = cli(args)
    assert result.exit_code == 0, result.output
    got = list(csv.reader(out.open()))
    want = list(csv.reader((FIXTURES / "penguins.predictions.csv").open()))
    assert got[0] == want[0] and len(got) == len(want) == 345
    assert [row[0] for row in got] == [row[0] for row in want]
    # the file shows 6 significant digits: the probabilities agree to that
    np.testing.assert_allclose(
        np.array([row[1:] for row in got[1:]], dtype=float),
        np.array([row[1:] for row in want[1:]], dtype=float),
        rtol=1e-5,
        atol=1e-10,
    )


@pytest.mark.parametrize("name", sorted(RUNS))
def test_an_old_checkpoint_resumes_exactly(name, tmp_path):
    """Resumed from its last.npz to a longer run, the old run's history is the history the old
    version gave the longer run trained in one go (penguins resumes from a checkpoint holding
    its best epoch's weights and, apart, its last epoch's)."""
    done, longer = RUNS[name]
    run = copied(name, tmp_path)
    before = history_of(run)
    assert len(before) == done
    result = cli(
        [
            "train", str(run / "config.yaml"), "--resume", str(run / "checkpoints" / "last.npz"),
            "--set", f"training.epochs={longer}", "--quiet",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = strip_seconds(history_of(run))
    want = strip_seconds(json.loads((FIXTURES / f"{name}.uninterrupted-{longer}.json").read_text()))
    assert len(got) == longer
    assert_close(got, want)
    assert strip_seconds(before) == got[:done]  # the epochs before resuming are kept as they were


# ------------------------------------------------------------------ the format of today
@pytest.mark.parametrize(
    ("name", "kind", "classes"),
    [("penguins", "classification", ("Adelie", "Chinstrap", "Gentoo")), ("sine", "regression", ())],
)
def test_a_format_0_checkpoint_is_read_as_this_format(name, kind, classes):
    """Format 0 had no task: it is the one the config's loss and the data's class names make.
    Every other member reads as it was stored."""
    path = FIXTURES / name / "checkpoints" / "last.npz"
    with np.load(path) as raw:
        stored = {k: raw[k] for k in raw.files}
    assert "schema" not in stored and "task" not in stored
    ckpt = Checkpoint.read(path)
    assert ckpt.schema == SCHEMA
    assert ckpt.task is not None and (ckpt.task.kind, ckpt.task.classes) == (kind, classes)
    assert ckpt.task.named == bool(classes)
    written = ckpt.arrays()
    assert written["schema"] == SCHEMA and "task" in written
    assert written.keys() - {"schema", "task"} == stored.keys()
    for key, value in stored.items():
        if value.dtype.kind == "U" and key != "data.digest":  # JSON: the same document
            assert json.loads(str(written[key])) == json.loads(str(value)), key
        else:
            np.testing.assert_array_equal(written[key], value, err_msg=key)


def test_a_best_checkpoint_of_format_0_without_its_epoch_holds_the_best_epochs_weights(tmp_path):
    """The first format's best.npz did not say which epoch's weights it holds (no params_epoch):
    they are its tracker's best epoch's."""
    with np.load(FIXTURES / "sine" / "checkpoints" / "best.npz") as raw:
        stored = {k: raw[k] for k in raw.files if k != "params_epoch"}
    best = json.loads(str(stored["monitor_state"]))["best_epoch"]
    assert best != int(stored["epoch"])
    path = tmp_path / "best.npz"
    np.savez(path, **stored)
    assert Checkpoint.read(path).weights_epoch == best


def test_a_checkpoint_rewritten_in_this_format_resumes_as_the_original_does(tmp_path):
    """Bit for bit: the migration carries every state training goes on from."""
    runs = []
    for label in ("original", "rewritten"):
        run = Path(shutil.copytree(FIXTURES / "penguins", tmp_path / label))
        last = run / "checkpoints" / "last.npz"
        if label == "rewritten":
            Checkpoint.read(last).write(last)
            with np.load(last) as raw:
                assert int(raw["schema"]) == SCHEMA
        args = ["train", str(run / "config.yaml"), "--resume", str(last), "--quiet"]
        result = cli([*args, "--set", "training.epochs=8"])
        assert result.exit_code == 0, result.output
        runs.append(run)
    assert strip_seconds(history_of(runs[0])) == strip_seconds(history_of(runs[1]))
    assert_same_arrays(*(run / "checkpoints" / "last.npz" for run in runs))


def test_a_checkpoint_of_a_newer_format_is_refused_with_the_fix(tmp_path):
    with np.load(FIXTURES / "sine" / "checkpoints" / "last.npz") as raw:
        stored = {k: raw[k] for k in raw.files}
    path = tmp_path / "future.npz"
    np.savez(path, **stored, schema=np.array(SCHEMA + 1))
    result = cli(["evaluate", str(path)])
    assert result.exit_code == 2
    assert f"format {SCHEMA + 1}" in result.output and "upgrade bprop" in result.output


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ('{"kind": "ranking", "outputs": 1}', "classification or regression"),
        ('{"kind": "regression", "outputs": 0}', "whole number"),
        ('{"kind": "classification", "outputs": 3, "classes": ["a"]}', "names 1 classes"),
        ("[", "not JSON"),
        ('{"kind": "regression", "outputs": 2}', "does not match the network's 1 outputs"),
        ('{"kind": "classification", "outputs": 1}', "says classification, but its loss mse"),
        ('{"kind": "regression", "outputs": 1, "classes": ["a", "b"]}', "a regression has none"),
    ],
)
def test_a_task_no_run_wrote_is_refused(task, message, tmp_path):
    with np.load(FIXTURES / "sine" / "checkpoints" / "last.npz") as raw:
        stored = {k: raw[k] for k in raw.files}
    path = tmp_path / "edited.npz"
    np.savez(path, **stored, schema=np.array(SCHEMA), task=np.array(task))
    result = cli(["evaluate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert str(path) in result.output and message in result.output


def _penguins_last() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "penguins" / "checkpoints" / "last.npz") as raw:
        return {k: raw[k] for k in raw.files}


def test_a_task_that_names_a_class_twice_is_refused(tmp_path):
    """Two classes of one name would make predictions ambiguous."""
    path = tmp_path / "twice.npz"
    task = '{"kind": "classification", "outputs": 3, "classes": ["Adelie", "Adelie", "Gentoo"]}'
    np.savez(path, **_penguins_last(), schema=np.array(SCHEMA), task=np.array(task))
    result = cli(["evaluate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'Adelie' twice" in result.output


def test_weights_of_another_model_are_refused(tmp_path):
    """A parameter the network has no place for means the weights are another model's: refused
    by evaluate and by resuming, as a missing one is."""
    stored = _penguins_last()
    path = tmp_path / "extra.npz"
    np.savez(path, **stored, **{"layers.9.W": stored["layers.0.W"]})
    for args in (
        ["evaluate", str(path)],
        [
            "train",
            str(FIXTURES / "penguins" / "config.yaml"),
            "--resume",
            str(path),
            "--out",
            str(tmp_path / "r"),
        ],
    ):
        result = cli(args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "'layers.9.W' is not one of this model's" in result.output


def test_an_old_best_checkpoint_whose_tracker_is_past_its_epoch_is_refused(tmp_path):
    """The migration's weights epoch (the tracker's best) is checked as a stored one is: not
    after the checkpoint's own epoch."""
    with np.load(FIXTURES / "sine" / "checkpoints" / "best.npz") as raw:
        stored = {k: raw[k] for k in raw.files if k != "params_epoch"}
    monitor = json.loads(str(stored["monitor_state"]))
    stored["monitor_state"] = np.array(json.dumps(monitor | {"best_epoch": 99}))
    path = tmp_path / "best.npz"
    np.savez(path, **stored)
    result = cli(["evaluate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert str(path) in result.output
