"""The `mlflow` logger: each bprop run is one MLflow run, on the tracking server (or store) of
``output.mlflow.uri``, else of MLFLOW_TRACKING_URI, in the experiment ``output.mlflow.experiment``.

What it logs:

- params: the resolved config, flattened (``optimizer.lr``, ``model.layers.0.units``);
- metrics: every history column at ``step`` = the epoch, and ``step/loss`` (the batch loss of
  every ``output.mlflow.step_every``-th update, steps.csv's) at ``step`` = the update count;
- tags: ``bprop.version``, ``bprop.data_digest``, ``bprop.kernels``, ``bprop.status``,
  ``bprop.run_dir``, and ``mlflow.parentRunId`` for the runs of a sweep, a comparison or a
  cross-validation (children of one parent run);
- artifacts: config.yaml, history.csv and .json, steps.csv, metrics.json, the pictures, the best
  checkpoint, and the ONNX export when bprop[onnx] is installed;
- the status: FINISHED (completed or stopped early), FAILED (diverged), KILLED (interrupted).

The run directory's ``mlflow.json`` names the MLflow run, so a resumed run goes on logging to the
same one (what it already holds is not logged twice), and `bprop runs sync` uploads a run trained
without a server. Requests fail fast (two retries, ten seconds) unless the MLFLOW_HTTP_REQUEST_*
variables say otherwise, so that a server that is down costs a run one warning, not minutes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config.flat import flatten
from ...core.training import EpochEnded, StopReason
from ...errors import BpropError
from ...system.atomic import write_text
from ...system.locking import is_held
from ...system.reading import file_problem
from ..artifacts.layout import (
    BOUNDARY_PLOT,
    CONFIG,
    FIT_PLOT,
    HISTORY_CSV,
    HISTORY_JSON,
    LOSS_PLOT,
    METRICS,
    MLFLOW_RUN,
    STEPS,
    RunLayout,
)
from ..artifacts.step_log import Row
from ..artifacts.survey import LARGEST_FILE
from ..train.sinks import Outcome, Record, Sink

#: MLflow's run status for each way a bprop run ends.
STATUS = {
    StopReason.COMPLETED: "FINISHED",
    StopReason.EARLY_STOPPING: "FINISHED",
    StopReason.DIVERGED: "FAILED",
    StopReason.INTERRUPTED: "KILLED",
    StopReason.PRUNED: "FINISHED",  # ended as the search meant it to; bprop.status says how
}
#: The per-step metric: an update's batch loss (the lr and gradient norm per step stay in
#: steps.csv; the history has them per epoch).
STEP_LOSS = "step/loss"
#: The run files uploaded as artifacts (those the run has), and the checkpoint.
ARTIFACTS = (CONFIG, HISTORY_CSV, HISTORY_JSON, STEPS, METRICS, LOSS_PLOT, BOUNDARY_PLOT, FIT_PLOT)
#: MLflow's limits on one log_batch request: params, tags, and entries of all kinds together.
BATCH_PARAMS, BATCH_TAGS, BATCH_ALL = 100, 100, 1000
#: How requests fail unless the user's environment says otherwise (MLflow's own defaults retry
#: for minutes), and no links or notes (MLflow's INFO log, read when it is first imported)
#: printed among bprop's output.
FAIL_FAST = {
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
#: What marks a campaign's mlflow.json (its parent run) apart from a run's.
CAMPAIGN = "campaign"
#: The loggers whose retry notes are quieted while bprop talks to MLflow.
QUIET = ("urllib3", "mlflow")
#: The largest mlflow.json read: bprop writes a few hundred bytes.
LINK_LARGEST = 1 << 16


@contextlib.contextmanager
def failing_fast() -> Iterator[None]:
    """`FAIL_FAST` in the environment within the block, where the user has not set them, and
    the retries that MLflow and urllib3 log as they fail (`QUIET`) kept out of the output: the
    logger's one warning says what failed."""
    added = {k: v for k, v in FAIL_FAST.items() if k not in os.environ}
    os.environ.update(added)
    import mlflow  # noqa: F401  (configures its logging, from the environment, on first import)

    quieted = [logging.getLogger(name) for name in QUIET]
    levels = [log.level for log in quieted]
    for log in quieted:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(quieted, levels, strict=True):
            log.setLevel(level)
        for key in added:
            os.environ.pop(key, None)


