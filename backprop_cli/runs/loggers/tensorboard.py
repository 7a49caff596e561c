"""The `tensorboard` logger: a run's record as TensorBoard event files in ``RUN/tensorboard/``,
written with tensorboardX (neither torch nor TensorFlow needed).

What it writes (tag, and the step it is logged at):

- ``step/loss``, ``step/lr``, ``step/grad_norm``: the rows of steps.csv, at the update count;
- ``epoch/<column>``: every column of the history (the diagnostics' too), at the epoch;
- ``weights/<tensor>``, ``gradients/<tensor>``: histograms of each parameter tensor and of its
  gradient (the epoch's last step's) every ``output.tensorboard.every`` epochs;
- ``config``: the resolved config, as text;
- ``pictures/<name>``: the run's pictures (loss.png, boundary.png or fit.png) as it ends;
- the HParams summary: the flattened config against the final figures ``hparams/<figure>``
  (the best monitored value, the last epoch's losses and accuracies, the test figures), so the
  runs of a sweep or a cross-validation line up in TensorBoard's HParams tab; the keys that
  differ among a campaign's runs are marked so, and TensorBoard shows them first.

Each scalar is written twice, in the same event. Under its tag as a 32-bit float tensor, the one
form that TensorBoard's default (fast, Rust) loader charts (it shows nothing of 64-bit ones):
the number rounded to float32. And under ``float64/<tag>`` as a 64-bit tensor of bprop's own
plugin, which TensorBoard's charts leave out and its reader (``EventAccumulator``) reads back
exactly as history.json, steps.csv and metrics.json hold it. A resumed run first cuts its event
files back to the epoch it resumes from, then continues: no step appears twice.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Collection, Sequence, Set
from pathlib import Path
from typing import Any

import numpy as np

from ...config import to_yaml
from ...config.flat import flatten
from ...core.training import EpochEnded, StopReason
from ...system.atomic import remove_stale_temporaries
from ..artifacts.layout import RunLayout
from ..artifacts.step_log import COLUMNS as STEP_COLUMNS
from ..artifacts.step_log import Row
from ..train.sinks import Outcome, Record, Sink
from .event_files import EventWriter, is_own_or_cut, own_files, trim

#: Tags on the update axis; every other scalar and histogram is on the epoch axis.
STEP_TAGS = tuple(f"step/{c}" for c in STEP_COLUMNS[2:])
EPOCH_PREFIXES = ("epoch/", "weights/", "gradients/")
#: The prefix of each scalar's exact (64-bit) copy, and the plugin it is written under: one that
#: TensorBoard's dashboards do not know, so that they chart the 32-bit value alone.
EXACT, EXACT_PLUGIN = "float64/", "bprop_float64"
HISTOGRAM_BINS = 30
#: ``HParamInfo.differs = true``, encoded: TensorBoard lists the hyperparameters so marked
#: first (the rest by name) and shows the first few; tensorboardX's copy of the message lacks
#: the field (number 7, a bool), which TensorBoard's reader finds among the unknown fields kept.
DIFFERS = b"\x38\x01"
#: How the HParams tab sees the way a run ended.
_SESSION_STATUS = {
    StopReason.COMPLETED: "STATUS_SUCCESS",
    StopReason.EARLY_STOPPING: "STATUS_SUCCESS",
    StopReason.DIVERGED: "STATUS_FAILURE",
    StopReason.INTERRUPTED: "STATUS_UNKNOWN",  # resumable: not ended, not running
    StopReason.PRUNED: "STATUS_SUCCESS",  # ended as the search meant it to
}


class TensorBoard(Sink):
    """Event files in ``RUN/tensorboard/``, brought up to date at every flush of the run."""

    def __init__(self, run_dir: Path, every: int, varied: Collection[str] = ()) -> None:
        self.folder = RunLayout(run_dir).tensorboard
        self.every, self.varied = every, frozenset(varied)
        self._writer: Any = None
        self._described: set[str] = set()  # tags whose metadata this writer has written
        self._steps_logged = 0  # how many of `record.steps.added` are written
        self._events: dict[tuple[str, ...], tuple[Any, list[Any]]] = {}  # `_refill`

    # ------------------------------------------------------------------ the sink
    def start(self, record: Record) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder, is_own_or_cut)
        training = record.plan.training
        held = self._cut_back(training.epoch, training.step)
        self._writer = EventWriter(self.folder)
        text = f"```yaml\n{to_yaml(record.resolved)}```"
        self._write(training.epoch, _text("config", text))
        # what a run resumed from another directory's checkpoint brings with it
        steps, rows = record.brought(held["epoch"], held["step"])
        self._steps(steps)
        for row in rows:
            self._epoch_row(row)
        self._writer.flush()

    def epoch(self, event: EpochEnded, record: Record) -> bool:
        self._new_steps(record)
        self._epoch_row(event.row)
        if self.every and event.epoch % self.every == 0:
            self._histograms(record, event.epoch)
        return False

    def flush(self, record: Record) -> None:
        self._new_steps(record)
        self._writer.flush()

    def finish(self, record: Record, outcome: Outcome) -> None:
        self._new_steps(record)
        epoch = record.plan.training.epoch
        for path in record.pictures:
            self._write(epoch, _image(f"pictures/{path.stem}", path.read_bytes()))
        figures = final_figures(outcome.metrics)
        self._scalars(epoch, {f"hparams/{k}": v for k, v in figures.items()})
        for summary in _hparams(record.resolved, figures, outcome.status, self.varied):
            self._write(epoch, summary)
        self._writer.close()

    # ------------------------------------------------------------------ writing
    def _cut_back(self, epoch: int, update: int) -> dict[str, int]:
        """Cut this folder's event files back to the end of ``epoch`` (update ``update``): what
        a resumed run will log again goes. Returns the last epoch and update they still hold."""
        held = {"epoch": 0, "step": 0}

        def keep(tag: str, step: int) -> bool:
            tag = tag.removeprefix(EXACT)
            axis, last = ("step", update) if tag in STEP_TAGS else ("epoch", epoch)
            kept = step <= last and (axis == "step" or tag.startswith(EPOCH_PREFIXES))
            if kept and tag in (STEP_TAGS[0], "epoch/train_loss"):
                held[axis] = max(held[axis], step)
            return kept

        for path in own_files(self.folder):
            trim(path, keep)
        return held

    def _write(self, step: int, summary: Any) -> None:
        from tensorboardX.proto.event_pb2 import Event

        self._writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        """``values`` in one event, each as a 32-bit scalar and its exact copy (None: left
        out)."""
        from tensorboardX.proto.summary_pb2 import SummaryMetadata

        given = {tag: value for tag, value in values.items() if value is not None}
        if not given:
            return
        tags = tuple(given)
        fresh = not set(tags) <= self._described
        event, cells = self._refill(tags)
        for i, value in enumerate(given.values()):
            cells[2 * i][0] = cells[2 * i + 1][0] = value
        event.wall_time, event.step = time.time(), step
        if not fresh:
            self._writer.write_event(event)
            return
        summary = type(event.summary)()
        summary.CopyFrom(event.summary)
        for entry in summary.value:  # TensorBoard reads a tag's kind from its first value
            if entry.tag.removeprefix(EXACT) not in self._described:
                plugin = "scalars" if entry.tensor.float_val else EXACT_PLUGIN
                data = SummaryMetadata.PluginData(plugin_name=plugin)
                entry.metadata.CopyFrom(SummaryMetadata(plugin_data=data))
        self._described.update(tags)
        self._write(step, summary)

    def _refill(self, tags: tuple[str, ...]) -> tuple[Any, list[Any]]:
        """The event of each tag's two scalars (32-bit, then its exact copy) that is refilled
        in place for every write of these tags (building an event anew costs more than the
        training step it logs), and its value cells, in that order."""
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.proto.tensor_pb2 import TensorProto
        from tensorboardX.proto.types_pb2 import DT_DOUBLE, DT_FLOAT

        if tags not in self._events:
            values = []
            for tag in tags:
                rounded = TensorProto(dtype=DT_FLOAT, float_val=[0.0])
                exact = TensorProto(dtype=DT_DOUBLE, double_val=[0.0])
                values += [Summary.Value(tag=tag, tensor=rounded),
                           Summary.Value(tag=EXACT + tag, tensor=exact)]  # fmt: skip
            event = Event(summary=Summary(value=values))
            cells = [v.tensor.float_val or v.tensor.double_val for v in event.summary.value]
            self._events[tags] = event, cells
        return self._events[tags]

    def _steps(self, rows: Sequence[Row]) -> None:
        """Each row's loss, lr and gradient norm in one event. The first row goes the general
        way (its tags' metadata with it); the rest refill one event in place, the cost of
        logging every update kept to a few microseconds."""
        if rows and not set(STEP_TAGS) <= self._described:
            step, _, *first = rows[0]
            self._scalars(step, dict(zip(STEP_TAGS, first, strict=True)))
            rows = rows[1:]
        if not rows:
            return
        event, cells = self._refill(STEP_TAGS)
        loss32, loss64, lr32, lr64, norm32, norm64 = cells
        write = self._writer.write_event
        for step, _, loss, lr, norm in rows:
            event.wall_time, event.step = time.time(), step
            loss32[0] = loss64[0] = loss
            lr32[0] = lr64[0] = lr
            norm32[0] = norm64[0] = norm
            write(event)

    def _new_steps(self, record: Record) -> None:
        added = record.steps.added
        self._steps(added[self._steps_logged :])
        self._steps_logged = len(added)

    def _epoch_row(self, row: dict[str, Any]) -> None:
        values = {f"epoch/{k}": v for k, v in row.items() if k != "epoch"}
        self._scalars(int(row["epoch"]), values)

    def _histograms(self, record: Record, epoch: int) -> None:
        from tensorboardX.summary import histogram

        net = record.plan.net
        for name in net.slots:
            for kind, values in (("weights", net.param(name)), ("gradients", net.grad(name))):
                finite = values[np.isfinite(values)]  # a histogram has no bin for NaN or ±∞
                if finite.size:
                    self._write(epoch, histogram(f"{kind}/{name}", finite, HISTOGRAM_BINS))


def final_figures(metrics: dict[str, Any]) -> dict[str, float]:
    """The figures a run is judged by, from its metrics.json: the best monitored value, the last
    epoch's losses and accuracies, the test figures (those it has)."""
    figures: dict[str, float] = {}
    best = metrics.get("best")
    if best is not None:
        figures[f"best_{best['monitor']}"] = best[best["monitor"]]
    final = metrics.get("final") or {}
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        if final.get(name) is not None:
            figures[f"final_{name}"] = final[name]
    for name, value in (metrics.get("test") or {}).items():
        if isinstance(value, int | float):  # not the confusion matrix
            figures[f"test_{name}"] = value
    figures["epochs_run"] = metrics["epochs_run"]
    return {k: float(v) for k, v in figures.items() if v is not None}


def _hparams(
    resolved: dict[str, Any], figures: dict[str, float], status: StopReason, varied: Set[str]
) -> list[Any]:
    """The HParams plugin's experiment (the keys in ``varied`` marked as differing among the
    runs), session start and session end summaries."""
    from tensorboardX.proto.api_pb2 import Status
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.summary import hparams

    values = {k: _hparam_value(v) for k, v in flatten(resolved).items()}
    experiment, start, _ = hparams(values, {f"hparams/{k}": 0 for k in figures})
    plugin = experiment.value[0].metadata.plugin_data
    described = HParamsPluginData.FromString(plugin.content)
    for info in described.experiment.hparam_infos:
        if info.name in varied:
            info.MergeFromString(DIFFERS)
    plugin.content = described.SerializeToString()
    end = SessionEndInfo(status=Status.Value(_SESSION_STATUS[status]))
    content = HParamsPluginData(session_end_info=end, version=0).SerializeToString()
    plugin = SummaryMetadata.PluginData(plugin_name="hparams", content=content)
    value = Summary.Value(
        tag="_hparams_/session_end_info", metadata=SummaryMetadata(plugin_data=plugin)
    )
    return [experiment, start, Summary(value=[value])]


def _hparam_value(value: Any) -> Any:
    """A config value as the HParams summary holds it: a number as a number where a float
    holds it exactly, else as text (an integer past 2**53)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


def _text(tag: str, text: str) -> Any:
    from tensorboardX.summary import text as text_summary

    return text_summary(tag, text)


def _image(tag: str, png: bytes) -> Any:
    """A PNG file's bytes as an image summary (its size read from the PNG header)."""
    from tensorboardX.proto.summary_pb2 import Summary

    width, height = struct.unpack(">II", png[16:24])
    image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
    return Summary(value=[Summary.Value(tag=tag, image=image)])
