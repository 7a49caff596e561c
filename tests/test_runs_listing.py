"""`bprop runs`: every run under a folder with its status and figures, read from its files;
broken and half-written directories listed as such; `bprop runs diff` of two runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backprop_cli.runs.artifacts.survey import compared, read_run, survey
from backprop_cli.system.locking import hold

from helpers import CONFIG_DIR, cli, train_quietly

MOONS = CONFIG_DIR / "moons.yaml"
FAST = ("training.epochs=3", "output.checkpoint_every=0")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two trained runs (one with early stopping), a sweep of two trials, and the leftovers
    of runs that went wrong."""
    root = tmp_path_factory.mktemp("runs")
    train_quietly(MOONS, root / "adam", *FAST)
    train_quietly(MOONS, root / "sgd", *FAST, "optimizer={type: sgd, lr: 0.5}",
                  "training.early_stopping={patience: 1, min_delta: 10}")  # fmt: skip
    sweep = cli(["sweep", str(MOONS), "--out", str(root / "sweep"), "--quiet",
                 "--set", "training.epochs=2", "--grid", "optimizer.lr=0.01,0.1"])  # fmt: skip
    assert sweep.exit_code == 0, sweep.output
    killed = root / "killed"  # a run killed before metrics.json: config and history only
    killed.mkdir()
    (killed / "config.yaml").write_text((root / "adam" / "config.yaml").read_text())
    history = json.loads((root / "adam" / "history.json").read_text())[:2]
    (killed / "history.json").write_text(json.dumps(history))
    torn = root / "torn"  # metrics.json cut short by a full disk
    torn.mkdir()
    (torn / "config.yaml").write_text((root / "adam" / "config.yaml").read_text())
    (torn / "metrics.json").write_text((root / "adam" / "metrics.json").read_text()[:40])
    fifo = root / "fifo"  # a config.yaml that is a pipe: never opened
    fifo.mkdir()
    os.mkfifo(fifo / "config.yaml")
    (root / "notes").mkdir()  # a folder of the user's: no run
    (root / "notes" / "todo.txt").write_text("compare lr")
    return root


def listed_by_name(folder: Path) -> dict:
    return {r.name: r for r in survey(folder)}


def test_every_run_is_listed_with_what_its_files_say(folder: Path) -> None:
    runs = listed_by_name(folder)
    trials = sorted(n for n in runs if n.startswith("sweep/"))
    assert sorted(runs) == sorted(["adam", "sgd", "killed", "torn", "fifo", *trials])
    assert len(trials) == 2  # a sweep's trials are runs too
    metrics = json.loads((folder / "adam" / "metrics.json").read_text())
    adam = runs["adam"]
    assert (adam.status, adam.epochs, adam.kernels) == ("completed", 3, metrics["kernels"])
    assert adam.best == ("val_loss", metrics["best"]["val_loss"], metrics["best"]["epoch"])
    assert adam.test["accuracy"] == metrics["test"]["accuracy"]
    assert adam.seconds == metrics["total_seconds"]
    assert runs["sgd"].status == "early stop" and runs["sgd"].epochs == 2  # patience 1
    assert runs["sgd"].config["optimizer.type"] == "sgd"


def test_runs_that_went_wrong_are_listed_as_such(folder: Path) -> None:
    runs = listed_by_name(folder)
    killed = runs["killed"]
    history = json.loads((folder / "killed" / "history.json").read_text())
    assert (killed.status, killed.epochs) == ("interrupted", 2)
    best = min((r["val_loss"], r["epoch"]) for r in history)
    assert killed.best == ("val_loss", *best)
    assert runs["torn"].status == "broken" and "metrics.json" in runs["torn"].detail
    assert runs["fifo"].status == "broken" and "not a regular file" in runs["fifo"].detail


def test_a_run_whose_lock_is_held_is_running(folder: Path) -> None:
    with hold(folder / "killed"):
        assert read_run(folder / "killed", folder).status == "running"
    assert read_run(folder / "killed", folder).status == "interrupted"
    with hold(folder / "adam"):  # resumed in place: the metrics.json of its last process
        assert read_run(folder / "adam", folder).status == "running"


def test_the_table_filters_sorts_and_prints_json(folder: Path) -> None:
    result = cli(["runs", str(folder), "--filter", "optimizer.type=sgd", "--json"])
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.output)] == ["sgd"]
    result = cli(["runs", str(folder), "--filter", "optimizer.lr=0.1", "--json"])
    names = [r["name"] for r in json.loads(result.output)]
    assert len(names) == 1 and names[0].startswith("sweep/")
    result = cli(["runs", str(folder), "--sort", "epochs", "--reverse", "--json"])
    epochs = [r["epochs"] for r in json.loads(result.output)]
    known = [e for e in epochs if e is not None]
    assert known == sorted(known, reverse=True) and epochs[: len(known)] == known
    result = cli(["runs", str(folder), "--sort", "test.accuracy", "--json"])
    assert result.exit_code == 0
    table = cli(["runs", str(folder)])
    assert table.exit_code == 0 and "broken" in table.output and "early stop" in table.output


