"""`bprop train`: configs, batch strategies, determinism, resume, the run directory, exit codes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_cli.config import load_config
from backprop_cli.core.batching import Batching
from backprop_cli.core.training import StepDone, correct_count
from backprop_cli.runs.train.plan import prepare
from backprop_cli.runs.train.run import RunFinished
from backprop_cli.runs.training import train_into

from helpers import CONFIG_DIR, assert_same_arrays, cli, history_of, strip_seconds

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))


def run(config: Path | str, out: Path, overrides: list[str], resume: Path | None = None) -> list:
    cfg = load_config(config, overrides)
    return list(train_into(prepare(cfg, resume), out, plot=False))


def finished(events: list) -> RunFinished:
    last = events[-1]
    assert isinstance(last, RunFinished)
    return last


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_example_config_validates_and_trains(config: Path, tmp_path: Path) -> None:
    events = run(config, tmp_path / "run", ["training.epochs=2"])
    done = finished(events)
    assert done.status == "completed"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(np.isfinite(row["train_loss"]) for row in history)


TOY = str(CONFIG_DIR / "moons.yaml")


@pytest.mark.parametrize(
    ("batching", "steps"),
    [
        ("{type: full}", 1),
        ("{type: sgd}", 210),
        ("{type: minibatch, size: 32}", 7),
        ("{type: minibatch, size: 100}", 3),
    ],
)
def test_batch_strategies_take_the_right_number_of_steps(
    batching: str, steps: int, tmp_path: Path
) -> None:
    # moons: 300 samples, 20 % validation and 10 % test → 210 training samples.
    # minibatch 32 → ⌈210/32⌉ = 7 steps (last batch 18 kept); 100 → 3 steps (last 10).
    events = run(TOY, tmp_path / "r", ["training.epochs=2", f"training.batching={batching}"])
    step_events = [e for e in events if isinstance(e, StepDone)]
    assert len(step_events) == 2 * steps
    assert finished(events).metrics["steps"] == 2 * steps


def test_same_seed_gives_identical_runs(tmp_path: Path) -> None:
    a = finished(run(TOY, tmp_path / "a", ["training.epochs=3"]))
    b = finished(run(TOY, tmp_path / "b", ["training.epochs=3"]))
    ha = history_of(a.run_dir)
    assert strip_seconds(ha) == strip_seconds(history_of(b.run_dir))
    assert_same_arrays(a.run_dir / "checkpoints/last.npz", b.run_dir / "checkpoints/last.npz")
    c = finished(run(TOY, tmp_path / "c", ["training.epochs=3", "seed=1"]))
    assert strip_seconds(history_of(c.run_dir)) != strip_seconds(ha)


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_resume_equals_an_uninterrupted_run(optimizer: str, tmp_path: Path) -> None:
    common = [
        f"optimizer={{type: {optimizer}, lr: 0.01}}",
        "schedule={type: cosine, total_epochs: 6}",
    ]
    full = finished(run(TOY, tmp_path / "full", ["training.epochs=6", *common]))
    part = tmp_path / "part"
    run(TOY, part, ["training.epochs=3", *common])
    # Continue the same run directory to 6 epochs from its last checkpoint (cosine T = 6 both).
    resumed = finished(
        run(TOY, part, ["training.epochs=6", *common], resume=part / "checkpoints/last.npz")
    )
    assert strip_seconds(history_of(resumed.run_dir)) == strip_seconds(history_of(full.run_dir))
    assert_same_arrays(full.run_dir / "checkpoints/last.npz", part / "checkpoints/last.npz")
    assert resumed.metrics["test"] == full.metrics["test"]
    assert (part / "steps.csv").read_bytes() == (full.run_dir / "steps.csv").read_bytes()


def test_xor_converges_with_the_seed_network(tmp_path: Path) -> None:
    done = finished(run(str(CONFIG_DIR / "xor-seed.yaml"), tmp_path / "xor", []))
    final = done.metrics["final"]
    assert final["train_accuracy"] == 1.0
    assert final["train_loss"] < 0.01


def test_run_directory_holds_every_file(tmp_path: Path) -> None:
    out = tmp_path / "digits"
    result = cli(
        [
            "train",
            str(CONFIG_DIR / "digits.yaml"),
            "--out",
            str(out),
            "--set",
            "training.epochs=4",
            "--set",
            "output.checkpoint_every=2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in (
        "config.yaml",
        "history.csv",
        "history.json",
        "metrics.json",
        "loss.png",
        "checkpoints/initial.npz",
        "checkpoints/epoch-0002.npz",
        "checkpoints/epoch-0004.npz",
        "checkpoints/best.npz",
        "checkpoints/last.npz",
    ):
        assert (out / name).is_file(), name
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    for column in (
        "epoch",
        "lr",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "grad_norm",
        "train_seconds",
    ):
        assert column in header
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stop_reason"] == "completed" and metrics["epochs_run"] == 4
    assert 0.5 < metrics["test"]["accuracy"] <= 1.0
    with np.load(out / "checkpoints/last.npz", allow_pickle=False) as ckpt:
        assert ckpt["layers.0.W"].shape == (128, 64) and ckpt["layers.0.b"].shape == (128,)
        assert ckpt["layers.2.W"].shape == (10, 64)
        assert json.loads(str(ckpt["config"]))["name"] == "digits"
        assert int(ckpt["epoch"]) == 4
    png = (out / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    # The resolved config reruns: it loads and validates as it is.
    assert load_config(out / "config.yaml").name == "digits"


def test_an_existing_run_is_never_overwritten(tmp_path: Path) -> None:
    cfg = ["--set", "training.epochs=1", "--set", f"output.dir={tmp_path}", "--quiet"]
    assert cli(["train", TOY, *cfg]).exit_code == 0
    assert cli(["train", TOY, *cfg]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moons", "moons-2"]
    result = cli(["train", TOY, "--out", str(tmp_path / "moons"), *cfg])
    assert result.exit_code == 2 and "already holds a run" in result.output


def test_bad_config_exits_2_without_a_run_directory(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ndata: {dataset: moons}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
        f"loss: cross_entropy\noutput: {{dir: {tmp_path / 'runs'}}}\n"
        "optimizer: {type: adam, lrr: 0.1}\n"
    )
    result = cli(["train", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: optimizer.lrr: unknown key; did you mean 'lr'?" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.layers.1.units=5", "model.layers.1.units: the data has 3 classes"),
        ("data.dataset=sine", "loss: cross_entropy needs integer class labels"),
        ("model.layers.1.activation=sigmoid", "model.layers.1.activation: loss cross_entropy"),
        ("data.options.wobble=1", "data.options.wobble"),
        ("training.batching.size=0", "training.batching.size"),
    ],
)
def test_label_and_output_mismatches_are_config_errors(
    override: str, message: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["train", str(CONFIG_DIR / "iris.yaml"), "--out", str(out), "--set", override]
    if "wobble" in override:
        args = ["train", str(CONFIG_DIR / "spirals.yaml"), "--out", str(out), "--set", override]
    result = cli(args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_missing_data_file_and_config_are_reported(tmp_path: Path) -> None:
    result = cli(["train", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output
    result = cli(["train", TOY, "--set", "data={path: missing.csv}", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "missing.csv: no such data file" in result.output


def test_csv_and_npz_files_train(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    csv_path = tmp_path / "d.csv"
    lines = ["a,label,b,c"] + [f"{r[0]},{t},{r[1]},{r[2]}" for r, t in zip(X, y, strict=True)]
    csv_path.write_text("\n".join(lines) + "\n")
    base = [
        "training.epochs=2",
        "model.layers.1.units=2",
        "model.layers.1.activation=softmax",
        "loss=cross_entropy",
    ]
    done = finished(
        run(TOY, tmp_path / "csv", [*base, f"data={{path: {csv_path}, target: label}}"])
    )
    assert done.status == "completed"
    np.savez(tmp_path / "d.npz", X=X, y=y)
    done = finished(run(TOY, tmp_path / "npz", [*base, f"data={{path: {tmp_path / 'd.npz'}}}"]))
    assert done.status == "completed"


def test_gradcheck_on_a_config() -> None:
    result = cli(["gradcheck", str(CONFIG_DIR / "spirals.yaml"), "--samples", "10"])
    assert result.exit_code == 0, result.output
    assert "passed: all 7 tensors" in result.output


@given(
    n=st.integers(1, 200),
    strategy=st.sampled_from(["full", "sgd", "minibatch"]),
    size=st.integers(1, 64),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_batches_partition_the_data_every_epoch(
    n: int, strategy: str, size: int, shuffle: bool, seed: int
) -> None:
    batching = Batching(strategy, size)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        seen = np.concatenate([np.arange(n)[b] for b in batching.epoch(n, shuffle, rng)])
        assert sorted(seen.tolist()) == list(range(n))
        if not shuffle or strategy == "full":
            assert seen.tolist() == list(range(n))  # file order
        assert len(list(batching.epoch(n, shuffle, rng))) == batching.steps_per_epoch(n)


def test_cli_resume_into_another_directory_continues_the_history(tmp_path: Path) -> None:
    args = ["--set", "training.epochs=4", "--quiet"]
    full, part, cont = tmp_path / "full", tmp_path / "part", tmp_path / "cont"
    assert cli(["train", TOY, "--out", str(full), *args]).exit_code == 0
    short = ["--set", "training.epochs=2", "--set", "schedule={type: constant}", "--quiet"]
    assert cli(["train", TOY, "--out", str(part), *short]).exit_code == 0
    result = cli(
        ["train", TOY, "--resume", str(part / "checkpoints/last.npz"), "--out", str(cont), *args],
    )
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in history_of(cont)] == [1, 2, 3, 4]
    assert strip_seconds(history_of(cont)) == strip_seconds(history_of(full))
    assert_same_arrays(full / "checkpoints/last.npz", cont / "checkpoints/last.npz", "layers.")
    # Without --out, --resume continues in the directory that holds the checkpoint.
    result = cli(["train", TOY, "--resume", str(part / "checkpoints/last.npz"), *args])
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in history_of(part)] == [1, 2, 3, 4]


def test_seed_option_overrides_the_config(tmp_path: Path) -> None:
    base = ["--set", "training.epochs=1", "--quiet"]
    for name, extra in (("a", ["--seed", "5"]), ("b", ["--set", "seed=5"]), ("c", [])):
        out = tmp_path / name
        assert cli(["train", TOY, "--out", str(out), *base, *extra]).exit_code == 0
    assert load_config(tmp_path / "a" / "config.yaml").seed == 5
    assert strip_seconds(history_of(tmp_path / "a")) == strip_seconds(history_of(tmp_path / "b"))
    assert strip_seconds(history_of(tmp_path / "a")) != strip_seconds(history_of(tmp_path / "c"))


def test_train_loss_is_measured_before_each_update(tmp_path: Path) -> None:
    """With full batches there is one step per epoch, so epoch 1's train_loss must be the loss of
    the initial weights on the training split, and epoch 2's the loss after exactly one SGD step
    w ← w − lr·g taken by hand from those weights."""
    out = tmp_path / "full"
    overrides = [
        "training.epochs=2",
        "training.batching={type: full}",
        "dtype=float64",
        "optimizer={type: sgd, lr: 0.5}",
    ]
    cfg = load_config(TOY, overrides)
    list(train_into(prepare(cfg), out, plot=False))
    history = history_of(out)

    net = prepare(cfg).net  # same seed: the initial weights of the run
    with np.load(out / "checkpoints" / "initial.npz") as ckpt:
        np.testing.assert_array_equal(ckpt["layers.0.W"], net.param("layers.0.W"))
    splits = prepare(cfg).dataset
    X, y = splits.train.X, net.prepare_targets(splits.train.y)
    assert history[0]["train_loss"] == pytest.approx(net.loss_value(X, y), rel=1e-12)
    net.loss_and_grad(X, y)
    net.params -= 0.5 * net.grads
    assert history[1]["train_loss"] == pytest.approx(net.loss_value(X, y), rel=1e-12)
    assert history[1]["train_loss"] < history[0]["train_loss"]


def test_the_default_example_reaches_90_percent(tmp_path: Path) -> None:
    done = finished(run(str(CONFIG_DIR / "mnist5k.yaml"), tmp_path / "mnist", []))
    assert done.metrics["test"]["accuracy"] >= 0.90


def test_optimizer_refuses_to_step_before_init() -> None:
    from backprop_cli.core.optim import build_optimizer

    with pytest.raises(RuntimeError, match="init"):
        build_optimizer("adam").step(np.zeros(3), np.ones(3), 0.1)


def test_plain_output_without_a_terminal(tmp_path: Path) -> None:
    result = cli(
        [
            "train",
            str(CONFIG_DIR / "iris.yaml"),
            "--out",
            str(tmp_path / "r"),
            "--set",
            "training.epochs=2",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output  # no control codes in a pipe
    lines = result.output.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    for key in ("loss", "acc", "val_loss", "val_acc", "lr"):
        assert f"{key} " in epoch_lines[0]
    for row in ("best epoch (by val_loss)", "test accuracy", "time", "checkpoints"):
        assert row in result.output
    quiet = cli(
        [
            "train",
            str(CONFIG_DIR / "iris.yaml"),
            "--out",
            str(tmp_path / "q"),
            "--set",
            "training.epochs=2",
            "--quiet",
        ]
    )
    assert not any(line.startswith("epoch ") for line in quiet.output.splitlines())
    assert "test accuracy" in quiet.output


@pytest.mark.parametrize(
    ("batching", "config"),
    [
        ("{type: minibatch, size: 16}", CONFIG_DIR / "spirals.yaml"),
        ("{type: sgd}", CONFIG_DIR / "spirals.yaml"),
        ("{type: minibatch, size: 16}", TOY),  # one output unit: thresholded
    ],
)
def test_train_accuracy_counts_each_sample_against_its_own_label(
    tmp_path: Path, batching: str, config: Path
) -> None:
    """With a learning rate too small to move the weights, the running train accuracy of the
    first epoch (shuffled batches) must equal the initial network's accuracy on the training
    split: a prediction compared with the wrong sample's label would show."""
    overrides = [
        "training.epochs=1",
        f"training.batching={batching}",
        "dtype=float64",
        "optimizer={type: sgd, lr: 1.0e-300}",
        "data.options.n_samples=90",
    ]
    cfg = load_config(config, overrides)
    list(train_into(prepare(cfg), tmp_path / "run", plot=False))
    prepared = prepare(cfg)
    net, splits = prepared.net, prepared.dataset
    out = net.forward(splits.train.X)
    labels = splits.train.y.astype(np.int64)
    expected = correct_count(net, out, labels) / len(labels)
    assert 0 < expected < 1  # an untrained network is neither always right nor always wrong
    assert history_of(tmp_path / "run")[0]["train_accuracy"] == expected