@dataclass(frozen=True)
class Link:
    """An MLflow run as mlflow.json names it."""

    tracking_uri: str
    experiment_id: str
    run_id: str
    kind: str = "run"  # or CAMPAIGN

    @classmethod
    def read(cls, path: Path) -> Link | None:
        """The link ``path`` holds, None when it holds none bprop wrote (a pipe, a device or a
        file larger than bprop writes is not opened)."""
        try:
            if file_problem(path, LINK_LARGEST):
                return None
            found = json.loads(path.read_text(encoding="utf-8"))
            link = cls(**found) if isinstance(found, dict) else None
        except (OSError, UnicodeDecodeError, ValueError, TypeError):
            return None
        fields = (link.tracking_uri, link.experiment_id, link.run_id, link.kind) if link else ()
        return link if fields and all(isinstance(f, str) for f in fields) else None

    def write(self, path: Path) -> None:
        write_text(path, json.dumps(self.__dict__, indent=2) + "\n")


def client_for(uri: str | None) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def connect(uri: str | None) -> tuple[str, Any]:
    """The tracking URI meant (``uri``, else MLFLOW_TRACKING_URI, else MLflow's default) and a
    client of it."""
    import mlflow

    resolved = uri or mlflow.get_tracking_uri()
    return resolved, client_for(resolved)


def experiment_id(client: Any, name: str | None) -> str:
    """The id of the experiment ``name`` (created if need be); MLflow's default without one."""
    if name is None:
        return "0"
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def params_of(resolved: dict[str, Any]) -> dict[str, str]:
    """The resolved config as MLflow params: flattened, each value as YAML would write it."""
    spelled = {None: "null", True: "true", False: "false"}
    return {
        k: spelled[v] if v is None or isinstance(v, bool) else str(v)
        for k, v in flatten(resolved).items()
    }


def epoch_metrics(row: dict[str, Any], stamp: int) -> list[Any]:
    from mlflow.entities import Metric

    epoch = int(row["epoch"])
    return [
        Metric(key, float(value), stamp, epoch)
        for key, value in row.items()
        if key != "epoch" and value is not None
    ]


def step_metrics(rows: Iterable[Row], stamp: int, every: int) -> list[Any]:
    """The step losses of the rows whose update is a multiple of ``every`` (none for 0)."""
    from mlflow.entities import Metric

    if not every:
        return []
    return [
        Metric(STEP_LOSS, float(loss), stamp, step)
        for step, _, loss, _, _ in rows
        if step % every == 0
    ]


