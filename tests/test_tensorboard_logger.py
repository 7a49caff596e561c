"""The `tensorboard` logger (output.loggers): TensorBoard's own reader reads back exactly what
the run directory's steps.csv, history.json and metrics.json hold; a resumed run continues the
same files without a step twice; the run never depends on the logger."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backprop_cli.config import load_config
from backprop_cli.runs.artifacts.checkpoints import Checkpoint
from backprop_cli.runs.artifacts.step_log import read_steps
from backprop_cli.runs.loggers.event_files import events, framed, is_own_or_cut, records, trim
from backprop_cli.runs.train.needs import LOGGER_EXTRAS
from backprop_cli.runs.train.plan import prepare
from backprop_cli.runs.train.run import RunFinished
from backprop_cli.runs.training import train_into
from backprop_cli.system.atomic import TEMPORARY

from helpers import CONFIG_DIR, cli, history_of

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

MOONS = CONFIG_DIR / "moons.yaml"
LOGGED = [
    "output.loggers=[tensorboard]",
    "output.tensorboard.every=2",
    "output.checkpoint_every=0",
    "training.batching={type: minibatch, size: 64}",
]


def train(out: Path, overrides: list[str], plot: bool = False, **kwargs: Any) -> list:
    cfg = load_config(MOONS, [*LOGGED, *overrides])
    plan = prepare(cfg, kwargs.pop("resume", None))
    return list(train_into(plan, out, plot=plot, **kwargs))


def board(run_dir: Path) -> Any:
    """TensorBoard's reader over the run's event files, keeping every value."""
    reader = event_accumulator.EventAccumulator(
        str(run_dir / "tensorboard"),
        size_guidance={"tensors": 0, "histograms": 0, "images": 0},
    )
    return reader.Reload()


def series(reader: Any, tag: str) -> list[tuple[int, float]]:
    """A scalar tag's (step, value) pairs, the values as the numbers written."""
    from tensorboard.util import tensor_util

    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in reader.Tensors(tag)]