def test_evaluate_golden_over_several_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # One linear unit, w = 2, b = 0, under mse: ŷ = 2x. X = (1, 2, 3), y = (2, 5, 5):
    # residuals (0, −1, 1), per-sample ½r² = (0, ½, ½), mean loss 1/3.
    # Read in chunks of 2 rows (weighted by their sizes), the mean is the same.
    from backprop_cli.core import training as training_module
    from backprop_cli.core.activations import Linear
    from backprop_cli.core.layers import Dense
    from backprop_cli.core.network import Network

    net = Network([Dense(1, Linear())], 1, "mse", np.random.default_rng(0), "float64")
    net.params[...] = 0.0
    net.layers[0].W[...] = 2.0  # type: ignore[attr-defined]
    X = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[2.0], [5.0], [5.0]])
    monkeypatch.setattr(training_module, "EVAL_CHUNK", 2)
    loss, accuracy = training_module.evaluate(net, X, y, None)
    assert loss == pytest.approx(1 / 3, rel=1e-12) and accuracy is None
    # Classification: labels from a threshold at 0.5 on one sigmoid-free unit's output 2x − 3.
    net.layers[0].b[...] = -3.0  # type: ignore[attr-defined]
    labels = np.array([0, 1, 0])  # outputs −1, 1, 3: predicted 0, 1, 1
    _, accuracy = training_module.evaluate(net, X, y, labels)
    assert accuracy == pytest.approx(2 / 3)


