"""The `mlflow` logger (output.loggers) against a real MLflow tracking server started here on
127.0.0.1 (sqlite backend and artifacts in a temporary folder, a free port, stopped at the
end), everything read back through `MlflowClient`: a run's params, metrics, tags, artifacts and
status are exactly its files'; a sweep's trials and a cross-validation's folds are children of
one parent run; a resumed run goes on in its MLflow run; `bprop runs sync` uploads a run later;
a server killed mid-run costs the run one warning."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backprop_cli.api import load_config, training_events
from backprop_cli.config.flat import flatten
from backprop_cli.runs.artifacts.checkpoints import Checkpoint
from backprop_cli.runs.artifacts.step_log import read_steps
from backprop_cli.runs.loggers.tracking import Link
from backprop_cli.system.locking import hold

from helpers import CONFIG_DIR, cli, history_of

mlflow = pytest.importorskip("mlflow")

MOONS = CONFIG_DIR / "moons.yaml"
#: How long a server may take to answer its first health check (a busy 2-core machine).
STARTUP_SECONDS, STARTUP_TRIES = 120, 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`mlflow server` on 127.0.0.1, in a process group of its own (so it is stopped whole)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "artifacts"),
        ]  # fmt: skip
        self.log = (folder / "server.log").open("wb")
        tracking_only = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen(
            command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=tracking_only,  # no job workers competing for the machine's cores
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        for _ in range(STARTUP_TRIES):  # bounded in count and in time
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"the MLflow server did not start: {Path(self.log.name).read_text()[-2000:]}")

    def signal(self, number: int) -> None:
        os.killpg(self.process.pid, number)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.close()

    def client(self) -> Any:
        return mlflow.MlflowClient(self.uri)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(tmp_path_factory.mktemp("mlflow"))
    yield started
    started.stop()


def sets(*overrides: str) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def logged(out: Path, server: Server, *overrides: str) -> list[str]:
    where = f"output.mlflow.uri={server.uri}"
    return ["--out", str(out), "--quiet", *sets("output.loggers=[mlflow]", where, *overrides)]


def run_of(run_dir: Path, server: Server) -> Any:
    link = json.loads((run_dir / "mlflow.json").read_text())
    assert link["tracking_uri"] == server.uri
    return server.client().get_run(link["run_id"])


def history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def assert_mlflow_holds_the_run_files(run_dir: Path, server: Server) -> Any:
    """The MLflow run of ``run_dir`` holds exactly its params, steps, history and files."""
    run = run_of(run_dir, server)
    client, run_id = server.client(), run.info.run_id
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    params = run.data.params
    for key, value in flatten(config).items():
        spelled = {None: "null", True: "true", False: "false"}
        expected = spelled[value] if value is None or isinstance(value, bool) else str(value)
        assert params[key] == expected, key
    every = config["output"]["mlflow"]["step_every"]  # the step loss of every such update
    steps = [(int(r["step"]), r["loss"]) for r in read_steps(run_dir)]
    assert history(client, run_id, "step/loss") == [
        (s, loss) for s, loss in steps if s % every == 0
    ]
    rows = history_of(run_dir)
    for column in rows[0]:
        if column != "epoch":
            expected = [(r["epoch"], r[column]) for r in rows if r.get(column) is not None]
            assert history(client, run_id, column) == expected, column
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run.data.tags["bprop.status"] == metrics["stop_reason"]
    assert run.data.tags["bprop.kernels"] == metrics["kernels"]
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "history.json", "metrics.json", "steps.csv"} <= artifacts
    fetched = Path(client.download_artifacts(run_id, "metrics.json", str(run_dir.parent)))
    assert json.loads(fetched.read_text()) == metrics
    return run


def test_a_run_is_one_mlflow_run_holding_its_files(tmp_path: Path, server: Server) -> None:
    out = tmp_path / "run"
    named = "output.mlflow.experiment=bprop-tests"
    every = "output.mlflow.step_every=1"
    result = cli(["train", str(MOONS), *logged(out, server, "training.epochs=3", named, every)])
    assert result.exit_code == 0, result.output
    assert "View run" not in result.output  # MLflow's links stay out of bprop's output
    run = assert_mlflow_holds_the_run_files(out, server)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    experiment = server.client().get_experiment(run.info.experiment_id)
    assert experiment.name == "bprop-tests"
    client = server.client()
    assert "checkpoints/best.npz" in {
        a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")
    }
    if __import__("importlib").util.find_spec("onnx") is not None:
        assert "model.onnx" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_an_interrupted_run_is_killed_then_resumed_in_the_same_run(
    tmp_path: Path, server: Server
) -> None:
    out = tmp_path / "run"
    overrides = [f"output.mlflow.uri={server.uri}", "training.epochs=3",
                 "output.loggers=[mlflow]", "output.mlflow.step_every=3"]  # fmt: skip
    config = load_config(MOONS, overrides)
    asked: list[int] = []
    events = list(training_events(config, out, stop=lambda: asked.append(1) or len(asked) == 7))
    assert events[-1].status == "interrupted"
    first = run_of(out, server)
    assert first.info.status == "KILLED"
    result = cli(["train", str(MOONS), "--resume", str(out / "checkpoints" / "last.npz"),
                  "--quiet", *sets(*overrides)])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = assert_mlflow_holds_the_run_files(out, server)  # each step and epoch once
    assert run.info.run_id == first.info.run_id and run.info.status == "FINISHED"


def test_a_sweeps_trials_are_children_of_one_parent_run(tmp_path: Path, server: Server) -> None:
    out = tmp_path / "sweep"
    result = cli(["sweep", str(MOONS), "--grid", "optimizer.lr=0.01,0.05", "--jobs", "2",
                  *logged(out, server, "training.epochs=2")])  # fmt: skip
    assert result.exit_code == 0, result.output
    parent = json.loads((out / "mlflow.json").read_text())
    assert parent["kind"] == "campaign"
    trials = sorted(p.parent for p in out.glob("*/mlflow.json"))
    assert len(trials) == 2
    lrs = []
    for trial in trials:
        run = assert_mlflow_holds_the_run_files(trial, server)
        assert run.data.tags["mlflow.parentRunId"] == parent["run_id"]
        lrs.append(float(run.data.params["optimizer.lr"]))
    assert sorted(lrs) == [0.01, 0.05]
    assert server.client().get_run(parent["run_id"]).info.status == "FINISHED"


def test_a_cross_validations_folds_are_children_of_one_parent_run(
    tmp_path: Path, server: Server
) -> None:
    out = tmp_path / "cv"
    result = cli(["cv", str(CONFIG_DIR / "iris.yaml"), "--folds", "2",
                  *logged(out, server, "training.epochs=2")])  # fmt: skip
    assert result.exit_code == 0, result.output
    parent = json.loads((out / "mlflow.json").read_text())["run_id"]
    for k in (1, 2):
        run = assert_mlflow_holds_the_run_files(out / f"fold-{k}", server)
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.params["data.fold"] == str(k - 1)


def test_sync_uploads_a_run_trained_without_a_server(tmp_path: Path, server: Server) -> None:
    out = tmp_path / "offline"
    assert cli(["train", str(MOONS), "--out", str(out), "--quiet",
                "--set", "training.epochs=2"]).exit_code == 0  # fmt: skip
    result = cli(["runs", "sync", str(out), "--to", "mlflow", "--uri", server.uri])
    assert result.exit_code == 0, result.output
    run = assert_mlflow_holds_the_run_files(out, server)
    digest = Checkpoint.read(out / "checkpoints" / "last.npz").data.digest
    assert digest and run.data.tags["bprop.data_digest"] == digest  # as the logger records it
    again = cli(["runs", "sync", str(out), "--uri", server.uri])  # nothing logged twice
    assert again.exit_code == 0, again.output
    assert run_of(out, server).info.run_id == run.info.run_id
    assert_mlflow_holds_the_run_files(out, server)
    (tmp_path / "empty").mkdir()
    bad = cli(["runs", "sync", str(out), str(tmp_path / "empty"), "--uri", server.uri])
    assert bad.exit_code == 2 and "not a run directory, nor a folder of them" in bad.output
    with hold(out):  # a run still training is not uploaded half-done
        busy = cli(["runs", "sync", str(out), "--uri", server.uri])
    assert busy.exit_code == 2 and "still training" in busy.output
    malformed = cli(["runs", "sync", str(out), "--uri", "http://[::1"])  # MLflow's error, named
    assert malformed.exit_code == 2 and "could not sync to MLflow" in malformed.output
    assert cli(["runs", "sync", str(out), "--to", "wandb"]).exit_code == 2


def train_through(server: Server, out: Path, epochs: int, after_epoch_1: str) -> list[Any]:
    """Train with the mlflow logger on ``server``, which, once epoch 1 has ended, is stopped
    (``after_epoch_1`` "kill") or stops answering ("freeze"); the server is stopped at the end.
    The events, and the one warning they must hold."""
    config = load_config(MOONS, [f"training.epochs={epochs}", "output.loggers=[mlflow]",
                                 f"output.mlflow.uri={server.uri}"])  # fmt: skip
    events = []
    try:
        for event in training_events(config, out):
            events.append(event)
            if type(event).__name__ == "EpochEnded" and event.epoch == 1:
                server.stop() if after_epoch_1 == "kill" else server.signal(signal.SIGSTOP)
    finally:
        server.stop()
    warned = [e.message for e in events if type(e).__name__ == "Warned"]
    assert len(warned) == 1 and "the mlflow logger failed" in warned[0]
    return events


def test_a_link_file_that_is_not_bprops_names_no_run(tmp_path: Path) -> None:
    path = tmp_path / "mlflow.json"
    good = {"tracking_uri": "sqlite:///m.db", "experiment_id": "1", "run_id": "ab", "kind": "run"}
    path.write_text(json.dumps(good))
    assert Link.read(path) == Link("sqlite:///m.db", "1", "ab")
    for spoiled in ({**good, "run_id": 12345}, {**good, "experiment_id": 0}, [good], {"a": 1}):
        path.write_text(json.dumps(spoiled))
        assert Link.read(path) is None
    path.write_text("{nope")
    assert Link.read(path) is None


@pytest.mark.slow
def test_a_server_killed_mid_run_costs_one_warning(tmp_path: Path) -> None:
    events = train_through(Server(tmp_path / "doomed"), tmp_path / "run", 4, "kill")
    assert events[-1].status == "completed"
    assert len(history_of(tmp_path / "run")) == 4
    assert (tmp_path / "run" / "metrics.json").is_file()


@pytest.mark.slow
def test_a_server_that_stops_answering_costs_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")  # the user's setting is honoured
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    events = train_through(Server(tmp_path / "frozen"), tmp_path / "run", 3, "freeze")
    assert events[-1].status == "completed" and len(history_of(tmp_path / "run")) == 3


def test_send_packs_what_it_is_given_within_mlflows_limits(server: Server) -> None:
    from mlflow.entities import Metric

    from backprop_cli.runs.loggers.tracking import send

    client = server.client()
    run_id = client.create_run("0").info.run_id
    metrics = [Metric("m", float(i) / 7, 0, i) for i in range(2500)]  # 1000 a request at most
    params = {f"p{i}": str(i) for i in range(150)}  # 100 a request at most
    tags = {f"t{i}": str(i) for i in range(120)}  # 100 a request at most
    send(client, run_id, metrics, params, tags)
    run = client.get_run(run_id)
    assert history(client, run_id, "m") == [(i, float(i) / 7) for i in range(2500)]
    assert run.data.params == params
    assert {k: v for k, v in run.data.tags.items() if k.startswith("t")} == tags


def test_a_campaign_whose_server_is_down_warns_once_and_its_runs_sync_later(
    tmp_path: Path, server: Server
) -> None:
    out, nowhere = tmp_path / "sweep", f"output.mlflow.uri=http://127.0.0.1:{free_port()}"
    logged = sets("output.loggers=[mlflow]", nowhere, "training.epochs=2")
    result = cli(["sweep", str(MOONS), "--grid", "optimizer.lr=0.01,0.05", "--out", str(out),
                  "--quiet", *logged])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("warning") == 1, result.output  # the campaign's, not each run's
    assert "could not reach the tracking server" in result.output
    trials = sorted(p.parent for p in out.glob("*/metrics.json"))
    assert len(trials) == 2 and not list(out.rglob("mlflow.json"))
    synced = cli(["runs", "sync", str(out), "--uri", server.uri])  # the folder: all its runs
    assert synced.exit_code == 0, synced.output
    for trial in trials:
        assert_mlflow_holds_the_run_files(trial, server)


def test_a_copied_run_directory_logs_to_an_mlflow_run_of_its_own(
    tmp_path: Path, server: Server
) -> None:
    import shutil

    out, copy = tmp_path / "run", tmp_path / "copy"
    overrides = [f"output.mlflow.uri={server.uri}", "output.loggers=[mlflow]"]
    first = cli(["train", str(MOONS), "--out", str(out), "--quiet",
                 *sets(*overrides, "training.epochs=2")])  # fmt: skip
    assert first.exit_code == 0, first.output
    shutil.copytree(out, copy)
    resumed = cli(["train", str(MOONS), "--resume", str(copy / "checkpoints" / "last.npz"),
                   "--quiet", *sets(*overrides, "training.epochs=3")])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    original, copied = run_of(out, server), run_of(copy, server)
    assert copied.info.run_id != original.info.run_id
    assert_mlflow_holds_the_run_files(out, server)  # the original's run is as it was
    assert_mlflow_holds_the_run_files(copy, server)  # the copy's holds all of its history


def test_a_comparisons_runs_are_children_of_one_parent_run(tmp_path: Path, server: Server) -> None:
    out = tmp_path / "race"
    result = cli(["compare-optimizers", str(MOONS), *logged(out, server, "training.epochs=2")])
    assert result.exit_code == 0, result.output
    parent = json.loads((out / "mlflow.json").read_text())
    runs = sorted(p.parent for p in out.glob("*/mlflow.json"))
    assert len(runs) == 4 and parent["kind"] == "campaign"
    for run_dir in runs:
        run = assert_mlflow_holds_the_run_files(run_dir, server)
        assert run.data.tags["mlflow.parentRunId"] == parent["run_id"]


def test_mlflows_notes_stay_out_of_a_quiet_run(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'new.db'}"  # a new store: MLflow notes its tables' creation
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    logged = sets("training.epochs=1", "output.loggers=[mlflow]", f"output.mlflow.uri={store}")
    command = [sys.executable, "-m", "backprop_cli", "train", str(MOONS), "--quiet",
               "--out", str(tmp_path / "run"), *logged]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "INFO" not in done.stdout
    assert (tmp_path / "run" / "mlflow.json").is_file()


def test_a_diverged_run_is_failed_on_the_server_mlflow_tracking_uri_names(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)  # no output.mlflow.uri
    out = tmp_path / "run"
    overrides = sets("output.loggers=[mlflow]", "optimizer={type: sgd, lr: 1.0e+30}",
                     "model.layers.0.activation=relu",
                     "training.epochs=3")  # fmt: skip
    result = cli(["train", str(MOONS), "--out", str(out), "--quiet", *overrides])
    assert result.exit_code == 3, result.output  # diverged
    run = run_of(out, server)
    assert run.info.status == "FAILED" and run.data.tags["bprop.status"] == "diverged"


def test_a_pipe_or_a_huge_file_in_a_runs_files_is_never_read(
    tmp_path: Path, server: Server
) -> None:
    pipe = tmp_path / "mlflow.json"
    os.mkfifo(pipe)  # opening it to read would wait for a writer forever
    assert Link.read(pipe) is None
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.truncate(1 << 30)  # sparse: a gigabyte of nothing
    assert Link.read(huge) is None
    out = tmp_path / "run"
    assert cli(["train", str(MOONS), "--out", str(out), "--quiet",
                "--set", "training.epochs=1"]).exit_code == 0  # fmt: skip
    (out / "history.json").unlink()
    os.mkfifo(out / "history.json")
    result = cli(["runs", "sync", str(out), "--uri", server.uri])
    assert result.exit_code == 2 and "not a regular file" in result.output


@pytest.mark.slow
def test_a_server_lost_in_a_campaign_is_given_up_for_the_runs_after(tmp_path: Path) -> None:
    from backprop_cli.runs.campaigns.campaign import JobEnded, RunJob, open_campaign

    doomed = Server(tmp_path / "doomed")
    config = load_config(MOONS, ["training.epochs=2", "output.loggers=[mlflow]",
                                 f"output.mlflow.uri={doomed.uri}"])  # fmt: skip
    jobs = [RunJob(f"t{k}", config) for k in (1, 2, 3)]
    warned, ended = [], []
    try:
        with open_campaign(config, "sweep", tmp_path / "sweep") as campaign:
            for event in campaign.events(jobs):  # here, one run after another
                if type(event).__name__ == "EpochEnded" and not ended:
                    doomed.stop()  # lost during the first run
                elif type(event).__name__ == "Warned":
                    warned.append(event.message)
                elif isinstance(event, JobEnded):
                    ended.append(event.summary)
    finally:
        doomed.stop()
    assert [s.status for s in ended] == ["ok"] * 3
    assert len(ended[0].warnings) == 1 and "mlflow logger failed" in ended[0].warnings[0]
    assert len(warned) == 1 and "the runs still to start go without it" in warned[0]
    assert not ended[1].warnings and not ended[2].warnings  # no run waited on the server again
    assert not (tmp_path / "sweep" / "t2" / "mlflow.json").exists()