def send(
    client: Any,
    run_id: str,
    metrics: Sequence[Any] = (),
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Log ``metrics``, ``params`` and ``tags`` in as few requests as MLflow's limits allow
    (each request costs the client ~2 ms of CPU time)."""
    from mlflow.entities import Param, RunTag

    params_left = [Param(k, v) for k, v in (params or {}).items()]
    tags_left = [RunTag(k, v) for k, v in (tags or {}).items()]
    metrics_left = list(metrics)
    while params_left or metrics_left or tags_left:
        some_params = params_left[:BATCH_PARAMS]
        some_metrics = metrics_left[: BATCH_ALL - len(some_params)]
        room = BATCH_ALL - len(some_params) - len(some_metrics)
        some_tags = tags_left[: min(BATCH_TAGS, room)]
        client.log_batch(
            run_id, metrics=some_metrics, params=some_params, tags=some_tags, synchronous=True
        )
        del params_left[: len(some_params)], metrics_left[: len(some_metrics)]
        del tags_left[: len(some_tags)]


def upload_files(client: Any, run_id: str, run_dir: Path) -> None:
    """The run's files (`ARTIFACTS`), its best checkpoint and, with bprop[onnx], its ONNX export."""
    import importlib.util

    layout = RunLayout(run_dir)
    for name in ARTIFACTS:
        if (layout / name).is_file():
            client.log_artifact(run_id, str(layout / name))
    if layout.best.is_file():
        client.log_artifact(run_id, str(layout.best), "checkpoints")
    if importlib.util.find_spec("onnx") is None or not layout.last.is_file():
        return
    from ..trained.export import export
    from ..trained.model import load_model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        export(load_model(run_dir), "onnx", path, exclusive=True)
        client.log_artifact(run_id, str(path))


def now() -> int:
    return int(time.time() * 1000)


class Mlflow(Sink):
    """The run's MLflow run, brought up to date at every flush of the run."""

    def __init__(
        self, run_dir: Path, uri: str | None, experiment: str | None, step_every: int
    ) -> None:
        self.run_dir, self.uri, self.experiment = run_dir, uri, experiment
        self.step_every = step_every
        self.client: Any = None
        self.run_id = ""
        self._pending: list[Any] = []
        self._steps_logged = 0  # how many of `record.steps.added` are queued
        self._held = {"epoch": 0, "step": 0}  # what the MLflow run already holds

    def start(self, record: Record) -> None:
        with failing_fast():
            uri, self.client = connect(self.uri)
            self.run_id, self._held, logged = open_run(
                self.client, uri, self.run_dir, self.experiment
            )
            plan = record.plan
            params = {k: v for k, v in params_of(record.resolved).items() if k not in logged}
            tags = run_tags(self.run_dir, plan.signature.digest, plan.training.kernels, "running")
            stamp = now()
            steps, rows = record.brought(self._held["epoch"], self._held["step"])
            self._pending += step_metrics(steps, stamp, self.step_every)
            for row in rows:
                self._pending += epoch_metrics(row, stamp)
            self._send(params, tags)

    def epoch(self, event: EpochEnded, record: Record) -> bool:
        self._queue_steps(record)
        if event.epoch > self._held["epoch"]:
            self._pending += epoch_metrics(event.row, now())
        return False

    def flush(self, record: Record) -> None:
        self._queue_steps(record)
        with failing_fast():
            self._send()

    def finish(self, record: Record, outcome: Outcome) -> None:
        self._queue_steps(record)
        with failing_fast():
            self._send(tags={"bprop.status": outcome.status.value})
            upload_files(self.client, self.run_id, self.run_dir)
            self.client.set_terminated(self.run_id, status=STATUS[outcome.status])

    def _queue_steps(self, record: Record) -> None:
        added = record.steps.added
        new = [r for r in added[self._steps_logged :] if r[0] > self._held["step"]]
        self._pending += step_metrics(new, now(), self.step_every)
        self._steps_logged = len(added)

    def _send(
        self, params: dict[str, str] | None = None, tags: dict[str, str] | None = None
    ) -> None:
        """The queued metrics, with ``params`` and ``tags``."""
        pending, self._pending = self._pending, []
        send(self.client, self.run_id, pending, params, tags)


def open_run(
    client: Any, uri: str, run_dir: Path, experiment: str | None
) -> tuple[str, dict[str, int], dict[str, str]]:
    """The MLflow run of ``run_dir``: the one its mlflow.json names, when it is on ``uri``,
    still there and logged from this directory (a copied run directory gets a run of its own;
    set running again), else a new one (a child of its campaign's parent run, when the folder
    above holds one), named in a new mlflow.json. Returns its id, the last epoch and update it
    holds metrics for, and the params it has."""
    link = Link.read(run_dir / MLFLOW_RUN)
    if link is not None and link.kind != CAMPAIGN and link.tracking_uri == uri:
        found = _active(client, link.run_id)
        logged_from = found.data.tags.get("bprop.run_dir") if found is not None else None
        if found is not None and logged_from in (None, str(run_dir.resolve())):
            client.update_run(link.run_id, status="RUNNING")
            held = {"epoch": _last_step(client, link.run_id, "train_loss"),
                    "step": _last_step(client, link.run_id, STEP_LOSS)}  # fmt: skip
            return link.run_id, held, dict(found.data.params)
    parent = Link.read(run_dir.parent / MLFLOW_RUN)
    if parent is not None and parent.kind == CAMPAIGN and parent.tracking_uri == uri:
        exp, family = parent.experiment_id, {"mlflow.parentRunId": parent.run_id}
    else:
        exp, family = experiment_id(client, experiment), {}
    run_id = client.create_run(exp, tags=family, run_name=run_dir.name).info.run_id
    try:
        Link(uri, exp, run_id).write(run_dir / MLFLOW_RUN)
    except OSError:
        client.delete_run(run_id)  # no run left RUNNING that nothing names
        raise
    return run_id, {"epoch": 0, "step": 0}, {}


def bprop_version() -> str:
    """bprop's version as installed (its distribution's metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bprop")
    except PackageNotFoundError:  # run from a source folder that was never installed
        return "unknown"


def run_tags(run_dir: Path, digest: str | None, kernels: str | None, status: str) -> dict[str, str]:
    """The run's tags; the data's digest and the kernels only where known (a sync of a run that
    has none leaves what the logger recorded)."""
    tags = {
        "bprop.version": bprop_version(),
        "bprop.status": status,
        "bprop.run_dir": str(run_dir.resolve()),
    }
    known = {"bprop.data_digest": digest, "bprop.kernels": kernels}
    return tags | {k: v for k, v in known.items() if v}


def digest_of(run_dir: Path) -> str | None:
    """The digest of the data a run trained on, as its last checkpoint records it."""
    from ..artifacts.checkpoints import Checkpoint

    try:
        return Checkpoint.read(RunLayout(run_dir).last).data.digest
    except BpropError:
        return None


def _active(client: Any, run_id: str) -> Any:
    """The run ``run_id``, None when the server has none (or only a deleted one)."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    return run if run.info.lifecycle_stage == "active" else None


def _last_step(client: Any, run_id: str, key: str) -> int:
    return max((m.step for m in client.get_metric_history(run_id, key)), default=0)


@contextlib.contextmanager
def parent_run(directory: Path, uri: str | None, experiment: str | None) -> Iterator[str | None]:
    """Within the block, the parent MLflow run of a campaign's runs (those in ``directory``),
    named in its mlflow.json (a resumed campaign keeps its parent); ended as finished after.
    Gives None, or why the server could not be reached (the runs then go without the logger:
    `bprop runs sync` uploads them later)."""
    link = None
    try:
        with failing_fast():
            uri, client = connect(uri)
            found = Link.read(directory / MLFLOW_RUN)
            if found is None or found.tracking_uri != uri or _active(client, found.run_id) is None:
                exp = experiment_id(client, experiment)
                tags = {"bprop.version": bprop_version(), "bprop.run_dir": str(directory.resolve())}
                run = client.create_run(exp, tags=tags, run_name=directory.name)
                found = Link(uri, exp, run.info.run_id, CAMPAIGN)
                found.write(directory / MLFLOW_RUN)
            else:
                client.update_run(found.run_id, status="RUNNING")
            link = found
    except Exception as exc:  # whatever the logger's library raises: a logger never costs a run
        yield (
            f"the mlflow logger could not reach the tracking server ({type(exc).__name__}: "
            f"{exc}); the runs go without it, and `bprop runs sync {directory} --to mlflow` "
            "uploads them later"
        )
        return
    try:
        yield None
    finally:
        with failing_fast(), contextlib.suppress(Exception):
            client_for(link.tracking_uri).set_terminated(link.run_id, status="FINISHED")


def sync_run(run_dir: Path, uri: str | None, experiment: str | None) -> str:
    """Upload a finished run directory to MLflow as the logger would have logged it (going on in
    the MLflow run its mlflow.json names, what that holds not logged twice). Returns the MLflow
    run's id. Raises DataError when the run's files cannot be read."""

    from ...config import read_yaml
    from ...errors import DataError
    from ..artifacts.rundirs import read_history
    from ..artifacts.step_log import read_steps

    layout = RunLayout(run_dir)
    if is_held(run_dir):
        raise DataError(f"{run_dir}: still training (a bprop holds it); sync it once it has ended")
    if not layout.metrics.is_file():
        raise DataError(f"{run_dir}: no metrics.json; sync uploads runs that have ended")
    for path in (layout.metrics, layout / HISTORY_JSON, layout / STEPS):
        with contextlib.suppress(FileNotFoundError):  # never a pipe, a device or too much
            problem = file_problem(path, LARGEST_FILE)
            if problem:
                raise DataError(f"{path}: {problem}")
    try:
        metrics = json.loads(layout.metrics.read_text(encoding="utf-8"))
        stop = StopReason(metrics["stop_reason"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{layout.metrics}: not the metrics bprop writes ({exc})") from None
    config = read_yaml(layout.config)
    if not isinstance(config, dict):
        raise DataError(f"{layout.config}: not a run's config")
    history, steps = read_history(run_dir), read_steps(run_dir)
    with failing_fast():
        uri, client = connect(uri)
        run_id, held, logged = open_run(client, uri, run_dir, experiment)
        stamp = now()
        rows = [
            (int(r["step"]), int(r["epoch"]), r["loss"], r["lr"], r["grad_norm"]) for r in steps
        ]
        pending = step_metrics([r for r in rows if r[0] > held["step"]], stamp, step_every(config))
        for row in history:
            if row["epoch"] > held["epoch"]:
                pending += epoch_metrics(row, stamp)
        params = {k: v for k, v in params_of(config).items() if k not in logged}
        kernels = metrics.get("kernels")
        kernels = kernels if isinstance(kernels, str) else None
        tags = run_tags(run_dir, digest_of(run_dir), kernels, stop.value)
        send(client, run_id, pending, params, tags)
        upload_files(client, run_id, run_dir)
        client.set_terminated(run_id, status=STATUS[stop])
    return run_id


def step_every(config: dict[str, Any]) -> int:
    """output.mlflow.step_every of a run's config (the default where it holds none)."""
    from ...config.models import MlflowConfig

    output = config.get("output")
    section = output.get("mlflow") if isinstance(output, dict) else None
    found = section.get("step_every") if isinstance(section, dict) else None
    if isinstance(found, int) and not isinstance(found, bool) and found >= 0:
        return found
    return int(MlflowConfig.model_fields["step_every"].default)


def configured(run_dir: Path) -> tuple[str | None, str | None]:
    """The tracking URI and experiment a run's config.yaml names under output.mlflow (None
    where it names none)."""
    from ...config import read_yaml

    try:
        config = read_yaml(RunLayout(run_dir).config)
        section = config["output"]["mlflow"]
        return section.get("uri"), section.get("experiment")
    except (BpropError, KeyError, TypeError, AttributeError):
        return None, None