def test_predict_runs_in_evaluation_mode_and_returns_a_new_array() -> None:
    from backprop_cli.core.activations import Softmax, Tanh
    from backprop_cli.core.layers import BatchNorm, Dense, Dropout
    from backprop_cli.core.network import Network

    rng = np.random.default_rng(0)
    layers = [Dense(8, Tanh()), BatchNorm(), Dropout(0.5), Dense(3, Softmax())]
    net = Network(layers, 4, "cross_entropy", rng, "float64", noise_rng=np.random.default_rng(1))
    X = rng.standard_normal((10, 4))
    before = net.params.copy()
    first, second = net.predict(X), net.predict(X)
    assert np.array_equal(first, second)  # no dropout mask, no batch statistics
    assert np.array_equal(net.params, before)  # running averages untouched
    np.testing.assert_allclose(first.sum(axis=1), 1.0, rtol=1e-12)  # probabilities
    first[...] = 0
    assert not np.array_equal(net.predict(X), first)  # a copy, not a view of a buffer


def test_a_plateau_schedule_resumes_exactly_and_shows_in_the_history(tmp_path: Path) -> None:
    common = [
        "schedule={type: plateau, monitor: train_loss, patience: 1, factor: 0.5, min_delta: 0.1}"
    ]
    full = finished(run(TOY, tmp_path / "full", ["training.epochs=8", *common]))
    rates = [r["lr"] for r in history_of(full.run_dir)]
    assert rates[0] == load_config(TOY).optimizer.lr and len(set(rates)) > 2  # lowered twice+
    assert all(b in (a, a / 2) for a, b in itertools.pairwise(rates))
    part = tmp_path / "part"
    run(TOY, part, ["training.epochs=4", *common])
    state = json.loads(str(np.load(part / "checkpoints/last.npz")["schedule_state"]))
    assert state["lr"] == rates[4] == rates[3] / 2  # the next epoch's lowered rate is saved
    run(TOY, part, ["training.epochs=8", *common], resume=part / "checkpoints/last.npz")
    assert strip_seconds(history_of(part)) == strip_seconds(history_of(full.run_dir))
    assert_same_arrays(full.run_dir / "checkpoints/last.npz", part / "checkpoints/last.npz")


