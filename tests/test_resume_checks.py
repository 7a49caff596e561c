"""Resume checks what it resumes: the same config but for the length of training, the same data,
finite weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CONFIG_DIR, cli, history_of

TOY = CONFIG_DIR / "moons.yaml"
QUICK = ["--quiet", "--set", "training.epochs=2", "--set", "data.options.n_samples=120"]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert cli(["train", str(TOY), "--out", str(out), *QUICK]).exit_code == 0
    return out


def resume(run: Path, *overrides: str) -> object:
    args = ["train", str(TOY), "--resume", str(run / "checkpoints/last.npz"), *QUICK]
    for item in ["training.epochs=4", *overrides]:
        args += ["--set", item]
    return cli(args)


DIFFERENCES = {
    "optimizer type": ("optimizer={type: sgd, lr: 0.01}", "optimizer.type: \"adam\" in the "
                       "checkpoint, \"sgd\" now"),
    "layer structure": ("model.layers.0.units=9", "model.layers.0.units: 16 in the checkpoint, "
                        "9 now"),
    "loss": ("loss=mse", "loss: \"binary_cross_entropy\" in the checkpoint, \"mse\" now"),
    "standardization": ("data.standardize=false", "data.standardize: true in the checkpoint, "
                        "false now"),
    "dtype": ("dtype=float64", "dtype: \"float32\" in the checkpoint, \"float64\" now"),
    "learning rate": ("optimizer.lr=0.5", "optimizer.lr: 0.01 in the checkpoint, 0.5 now"),
    "data options": ("data.options.noise=0.3", "data.options.noise: 0.15 in the checkpoint, 0.3"),
}  # fmt: skip


@pytest.mark.parametrize("case", DIFFERENCES)
def test_resuming_with_a_different_config_is_refused_naming_the_difference(
    case: str, run: Path
) -> None:
    override, message = DIFFERENCES[case]
    before = history_of(run)
    result = resume(run, override)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert message in result.output  # type: ignore[attr-defined]
    assert "only training.epochs and training.early_stopping.patience may change" in (
        result.output  # type: ignore[attr-defined]
    )
    assert history_of(run) == before


def test_only_the_length_of_training_and_where_files_go_may_change(tmp_path: Path) -> None:
    out = tmp_path / "run"
    stop = "training.early_stopping={monitor: val_loss, patience: 50}"
    assert cli(["train", str(TOY), "--out", str(out), *QUICK, "--set", stop]).exit_code == 0
    longer = cli(["train", str(TOY), "--resume", str(out / "checkpoints/last.npz"), *QUICK,
                  "--set", "training.early_stopping={monitor: val_loss, patience: 60}",
                  "--set", "training.epochs=3", "--set", "output.checkpoint_every=1"])  # fmt: skip
    assert longer.exit_code == 0, longer.output
    assert [r["epoch"] for r in history_of(out)] == [1, 2, 3]


def csv_data(path: Path, rows: int, shift: float = 0.0) -> None:
    lines = [f"{i / rows + shift:.4f},{(i * 7 % rows) / rows:.4f},{i % 2}" for i in range(rows)]
    path.write_text("a,b,label\n" + "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("rows", "shift", "message"),
    [(50, 0.0, "[28, 8, 4, 2] in the checkpoint, [35, 10, 5, 2] now"),
     (40, 0.5, "the values differ from those the checkpoint was trained on")],
)  # fmt: skip
def test_resuming_on_different_data_is_refused(
    rows: int, shift: float, message: str, tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    csv_data(data, 40)
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ndata: {path: data.csv, target: label, validation_split: 0.2}\n"
        "model:\n  layers:\n    - {units: 4, activation: tanh}\n"
        "    - {units: 1, activation: sigmoid}\n"
        "loss: binary_cross_entropy\ntraining: {epochs: 2, batching: {type: full}}\n"
    )
    out = tmp_path / "run"
    assert cli(["train", str(config), "--out", str(out), "--quiet"]).exit_code == 0
    csv_data(data, rows, shift)  # the file changes under the run
    result = cli(["train", str(config), "--resume", str(out / "checkpoints/last.npz"), "--quiet",
                  "--set", "training.epochs=3"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "cannot resume on different data" in result.output and message in result.output


def test_a_checkpoint_from_before_keys_were_added_resumes(run: Path) -> None:
    """Keys a later bprop added at their defaults (data.missing, optimizer.amsgrad, ...) are no
    difference: the checkpoint's config is read with today's defaults filled in."""
    import json

    import numpy as np

    last = run / "checkpoints" / "last.npz"
    with np.load(last) as checkpoint:
        arrays = {k: checkpoint[k] for k in checkpoint.files}
    config = json.loads(str(arrays["config"]))
    for key in ("missing", "class_names", "unknown", "drop", "features", "categorical"):
        del config["data"][key]
    del config["optimizer"]["amsgrad"], config["training"]["class_weight"]
    arrays["config"] = np.array(json.dumps(config))
    np.savez(last, **arrays)
    result = resume(run)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert [row["epoch"] for row in history_of(run)] == [1, 2, 3, 4]  # continued in place