def logged(value: float) -> float:
    """``value`` as a scalar's charted tag holds it: rounded to float32, the one form
    TensorBoard's default loader shows (its ``float64/`` copy holds it exactly)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def assert_read_back(reader: Any, tag: str, expected: list[tuple[int, float]]) -> None:
    """The tag's exact copy holds ``expected``, number for number; the charted tag holds them
    rounded to float32."""
    for name, held in ((f"float64/{tag}", expected),
                       (tag, [(step, logged(value)) for step, value in expected])):  # fmt: skip
        read = series(reader, name)
        assert [step for step, _ in read] == [step for step, _ in held], name  # each step once
        assert all(same(v, w) for (_, v), (_, w) in zip(read, held, strict=True)), name


def assert_board_holds_the_run_files(run_dir: Path) -> Any:
    reader = board(run_dir)
    steps = read_steps(run_dir)
    for column in ("loss", "lr", "grad_norm"):
        assert_read_back(reader, f"step/{column}", [(int(r["step"]), r[column]) for r in steps])
    history = history_of(run_dir)
    for column in history[0]:
        if column == "epoch":
            continue
        expected = [(r["epoch"], r[column]) for r in history if r.get(column) is not None]
        assert_read_back(reader, f"epoch/{column}", expected)
    return reader


def test_the_event_files_hold_what_the_run_files_hold(tmp_path: Path) -> None:
    run = tmp_path / "run"
    events_ = train(run, ["training.epochs=4", "training.diagnostics=true"], plot=True)
    assert isinstance(events_[-1], RunFinished) and events_[-1].status == "completed"
    reader = assert_board_holds_the_run_files(run)
    tags = reader.Tags()
    assert "epoch/layers.0.grad_norm" in tags["tensors"]  # the diagnostics' columns too

    metrics = json.loads((run / "metrics.json").read_text())
    assert_read_back(reader, "hparams/test_loss", [(4, metrics["test"]["loss"])])
    assert_read_back(reader, "hparams/test_accuracy", [(4, metrics["test"]["accuracy"])])
    assert_read_back(reader, "hparams/best_val_loss", [(4, metrics["best"]["val_loss"])])
    assert_read_back(reader, "hparams/epochs_run", [(4, 4.0)])

    # Histograms every 2 epochs; at epoch 4 the weights are last.npz's (no restore_best).
    weights = reader.Histograms("weights/layers.0.W")
    assert [h.step for h in weights] == [2, 4]
    W = Checkpoint.read(run / "checkpoints" / "last.npz").params["layers.0.W"]
    assert weights[-1].histogram_value.num == W.size
    assert weights[-1].histogram_value.sum == pytest.approx(float(W.astype(np.float64).sum()))
    assert weights[-1].histogram_value.max == pytest.approx(float(W.max()))
    assert [h.step for h in reader.Histograms("gradients/layers.1.b")] == [2, 4]

    # The pictures as drawn, byte for byte; the config as config.yaml holds it.
    for name in ("loss", "boundary"):
        (image,) = reader.Images(f"pictures/{name}")
        assert image.encoded_image_string == (run / f"{name}.png").read_bytes()
    (text,) = reader.Tensors("config/text_summary")
    assert (run / "config.yaml").read_text() in text.tensor_proto.string_val[0].decode()


def test_the_hparams_summary_names_the_config_and_how_the_run_ended(tmp_path: Path) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = tmp_path / "run"
    train(run, ["training.epochs=2", "optimizer.lr=0.02"])
    reader = board(run)
    content = reader.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info
    assert start.hparams["optimizer.lr"].number_value == 0.02
    assert start.hparams["model.layers.0.activation"].string_value == "tanh"
    assert start.hparams["training.epochs"].number_value == 2
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]
    ).experiment
    assert "hparams/test_accuracy" in [m.name.tag for m in experiment.metric_infos]
    end = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_end_info"]
    ).session_end_info
    assert end.status == 1  # STATUS_SUCCESS


def test_a_resumed_run_continues_its_files_without_a_step_twice(tmp_path: Path) -> None:
    full = tmp_path / "full"
    train(full, ["training.epochs=4"])
    per_epoch = len(read_steps(full)) // 4
    asked: list[int] = []

    def stop() -> bool:  # stops after the second step of epoch 3
        asked.append(1)
        return len(asked) == 2 * per_epoch + 2

    part = tmp_path / "part"
    assert train(part, ["training.epochs=4"], stop=stop)[-1].status == "interrupted"
    reader = board(part)
    # the interrupted epoch's steps are logged, as steps.csv keeps them
    assert len(series(reader, "step/loss")) == 2 * per_epoch + 2
    assert len(series(reader, "float64/step/loss")) == 2 * per_epoch + 2
    assert [s for s, _ in series(reader, "epoch/train_loss")] == [1, 2]
    end = reader.PluginTagToContent("hparams")
    assert "_hparams_/session_end_info" in end  # taken back by the resume

    train(part, ["training.epochs=4"], resume=part / "checkpoints" / "last.npz")
    assert len(list((part / "tensorboard").iterdir())) == 2  # one file per process
    reader = assert_board_holds_the_run_files(part)
    # the same numbers as the uninterrupted run, each step once
    assert series(reader, "step/loss") == series(board(full), "step/loss")
    assert [h.step for h in reader.Histograms("weights/layers.0.W")] == [2, 4]
    assert len(reader.Tensors("config/text_summary")) == 1
    assert len(reader.Tensors("hparams/test_loss")) == 1
    assert len(reader.Tensors("float64/hparams/test_loss")) == 1


def test_a_run_resumed_into_a_new_directory_logs_the_epochs_it_brings(tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(first, ["training.epochs=2"])
    second = tmp_path / "second"
    train(second, ["training.epochs=3"], resume=first / "checkpoints" / "last.npz")
    reader = assert_board_holds_the_run_files(second)
    assert [s for s, _ in series(reader, "epoch/train_loss")] == [1, 2, 3]
    assert series(reader, "step/loss")[: len(read_steps(first))] == series(
        board(first), "step/loss"
    )


def test_a_resume_leaves_event_files_bprop_did_not_write(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(run, ["training.epochs=1"])
    own = next((run / "tensorboard").iterdir())
    theirs = run / "tensorboard" / "events.out.tfevents.1700000000.elsewhere"
    theirs.write_bytes(own.read_bytes())  # a user's copy, under a name bprop does not write
    before = theirs.read_bytes()
    train(run, ["training.epochs=2"], resume=run / "checkpoints" / "last.npz")
    assert theirs.read_bytes() == before


def test_a_link_under_bprops_name_is_neither_followed_nor_rewritten(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(run, ["training.epochs=1"])
    elsewhere = tmp_path / "kept.tfevents"
    elsewhere.write_bytes(next((run / "tensorboard").iterdir()).read_bytes())
    before = elsewhere.read_bytes()
    link = run / "tensorboard" / "events.out.tfevents.0000000001.0000.host.bprop"
    link.symlink_to(elsewhere)  # sorts first: a resume would trim it, were it bprop's file
    train(run, ["training.epochs=2"], resume=run / "checkpoints" / "last.npz")
    assert link.is_symlink() and elsewhere.read_bytes() == before
    assert len([p for p in (run / "tensorboard").iterdir() if not p.is_symlink()]) == 2


def test_a_logger_that_fails_costs_the_run_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "tensorboard").write_text("a file where the logger wants its folder")
    events_ = train(run, ["training.epochs=2"])
    warned = [e.message for e in events_ if type(e).__name__ == "Warned"]
    assert len(warned) == 1 and "the tensorboard logger failed" in warned[0]
    assert events_[-1].status == "completed"
    assert len(history_of(run)) == 2 and (run / "checkpoints" / "last.npz").is_file()
    assert (run / "tensorboard").read_text() == "a file where the logger wants its folder"


def test_a_logger_not_installed_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(LOGGER_EXTRAS, "tensorboard", ("bprop_absent_package", "its extra"))
    out = tmp_path / "run"
    result = cli(["train", str(MOONS), "--out", str(out), "--set", "output.loggers=[tensorboard]"])
    assert result.exit_code == 2
    assert "output.loggers: the tensorboard logger needs the bprop_absent_package package" in (
        " ".join(result.output.split())
    )
    assert not out.exists()


def test_a_logger_named_twice_is_refused(tmp_path: Path) -> None:
    result = cli(["config", str(MOONS), "--set", "output.loggers=[tensorboard, tensorboard]"])
    assert result.exit_code == 2 and "named more than once" in result.output


# ---------------------------------------------------------------- event files
def test_records_stop_at_a_record_cut_short_or_spoiled() -> None:
    bodies = [b"first", b"second record", b"third"]
    data = b"".join(framed(b) for b in bodies)
    assert list(records(data)) == bodies
    assert list(records(data[:-3])) == bodies[:2]  # the last record cut short by a kill
    spoiled = bytearray(data)
    spoiled[len(framed(b"first")) + 14] ^= 0xFF  # a byte of the second record's body
    assert list(records(bytes(spoiled))) == bodies[:1]
    assert list(records(b"")) == []


def test_events_stop_at_a_record_whose_checksum_holds_but_whose_body_is_no_event(
    tmp_path: Path,
) -> None:
    from tensorboardX.proto.event_pb2 import Event

    first = Event(step=1, file_version="brain.Event:2").SerializeToString()
    path = tmp_path / "events.out.tfevents.0000000001.0000.host.bprop"
    path.write_bytes(framed(first) + framed(b"\xff\xff\xff") + framed(first))
    assert [e.step for e in events(path)] == [1]  # what comes after it is not trusted
    trim(path, lambda tag, step: True)  # a resume rewrites what it can read
    assert path.read_bytes() == framed(first)


def test_trim_keeps_the_values_asked_for_and_the_file_version(tmp_path: Path) -> None:
    from tensorboardX.event_file_writer import EventsWriter
    from tensorboardX.summary import scalar

    writer = EventsWriter(str(tmp_path / "events"), ".1.bprop")
    for step in range(1, 5):
        from tensorboardX.proto.event_pb2 import Event

        writer.write_event(Event(step=step, summary=scalar("a", step)))
        writer.write_event(Event(step=10 * step, summary=scalar("b", step)))
    writer.close()
    (path,) = tmp_path.iterdir()
    trim(path, lambda tag, step: (tag == "a" and step <= 2) or (tag == "b" and step <= 30))
    kept = list(events(path))
    assert kept[0].file_version == "brain.Event:2"
    assert [(e.summary.value[0].tag, e.step) for e in kept[1:]] == [
        ("a", 1), ("b", 10), ("a", 2), ("b", 20), ("b", 30),
    ]  # fmt: skip


def test_a_cut_back_copy_is_never_named_as_an_event_file(tmp_path: Path) -> None:
    """TensorBoard reads every file whose name holds "tfevents": the copy a resume writes while
    it cuts a file back must not be one, or a kill mid-copy would show every value twice."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.summary import scalar

    seen: list[list[str]] = []

    def keep(tag: str, step: int) -> bool:  # asked while the copy is being written
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        return True

    path = tmp_path / "events.out.tfevents.0000000001.0000.host.bprop"
    path.write_bytes(framed(Event(step=1, summary=scalar("a", 1.0)).SerializeToString()))
    trim(path, keep)
    (names,) = seen
    assert len(names) == 2 and [n for n in names if "tfevents" in n] == [path.name]
    copy = next(n for n in names if n != path.name)
    assert is_own_or_cut(TEMPORARY.fullmatch(copy)["target"])  # removed when a run next starts