def test_a_plateau_checkpoint_without_its_schedule_state_is_refused(tmp_path: Path) -> None:
    sets = ["--set", "schedule={type: plateau, monitor: train_loss}", "--set", "training.epochs=2"]
    result = cli(["train", TOY, "--out", str(tmp_path / "r"), "--quiet", *sets])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "r/checkpoints/last.npz") as archive:
        kept = {k: archive[k] for k in archive.files if k != "schedule_state"}
    np.savez(tmp_path / "old.npz", **kept)
    sets[-1] = "training.epochs=3"
    result = cli(
        ["train", TOY, "--out", str(tmp_path / "s"), "--resume", str(tmp_path / "old.npz"), *sets]
    )
    assert result.exit_code == 2
    assert "old.npz: cannot resume, missing schedule_state" in result.output


def test_a_plateau_watching_val_loss_needs_validation_data(tmp_path: Path) -> None:
    sets = ["--set", "schedule={type: plateau}", "--set", "data.validation_split=0"]
    message = "--set schedule.monitor: val_loss needs validation data"  # in --set's schedule
    for command in (["config", TOY], ["train", TOY, "--out", str(tmp_path / "r")]):
        result = cli([*command, *sets])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "r").exists()
    watched = cli(["config", TOY, *sets, "--set", "schedule.monitor=train_loss"])
    assert watched.exit_code == 0, watched.output
