"""Bad input of every kind, divergence, interruption and crashes: clear errors, documented exit
codes, and nothing already on disk lost."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.config import load_config, validate
from backprop_cli.errors import ConfigError
from backprop_cli.runs.artifacts.checkpoints import Checkpoint
from backprop_cli.runs.artifacts.rundirs import new_run_dir
from backprop_cli.runs.train.build import build_optimizer_from, build_schedule_from
from backprop_cli.runs.train.plan import prepare
from backprop_cli.runs.train.run import RunFinished
from backprop_cli.runs.training import train_into

from helpers import CONFIG_DIR, assert_same_arrays, cli, history_of, strip_seconds

TOY = CONFIG_DIR / "moons.yaml"  # 300 moons: 210 to train, tanh 16 → sigmoid 1, BCE
ROOT = Path(__file__).resolve().parents[1]


def assert_bad_input(result: object, message: str, tmp_path: Path) -> None:
    """Exit 2, the key or location in the message, no traceback, no run directory."""
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 2, output  # type: ignore[attr-defined]
    assert message in output, output
    assert "Traceback" not in output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


# ------------------------------------------------------------------ configs
BAD_OVERRIDES = [
    (["epochz=3"], "--set epochz: unknown key (allowed: compare, data"),
    (["training.epoks=3"], "training.epoks: unknown key; did you mean 'epochs'?"),
    (["optimizer.lrr=0.1"], "optimizer.lrr: unknown key; did you mean 'lr'?"),
    (["training.epochs=many"], "training.epochs: Input should be a valid integer"),
    (["training.epochs=0"], "training.epochs: Input should be greater than or equal to 1"),
    (["optimizer.lr=-0.1"], "optimizer.lr: Input should be greater than 0"),
    (["optimizer.lr=0"], "optimizer.lr: Input should be greater than 0"),
    (
        ["optimizer={type: momentum, momentum: 1.0}"],
        "optimizer.momentum: Input should be less than 1",
    ),
    (["optimizer.weight_decay=1.5"], "optimizer.weight_decay: Input should be less than 1"),
    (["optimizer.type=adagrad"], "optimizer.type: unknown type 'adagrad'; choose one of"),
    (["schedule={type: linear}"], "schedule.type: unknown type 'linear'"),
    (
        ["training.batching={type: minibatch, size: 0}"],
        "training.batching.size: Input should be greater than or equal to 1",
    ),
    (
        ["training.batching={type: minibatch, size: 5000}"],
        "training.batching.size: 5000 is more than the 210 training samples",
    ),
    (
        ["training.clip={type: norm, max_norm: 0}"],
        "training.clip.max_norm: Input should be greater than 0",
    ),
    (
        ["loss=cross_entropy"],
        "model.layers.1.activation: loss cross_entropy needs a softmax output layer",
    ),
    (
        ["loss=cross_entropy", "model.layers.1.activation=softmax"],
        "model.layers.1.units: a softmax over 1 unit is constant (always 1)",
    ),
    (
        ["schedule={type: cosine, min_lr: 5}"],
        "schedule: cosine min_lr must lie in [0, lr]. Received: min_lr=5.0 with lr=",
    ),
    (
        ["data.validation_split=0", "training.early_stopping={monitor: val_loss}"],
        "training.early_stopping.monitor: val_loss needs validation data",
    ),
    (["model.layers.0.activation=swish"], "model.layers.0.activation: Input should be"),
    (
        ["model.layers.0.units=0"],
        "model.layers.0.units: Input should be greater than or equal to 1",
    ),
    (["model.layers=[]"], "model.layers: List should have at least 1 item"),
    (["model.layers.0.alpha=0.1"], "`alpha` applies only to activation leaky_relu"),
    (["model.layers.0.std=0.1"], "`std` applies only to init normal"),
    (
        ["model.layers.1.units=3"],
        "model.layers.1.units: the data has 2 classes (0, 1) but the output layer has 3 units",
    ),
    (["data.path=x.csv"], "data: give exactly one of `dataset` (a built-in) or `path`"),
    (["data.dataset=mnist"], "data.dataset: Input should be"),
    (
        ["data.validation_split=0.6", "data.test_split=0.5"],
        "validation_split + test_split must leave data to train on",
    ),
    (["data.test_split=-0.1"], "data.test_split: Input should be greater than or equal to 0"),
    (["data.options.noise=-1"], "data.options.noise: expected a number ≥ 0"),
    (["name=my run"], "name: String should match pattern"),
    (["dtype=float16"], "dtype: Input should be 'float32' or 'float64'"),
    (["seed=-1"], "seed: Input should be greater than or equal to 0"),
    (
        ["output.checkpoint_every=-2"],
        "output.checkpoint_every: Input should be greater than or equal to 0",
    ),
    (["model.layers.5.units=3"], "--set model.layers.5: no list item '5'"),
    (["noequals"], "--set 'noequals': expected key.path=value"),
    (["model.init_from=missing.npz"], "missing.npz: no such checkpoint"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_OVERRIDES, ids=[m for _, m in BAD_OVERRIDES])
def test_bad_config_values_exit_2_naming_the_key(
    overrides: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["train", str(TOY)]
    for item in overrides:
        args += ["--set", item]
    assert_bad_input(cli(args), message, tmp_path)


def test_the_bad_configs_reach_every_section_of_the_config() -> None:
    """Each section of a config is covered by at least one bad value above, named by its key."""
    named = " ".join(message for _, message in BAD_OVERRIDES + BAD_DOCUMENTS)
    for section in ("name", "data", "model.layers", "loss", "optimizer", "schedule", "training",
                    "output"):  # fmt: skip
        assert f"{section}" in named, section


BAD_DOCUMENTS = [
    ("name: x\ndata: {dataset: moons\n", "YAML syntax error: line 3, column 1"),
    ("- a\n- b\n", "the config must be a mapping of keys, not list"),
    ("", "the config must be a mapping of keys, not empty"),
    ("name: x\n", "data: required key is missing"),
    (
        "name: x\ndata: {dataset: moons}\nmodel: {layers: [{units: 1}]}\n",
        "loss: required key is missing",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_DOCUMENTS, ids=[m for _, m in BAD_DOCUMENTS])
def test_bad_config_documents_exit_2(
    text: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = cli(["train", str(config)])
    assert_bad_input(result, message, tmp_path)
    assert f"{config}: " in result.output  # every line names the file


# --------------------------------------------------------------------- data
BINARY_MODEL = (
    "model:\n  layers:\n    - {units: 4, activation: tanh}\n    - {units: 1, activation: sigmoid}\n"
    "loss: binary_cross_entropy\ntraining: {epochs: 1, batching: {type: full}}\n"
)
GOOD_ROWS = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(20))


def write_bytes(path: Path, content: bytes) -> None:
    path.write_bytes(content)


BAD_DATA = [
    ("missing.csv", None, "missing.csv: no such data file"),
    ("empty.csv", b"", "empty.csv: needs a header row and at least one data row"),
    ("header.csv", b"a,b,y\n", "header.csv: needs a header row and at least one data row"),
    ("ragged.csv", b"a,b,y\n1,2,0\n3,4\n", "ragged.csv: row 3 has 2 cells, the header has 3"),
    (
        "nan.csv",
        b"a,b,y\n1,2,0\n3,nan,1\n",
        "nan.csv: 1 rows miss a feature value (the first: row 3, column 'b')",
    ),
    (
        "inf.csv",
        b"a,b,y\n1,2,inf\n3,4,1\n",
        "inf.csv: row 2, column 'y': inf is not a finite number",
    ),
    ("binary.csv", b"\xff\xfe\x00garbage\x81\n", "binary.csv: cannot read"),
    ("broken.csv.gz", b"\x1f\x8b\x08\x00not really gzip", "broken.csv.gz: cannot read"),
    ("data.txt", b"a,b,y\n1,2,0\n", "data.txt: unsupported data file; use .csv"),
    (
        "classes.csv",
        b"a,b,y\n" + b"".join(b"%d,%d,%d\n" % (i, i, i % 5) for i in range(40)),
        "1 output unit cannot separate 5 classes",
    ),
    ("few.csv", b"a,b,y\n1,2,0\n3,4,1\n", "few.csv: 2 samples are too few for validation_split"),
    ("nokey.npz", "npz-no-y", "nokey.npz: missing array 'y'"),
    ("pickled.npz", "npz-pickle", "pickled.npz: not a readable .npz archive"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_DATA, ids=[n for n, _, _ in BAD_DATA])
def test_bad_data_files_exit_2_naming_the_file_and_place(
    name: str, content: object, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    if content == "npz-no-y":
        np.savez(path, X=np.zeros((10, 2)))
    elif content == "npz-pickle":
        np.savez(path, X=np.array([{"a": 1}] * 10, dtype=object), y=np.zeros(10))
    elif isinstance(content, bytes):
        write_bytes(path, content)
    config = tmp_path / "bad.yaml"
    target = "" if name.endswith(".npz") else ", target: y"
    config.write_text(f"name: bad\ndata: {{path: {name}{target}}}\n{BINARY_MODEL}")
    assert_bad_input(cli(["train", str(config)]), message, tmp_path)


def test_a_target_column_that_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.csv").write_text("a,b,y\n" + GOOD_ROWS)
    config = tmp_path / "bad.yaml"
    config.write_text(f"name: bad\ndata: {{path: ok.csv, target: label}}\n{BINARY_MODEL}")
    message = "ok.csv: data.target 'label' is not a column (columns: a, b, y)"
    assert_bad_input(cli(["train", str(config)]), message, tmp_path)


def test_the_bad_data_files_reach_every_reader() -> None:
    """CSV, gzip and .npz files, and a file no reader takes, are all among the bad data above."""
    names = [name for name, _, _ in BAD_DATA]
    for ending in (".csv", ".csv.gz", ".npz", ".txt"):
        assert any(name.endswith(ending) for name in names), ending


# -------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert (
        cli(
            ["train", str(TOY), "--out", str(out), "--quiet", "--set", "training.epochs=2"]
        ).exit_code
        == 0
    )
    return out


def make_bad_checkpoint(kind: str, trained: Path, folder: Path) -> Path:
    path = folder / f"{kind}.npz"
    good = (trained / "checkpoints/last.npz").read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "pickled":
        np.savez(path, **{"layers.0.W": np.array([object()] * 3, dtype=object)})
    elif kind == "shapes":
        out = folder / "wide"
        args = ["train", str(TOY), "--out", str(out), "--quiet"]
        assert (
            cli([*args, "--set", "training.epochs=1", "--set", "model.layers.0.units=9"]).exit_code
            == 0
        )
        path = out / "checkpoints/last.npz"
    elif kind == "foreign":
        np.savez(path, weights=np.zeros(3))
    return path


CHECKPOINT_CASES = [
    ("missing", "no such checkpoint"),
    ("truncated", "not a readable .npz checkpoint"),
    ("text", "not a readable .npz checkpoint"),
    ("pickled", "bprop never loads pickles"),
    ("shapes", "layers.0.W has shape (9, 2), the model needs (16, 2)"),
    ("foreign", "holds no layers.* parameters; not a bprop checkpoint"),
]


@pytest.mark.parametrize(
    ("kind", "message"), CHECKPOINT_CASES, ids=[k for k, _ in CHECKPOINT_CASES]
)
@pytest.mark.parametrize("how", ["resume", "init_from"])
def test_bad_checkpoints_exit_2_naming_the_file(
    kind: str, message: str, how: str, trained: Path, tmp_path: Path
) -> None:
    bad = make_bad_checkpoint(kind, trained, tmp_path)
    out = tmp_path / "out"
    args = ["train", str(TOY), "--out", str(out), "--set", "training.epochs=3"]
    if how == "resume":
        args += ["--resume", str(bad)]
    else:
        args += ["--set", f"model.init_from={bad}"]
    result = cli(args)
    if kind == "shapes" and how == "resume":  # resuming checks the whole config first
        message = "model.layers.0.units: 9 in the checkpoint, 16 now"
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and message in result.output
    assert "Traceback" not in result.output and not out.exists()


# --------------------------------------------------------------- fuzzing
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-10, 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
)
keys = st.sampled_from(
    ["name", "seed", "dtype", "data", "model", "layers", "units", "activation", "loss",
     "optimizer", "type", "lr", "training", "epochs", "batching", "size", "schedule", "dataset",
     "output", "dir", "compare", "optimizers", "clip", "max_norm", "early_stopping"]
) | st.text(max_size=8)  # fmt: skip
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fuzzed_documents_load_or_raise_config_errors(document: object) -> None:
    try:
        validate(document, "fuzz.yaml")
    except ConfigError as exc:
        assert all(line.startswith("fuzz.yaml: ") for line in str(exc).splitlines())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.text(max_size=20), max_size=3))
def test_fuzzed_yaml_text_and_overrides_load_or_raise_config_errors(
    text: str, overrides: list[str]
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path, overrides)
        except ConfigError as exc:
            # every problem names the file (or the --set option it comes from); a YAML error
            # may go on, indented, on lines of its own
            problems = [line for line in str(exc).splitlines() if not line.startswith(" ")]
            assert all(str(path) in p or "--set" in p for p in problems), problems


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["lr", "momentum", "rho", "beta1", "eps", "weight_decay", "typo"]),
        scalars,
        max_size=3,
    )
)
def test_fuzzed_optimizer_sections_of_a_valid_config(section: dict[str, object]) -> None:
    """What the config accepts the engine builds; what it refuses is named by its key."""
    raw = yaml.safe_load(TOY.read_text())
    raw["optimizer"] = {"type": "momentum", **section}
    try:
        cfg = validate(raw, "fuzz.yaml")
    except ConfigError as exc:
        assert all(line.startswith("fuzz.yaml: optimizer") for line in str(exc).splitlines())
        return
    build_optimizer_from(cfg)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["constant", "step", "exponential", "cosine"]),
    st.dictionaries(
        st.sampled_from(["decay_rate", "step_size", "min_lr", "total_epochs", "warmup_epochs"]),
        scalars,
        max_size=3,
    ),
    st.floats(1e-4, 1.0),
)
def test_fuzzed_schedule_sections_of_a_valid_config(
    kind: str, section: dict[str, object], lr: float
) -> None:
    """What `bprop config` accepts `bprop train` builds: every schedule rule is checked at
    validation, naming the file and the key."""
    raw = yaml.safe_load(TOY.read_text())
    raw["schedule"] = {"type": kind, **section}
    raw["optimizer"] = {"type": "sgd", "lr": lr}
    try:
        cfg = validate(raw, "fuzz.yaml")
    except ConfigError as exc:
        assert all(line.startswith("fuzz.yaml: schedule") for line in str(exc).splitlines())
        return
    build_schedule_from(cfg)


# --------------------------------------------------------------- divergence
def test_the_summary_of_a_diverged_run_names_the_epoch_it_stopped_in(tmp_path: Path) -> None:
    """It blew up within an epoch: the status says which, beside the epochs completed (not
    "diverged after 1 epochs" alone, where the error names epoch 2)."""
    args = ["train", str(CONFIG_DIR / "spirals.yaml"), "--out", str(tmp_path / "div"),
            "--set", "optimizer={type: sgd, lr: 3.0}"]  # fmt: skip
    result = cli(args)
    assert result.exit_code == 3, result.output
    metrics = json.loads((tmp_path / "div" / "metrics.json").read_text())
    stopped, completed = metrics["stop_epoch"], metrics["epochs_run"]
    words = " ".join(result.output.split())
    assert f"diverged in epoch {stopped}, after {completed} epochs" in words


def test_divergence_keeps_every_promised_file_finite(tmp_path: Path) -> None:
    out = tmp_path / "div"
    args = ["train", str(CONFIG_DIR / "spirals.yaml"), "--out", str(out), "--quiet"]
    # At lr 3 plain SGD on spirals finishes one epoch, then blows up in the second.
    sets = ["--set", "optimizer={type: sgd, lr: 3.0}", "--set", "output.checkpoint_every=1"]
    result = cli([*args, *sets])
    assert result.exit_code == 3, result.output
    assert "first non-finite gradient: layers." in result.output
    assert "lower the learning rate or add training.clip" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stop_reason"] == "diverged" and metrics["stop_detail"]
    history = history_of(out)
    assert len(history) >= 1 and all(np.isfinite(row["train_loss"]) for row in history)
    with (out / "history.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(history)
    assert "non-finite" in result.output and "Traceback" not in result.output
    names = {p.name for p in (out / "checkpoints").glob("*.npz")}
    assert {"last.npz", "best.npz", "initial.npz", "epoch-0001.npz"} <= names
    for name in names:
        params = Checkpoint.read(out / "checkpoints" / name).params
        assert params and all(np.all(np.isfinite(v)) for v in params.values())
    # last.npz is the last completed epoch, the one the history ends with.
    assert int(Checkpoint.read(out / "checkpoints/last.npz").epoch) == len(history)


# ------------------------------------------------------------- interruption
def run_in_process(config: Path, out: Path, overrides: list[str], stop_after: int | None = None,
                   resume: Path | None = None) -> RunFinished:  # fmt: skip
    """Train in this process; with ``stop_after``, ask the run to stop after that many steps."""
    steps = 0

    def stop() -> bool:
        nonlocal steps
        steps += 1
        return stop_after is not None and steps >= stop_after

    cfg = load_config(config, overrides)
    events = list(train_into(prepare(cfg, resume), out, plot=False, stop=stop))
    assert isinstance(events[-1], RunFinished)
    return events[-1]


@pytest.mark.parametrize("stop_after", [1, 7, 20, 45])  # steps: mid-epoch 1, 2, 3 and 7 (7/epoch)
def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_one(
    stop_after: int, tmp_path: Path
) -> None:
    common = ["training.epochs=8", "training.batching={type: minibatch, size: 32}",
              "schedule={type: cosine}", "training.early_stopping={patience: 50}"]  # fmt: skip
    full = run_in_process(TOY, tmp_path / "full", common)
    part = tmp_path / "part"
    stopped = run_in_process(TOY, part, common, stop_after=stop_after)
    assert stopped.status == "interrupted"
    assert stopped.metrics["stop_reason"] == "interrupted"
    done = stopped.metrics["epochs_run"]
    assert done == (stop_after - 1) // 7  # the unfinished epoch is not counted
    assert len(history_of(part)) == done
    resumed = run_in_process(TOY, part, common, resume=part / "checkpoints/last.npz")
    assert resumed.status == "completed"
    assert strip_seconds(history_of(part)) == strip_seconds(history_of(full.run_dir))
    assert_same_arrays(full.run_dir / "checkpoints/last.npz", part / "checkpoints/last.npz")
    assert_same_arrays(full.run_dir / "checkpoints/best.npz", part / "checkpoints/best.npz")
    assert resumed.metrics["test"] == full.metrics["test"]
    best = {k: v for k, v in resumed.metrics["best"].items() if k != "train_seconds"}
    assert best == {k: v for k, v in full.metrics["best"].items() if k != "train_seconds"}


def test_runs_started_at_once_never_share_a_directory(tmp_path: Path) -> None:
    found: list[Path] = []
    lock = threading.Lock()

    def claim() -> None:
        path = new_run_dir(tmp_path, "same")
        with lock:
            found.append(path)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 16 and all(p.is_dir() for p in found)


def test_processes_started_at_once_never_share_a_directory(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "backprop_cli", "train", str(CONFIG_DIR / "xor-seed.yaml"),
            "--quiet", "--set", f"output.dir={tmp_path}", "--set", "training.epochs=2"]  # fmt: skip
    processes = [
        subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(3)
    ]
    for process in processes:
        process.communicate(timeout=60)
        assert process.returncode == 0
    runs = sorted(p.name for p in tmp_path.iterdir())
    assert len(runs) == 3 and all((tmp_path / r / "metrics.json").exists() for r in runs)
    name = yaml.safe_load((CONFIG_DIR / "xor-seed.yaml").read_text())["name"]
    assert runs == sorted([name, f"{name}-2", f"{name}-3"])