def test_a_link_or_a_fifo_at_the_new_files_name_is_passed_over(tmp_path: Path) -> None:
    import threading

    from backprop_cli.runs.loggers.event_files import EventWriter, next_name

    (tmp_path / "events.out.tfevents.9999999999.0000.elsewhere.bprop").write_bytes(b"")
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    (tmp_path / next_name(tmp_path)).symlink_to(precious)
    os.mkfifo(tmp_path / next_name(tmp_path, 1))
    made: list[EventWriter] = []
    opening = threading.Thread(target=lambda: made.append(EventWriter(tmp_path)), daemon=True)
    opening.start()
    opening.join(timeout=120)  # a FIFO opened for writing would block until a reader came
    (writer,) = made
    writer.close()
    assert writer.path.name.split(".")[3:5] == ["9999999999", "0003"]  # after the two taken
    assert precious.read_text() == "mine"
    assert next(events(writer.path)).file_version == "brain.Event:2"


# ---------------------------------------------------------------- campaigns
def hparam(run_dir: Path, key: str) -> Any:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = board(run_dir).PluginTagToContent("hparams")["_hparams_/session_start_info"]
    value = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams[key]
    return getattr(value, value.WhichOneof("kind"))


def test_each_trial_of_a_sweep_logs_its_own_files_and_hyperparameters(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = cli([
        "sweep", str(CONFIG_DIR / "spirals.yaml"), "--out", str(out), "--quiet",
        "--set", "training.epochs=2", "--set", "data.options.n_samples=120",
        "--set", "output.loggers=[tensorboard]", "--grid", "optimizer.lr=0.01,0.03",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    trials = sorted(p.parent for p in out.glob("*/tensorboard"))
    assert len(trials) == 2
    assert sorted(hparam(t, "optimizer.lr") for t in trials) == [0.01, 0.03]
    for trial in trials:
        assert_board_holds_the_run_files(trial)
        # the key the sweep varies is marked as differing: TensorBoard's tab shows it first
        differing = {i.name for i in experiment(trial).hparam_infos if i.differs}
        assert "optimizer.lr" in differing and "seed" not in differing
        assert differing <= {"optimizer.lr", "name"}  # the trials' names are theirs too


def experiment(run_dir: Path) -> Any:
    """The HParams experiment summary of a run's event files, as TensorBoard's reader sees it."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = board(run_dir).PluginTagToContent("hparams")["_hparams_/experiment"]
    return plugin_data_pb2.HParamsPluginData.FromString(content).experiment


def test_each_fold_of_a_cross_validation_logs_in_its_worker(tmp_path: Path) -> None:
    out = tmp_path / "cv"
    result = cli([
        "cv", str(CONFIG_DIR / "iris.yaml"), "--folds", "2", "--jobs", "2", "--out", str(out),
        "--quiet", "--set", "training.epochs=3", "--set", "output.loggers=[tensorboard]",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    for k in (1, 2):
        fold = out / f"fold-{k}"
        assert_board_holds_the_run_files(fold)
        assert hparam(fold, "data.fold") == k - 1


def test_a_new_event_file_sorts_after_the_files_it_continues(tmp_path: Path) -> None:
    from backprop_cli.runs.loggers.event_files import next_name

    later = "events.out.tfevents.9999999999.0003.elsewhere.bprop"  # a clock that ran ahead
    (tmp_path / later).write_bytes(b"")
    (tmp_path / "events.out.tfevents.9999999999.theirs").write_bytes(b"")  # not bprop's
    name = next_name(tmp_path)
    assert name > later and name.startswith("events.out.tfevents.9999999999.0004.")


def test_tensorboards_own_server_shows_the_scalars_with_its_default_loader(
    tmp_path: Path,
) -> None:
    """`tensorboard --logdir` reads event files with its fast (Rust) loader where it can: it
    charts the 32-bit scalars (nothing of 64-bit ones), and leaves their exact copies out."""
    import json
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    pytest.importorskip("tensorboard_data_server")
    run = tmp_path / "run"
    train(run, ["training.epochs=2"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data/plugin/scalars"
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(run / "tensorboard"),
               "--host", "127.0.0.1", "--port", str(port), "--load_fast=true"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    shown: list = []
    tags: dict = {}
    try:
        deadline = time.monotonic() + 120
        for _ in range(240):  # bounded in count and in time: a busy machine starts it slowly
            try:
                with urllib.request.urlopen(f"{url}/scalars?run=.&tag=epoch/train_loss") as got:
                    shown = json.load(got)
            except (OSError, ValueError):
                shown = []
            if len(shown) == 2 or time.monotonic() > deadline or server.poll() is not None:
                break
            time.sleep(0.5)
        with urllib.request.urlopen(f"{url}/tags") as got:
            tags = json.load(got)["."]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    expected = [(r["epoch"], logged(r["train_loss"])) for r in history_of(run)]
    assert [(step, value) for _, step, value in shown] == expected
    assert {"epoch/train_loss", "step/loss"} <= set(tags)
    assert not [tag for tag in tags if tag.startswith("float64/")]


def test_an_integer_past_a_floats_reach_is_an_hparam_in_words(tmp_path: Path) -> None:
    run = tmp_path / "run"
    events = train(run, ["training.epochs=1", f"output.tensorboard.every={10**22}"])
    assert not [e for e in events if type(e).__name__ == "Warned"]
    assert hparam(run, "output.tensorboard.every") == str(10**22)
