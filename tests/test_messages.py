"""Error messages that keep their fix in view: a long message is cut in its middle and says how
many characters it left out, a list is bounded, and each message names where the mistake is (the
config file, or --set) and what to do about it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import CONFIG_DIR, cli

TOY = CONFIG_DIR / "moons.yaml"


def errors_of(args: list[str]) -> list[str]:
    """The error lines of a command that must exit with 2."""
    result = cli(args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


def toy_with(tmp_path: Path, old: str, new: str) -> Path:
    """moons.yaml with ``old`` replaced by ``new``."""
    text = TOY.read_text()
    assert old in text
    config = tmp_path / "experiment.yaml"
    config.write_text(text.replace(old, new))
    return config


# ------------------------------------------------------------------ bounds
def test_an_unseen_category_keeps_its_fix_before_a_bounded_list(tmp_path: Path) -> None:
    names = [f"a-town-with-a-long-name-{k:03d}" for k in range(99)] + ["x" * 5000]
    (tmp_path / "towns.csv").write_text(
        "town,label\n" + "".join(f"{name},{k % 2}\n" for k, name in enumerate(names))
    )
    data = {"path": "towns.csv", "target": "label", "validation_split": 0, "test_split": 0}
    experiment = yaml.safe_load(TOY.read_text()) | {"data": data}
    config = tmp_path / "towns.yaml"
    config.write_text(yaml.safe_dump(experiment))
    run = tmp_path / "run"
    quick = ["--set", "training.epochs=1", "--quiet"]
    assert cli(["train", str(config), "--out", str(run), *quick]).exit_code == 0
    (tmp_path / "new.csv").write_text("town\nAtlantis\n")
    [line] = errors_of(["predict", str(run), str(tmp_path / "new.csv")])
    assert "column 'town': 'Atlantis' is a category the model never saw; fix the value, or " in line
    assert "retrain with data.unknown: ignore (it is read at training time)" in line
    assert line.endswith(", 'a-town-with-a-long-name-003' and 96 more categories")
    (tmp_path / "new.csv").write_text("town\n" + "y" * 5000 + "\n")  # a long value is cut too
    [line] = errors_of(["predict", str(run), str(tmp_path / "new.csv")])
    assert "'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy…' (5,000 characters) is a category" in line
    assert "retrain with data.unknown: ignore" in line


def test_a_cut_line_keeps_its_end_and_counts_characters(tmp_path: Path) -> None:
    config = tmp_path / "long.yaml"
    config.write_text(TOY.read_text() + "k" * 1000 + ": 1\n")
    [line] = errors_of(["config", str(config)])
    assert len(line) < 500
    assert "more characters] … " in line  # not a bare count, which would read as keys
    assert line.endswith("schedule, seed, sweep, training)")  # the allowed keys: the fix


# ------------------------------------------------------------------ config values
def test_a_quoted_number_is_told_to_lose_its_quotes(tmp_path: Path) -> None:
    config = toy_with(tmp_path, "lr: 0.01", 'lr: "1e-3"')
    assert errors_of(["config", str(config)]) == [
        f"error: {config}: optimizer.lr: Input should be a valid number (received: '1e-3'); "
        "remove the quotes"
    ]
    lines = errors_of(["config", str(TOY), "--set", "training.epochs='12'"])
    assert lines[0].endswith("(received: '12'); remove the quotes")
    text = errors_of(["config", str(TOY), "--set", "optimizer.lr=fast"])[0]
    assert text.endswith("(received: 'fast')")  # no number in its quotes: nothing to unquote


def test_a_key_whose_settings_lost_their_indentation_is_empty(tmp_path: Path) -> None:
    config = toy_with(tmp_path, "model:\n  layers:", "model:\nlayers:")
    lines = errors_of(["config", str(config)])
    assert f"error: {config}: model: is empty; its settings must be indented under it" in lines


def test_a_bad_override_names_set_not_the_file(tmp_path: Path) -> None:
    config = toy_with(tmp_path, "seed: 0", "seed: 0\nsede: 1")
    lines = errors_of(["config", str(config), "--set", "optimizer.lr=abc"])
    assert sorted(lines) == [
        "error: --set optimizer.lr: Input should be a valid number (received: 'abc')",
        f"error: {config}: sede: unknown key; did you mean 'seed'? (allowed: compare, data, "
        "dtype, loss, model, name, optimizer, output, schedule, seed, sweep, training)",
    ]
    nested = errors_of(["config", str(TOY), "--set", "optimizer={type: adam, eps: .nan}"])
    assert nested == ["error: --set optimizer.eps: Input should be a finite number (received: nan)"]
    # Found with the data, after validation: the same rule.
    found = errors_of(["train", str(TOY), "--set", "training.batching.size=100000"])
    assert found == [
        "error: --set training.batching.size: 100000 is more than the 210 training samples; use "
        "at most 210, or batching {type: full}"
    ]


# ------------------------------------------------------------------ models
@pytest.mark.parametrize("command", [["evaluate"], ["predict", "x.csv"], ["export"]])
def test_a_config_given_for_a_trained_model_is_told_to_train_first(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [command[0], str(TOY), *command[1:]]
    assert errors_of(args) == [
        f"error: {TOY}: is an experiment config, not a trained model; train it first (bprop "
        f"train {TOY}), then give its run directory"
    ]