def test_bad_options_are_named_with_their_fix(folder: Path, tmp_path: Path) -> None:
    result = cli(["runs", str(folder), "--filter", "optimizer.typ=adam"])
    assert result.exit_code == 2 and "did you mean optimizer.type" in result.output
    assert cli(["runs", str(folder), "--filter", "adam"]).exit_code == 2
    result = cli(["runs", str(folder), "--sort", "speed"])
    assert result.exit_code == 2 and "cannot sort by 'speed'" in result.output
    result = cli(["runs", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such folder" in result.output
    empty = cli(["runs", str(tmp_path)])
    assert empty.exit_code == 0 and "no runs under" in empty.output


def test_diff_names_the_keys_that_differ_and_the_figures(folder: Path) -> None:
    runs = listed_by_name(folder)
    keys, figures = compared(runs["adam"], runs["sgd"])
    assert keys["optimizer.type"] == ("adam", "sgd")
    assert keys["training.early_stopping.patience"] == (None, 1)
    assert "seed" not in keys and "model.layers.0.units" not in keys
    assert figures["status"] == ("completed", "early stop")
    assert figures["test accuracy"] == (runs["adam"].test["accuracy"], runs["sgd"].test["accuracy"])
    result = cli(["runs", "diff", str(folder / "adam"), str(folder / "sgd"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"]["optimizer.lr"] == [0.01, 0.5]
    result = cli(["runs", "diff", str(folder / "adam"), str(folder / "torn")])
    assert result.exit_code == 2 and "cannot be read" in result.output


def test_names_and_figures_are_printed_as_text_and_odd_files_listed_as_broken(
    folder: Path, tmp_path: Path
) -> None:
    import shutil

    odd = tmp_path / "x[/bold]"
    shutil.copytree(folder / "adam", odd)
    huge = tmp_path / "huge"
    shutil.copytree(folder / "adam", huge)
    metrics = json.loads((huge / "metrics.json").read_text())
    (huge / "metrics.json").write_text(
        json.dumps(metrics).replace('"stop_reason": "completed"', '"stop_reason": ["completed"]')
    )
    deep = tmp_path / "deep"
    shutil.copytree(folder / "adam", deep)
    (deep / "history.json").write_text("[" * 100_000 + "]" * 100_000)
    big = tmp_path / "big"
    shutil.copytree(folder / "adam", big)
    (big / "metrics.json").write_text(
        json.dumps(metrics).replace('"epochs_run": 3', '"epochs_run": 1' + "0" * 400)
    )
    result = cli(["runs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "x[/bold]" in result.output
    runs = listed_by_name(tmp_path)
    assert runs["huge"].status == "broken" and runs["deep"].status == "broken"
    assert runs["big"].status == "completed" and runs["big"].epochs is None
    assert cli(["runs", "diff", str(odd), str(folder / "adam")]).exit_code == 0


def test_false_is_not_zero_and_json_holds_no_nan(folder: Path, tmp_path: Path) -> None:
    import shutil

    seeds = [r["name"] for r in json.loads(cli(["runs", str(folder), "--json",
                                                "--filter", "seed=0"]).output)]  # fmt: skip
    assert "adam" in seeds  # every run here has seed 0
    none = cli(["runs", str(folder), "--json", "--filter", "seed=false"])
    assert none.exit_code == 0 and json.loads(none.output) == []  # false is not 0
    diverged = tmp_path / "diverged"
    shutil.copytree(folder / "adam", diverged)
    history = json.loads((diverged / "history.json").read_text())
    history[-1]["train_loss"] = float("nan")  # as a diverged run's history.json holds it
    (diverged / "history.json").write_text(json.dumps(history))
    metrics = json.loads((diverged / "metrics.json").read_text())
    metrics["final"]["train_loss"] = float("inf")
    (diverged / "metrics.json").write_text(json.dumps(metrics))
    for command in (["runs", str(tmp_path), "--json"],
                    ["runs", "diff", str(diverged), str(folder / "adam"), "--json"]):  # fmt: skip
        result = cli(command)
        assert result.exit_code == 0, result.output
        json.loads(result.output, parse_constant=pytest.fail)  # no NaN or Infinity in it


def test_control_characters_in_names_are_shown_not_obeyed(folder: Path, tmp_path: Path) -> None:
    import shutil

    named = tmp_path / "a\x1b[31m\nb"
    shutil.copytree(folder / "adam", named)
    listed = cli(["runs", str(tmp_path)])
    assert listed.exit_code == 0 and "a\\x1b[31m\\nb" in listed.output, listed.output
    diffed = cli(["runs", "diff", str(named), str(folder / "adam")])  # its path in a header
    assert diffed.exit_code == 0, diffed.output
    assert "\x1b" not in listed.output + diffed.output


@pytest.mark.parametrize("room", [80, 100])
def test_a_narrow_terminal_drops_columns_before_it_folds_names(folder: Path, room: int) -> None:
    import io

    from rich.console import Console

    from backprop_cli.cli.runs_cmd import _table

    listed = [r for r in survey(folder) if r.status != "broken"]
    shown = Console(file=io.StringIO(), width=room)
    shown.print(_table(listed, folder, room))
    lines = shown.file.getvalue().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= room
    for run in listed:  # every name whole on its line: spare columns went first
        assert any(line.startswith(run.name + " ") for line in lines), run.name
    assert ("kernels" in lines[1]) == (room == 100)  # the header: 80 is too narrow for it


def test_errors_show_control_characters_escaped(tmp_path: Path) -> None:
    named = tmp_path / "zz\x1b[31mRED"
    for command in (["runs", str(named)], ["runs", "sync", str(named)]):
        result = cli(command)
        assert result.exit_code == 2 and "\x1b" not in result.output, result.output
        assert "zz\\x1b[31mRED" in result.output
