"""A campaign: independent training runs, each in its own directory inside the campaign's (an
optimizer race, a sweep's trials, a cross-validation's folds), run here one after another, in
local worker processes or on a Dask cluster (`execution`), and stopped together on request.

`Campaign.events` yields what happens as it happens: the campaign's own warnings first, then
`JobStarted`, then `JobEnded` with the run's `RunSummary` (`outcomes`, which holds the run's
warnings), and for a run here every other training event in between. `Campaign.run`
drives them for a command, handing each to the command's display, and returns the summaries. A
run's failure is its summary's status and detail: the others go on. Where a run goes never
changes what it computes (each is seeded by its own config).
"""

from __future__ import annotations

import contextlib
import json
import traceback
from collections.abc import Callable, Container, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...config import ExperimentConfig
from ...config.flat import flatten
from ...core.training import EpochEnded, Event, Warned
from ...errors import BpropError, ConfigError, argument
from ...system.atomic import remove_stale_temporaries
from ...system.locking import hold
from ..artifacts.layout import METRICS
from ..artifacts.outcomes import RunStatus, RunSummary, summarize
from ..artifacts.rundirs import claim, claim_new_dir, read_history
from ..train.plan import prepare, warm_data_cache
from ..train.run import RunFinished, RunStarted
from ..training import train_into
from .execution import StopRequest, check_dask, run_all, worker_pool


@dataclass(frozen=True)
class RunJob:
    """One run of a campaign: its name (its directory inside the campaign's) and its config;
    ``judge``, shown each epoch's end, may prune it (a guided search's trial)."""

    name: str
    config: ExperimentConfig
    judge: Callable[[EpochEnded], str | None] | None = None


class JobFeed(Protocol):
    """Where a campaign's runs come from one at a time (a guided search): `next` is asked for a
    run whenever a worker is free (None: no more to start), `ended` is told how each ended."""

    total: int  # how many runs it plans, for the progress shown
    varied: tuple[str, ...]  # the config keys whose values differ among its runs

    def next(self) -> RunJob | None: ...

    def ended(self, job: RunJob, summary: RunSummary) -> None: ...


@dataclass
class JobStarted:
    """A run started here, or was handed to the worker processes or the Dask cluster."""

    index: int  # from 1, in the order of the jobs
    total: int
    job: RunJob


@dataclass
class JobEnded:
    index: int
    total: int
    summary: RunSummary


CampaignEvent = JobStarted | JobEnded | RunStarted | RunFinished | Event
TrainingEvents = Generator[Event | RunStarted | RunFinished, None, RunSummary]


@dataclass
class Campaign:
    """Where and how a campaign's runs go: in ``directory/<name>``, here or in ``n_jobs`` local
    processes or on the Dask scheduler at ``dask``; drawing their pictures (``plot``); scored by
    the history column ``metric``, best by ``mode`` (a sweep's), when given. ``stop`` reaches
    every run wherever it runs. The details say why runs did not end by themselves."""

    directory: Path
    n_jobs: int = 1
    dask: str | None = None
    plot: bool = True
    metric: str | None = None
    mode: str = "min"
    not_started: str = "not started"  # the detail of a run that a stop request kept from starting
    stopped_at_once: str = "stopped at once"  # ... of the runs a second Ctrl-C stopped at once
    resumable: bool = False  # runs lost with a worker are continued by resuming the campaign
    warnings: list[str] = field(default_factory=list)  # the campaign's own, shown first
    offline: tuple[str, ...] = ()  # loggers whose server did not answer: the runs go without
    varied: tuple[str, ...] = ()  # the config keys whose values differ among the runs
    stop: StopRequest = field(init=False)

    def __post_init__(self) -> None:
        self.stop = StopRequest(self.directory)

    def request_stop(self) -> None:
        """Stop every run after its current step, wherever it runs, and start no other."""
        self.stop.request()

    @property
    def stopped(self) -> bool:
        """Whether a stop was requested."""
        return self.stop()

    def events(self, jobs: Sequence[RunJob]) -> Generator[CampaignEvent, None, None]:
        """Run ``jobs``. Here (one process, or one job) they run one after another, every
        training event passed on, and a job the stop request finds waiting ends "cancelled"
        without a directory; in worker processes or on Dask, every job is announced at once and
        each `JobEnded` comes as its run ends."""
        total = len(jobs)
        self.varied = varied_keys([job.config for job in jobs])
        for message in self.warnings:
            yield Warned(0, message)
        if self.dask is None and (self.n_jobs <= 1 or total <= 1):
            for index, job in enumerate(jobs, start=1):
                if self.stop():
                    yield JobEnded(index, total, self.cancelled(job))
                    continue
                yield JobStarted(index, total, job)
                summary = yield from self.train(job)
                yield JobEnded(index, total, summary)
                yield from self._give_up_on_a_failed_server(summary)
            return
        warm_data_cache(job.config for job in jobs)  # the workers share one parse of a table
        for index, job in enumerate(jobs, start=1):
            yield JobStarted(index, total, job)
        tasks = [(self, job) for job in jobs]
        for index, summary in run_all(run_job, tasks, n_jobs=self.n_jobs, dask=self.dask):
            yield JobEnded(index + 1, total, summary)

    def events_from(self, feed: JobFeed) -> Generator[CampaignEvent, None, None]:
        """Run the jobs of ``feed`` as `events` runs a list, a job asked for whenever a worker
        is free: here one after another, or side by side in worker processes or on Dask, a new
        one started as soon as one ends (none once a stop is requested)."""
        self.varied = feed.varied
        for message in self.warnings:
            yield Warned(0, message)
        index = 0
        if self.dask is None and self.n_jobs <= 1:
            while not self.stop() and (job := feed.next()) is not None:
                index += 1
                yield JobStarted(index, feed.total, job)
                summary = yield from self.train(job)
                feed.ended(job, summary)
                yield JobEnded(index, feed.total, summary)
                yield from self._give_up_on_a_failed_server(summary)
            return
        running: dict[int, RunJob] = {}
        with worker_pool(self.n_jobs, self.dask) as pool:
            while True:
                while len(pool) < pool.capacity and not self.stop():
                    job = feed.next()
                    if job is None:
                        break
                    index += 1
                    running[index] = job
                    yield JobStarted(index, feed.total, job)
                    pool.submit(index, run_job, self, job)
                if not len(pool):
                    return
                ended, summary = pool.next_done()
                feed.ended(running.pop(ended), summary)
                yield JobEnded(ended, feed.total, summary)

    def _give_up_on_a_failed_server(self, summary: RunSummary) -> Iterator[Warned]:
        """After a run whose mlflow logger failed (its server down or not answering), the runs
        still to start here go without it, rather than each wait on the server in turn."""
        from ..loggers.guarded import failed_logger

        failed = {failed_logger(message) for message in summary.warnings}
        if "mlflow" in failed and "mlflow" not in self.offline:
            self.offline += ("mlflow",)
            yield Warned(
                0,
                f"the mlflow logger failed in {summary.name}: the runs still to start go without "
                f"it, and `bprop runs sync {self.directory} --to mlflow` uploads them later",
            )

    def run(
        self,
        jobs: Sequence[RunJob] | JobFeed,
        show: Callable[[CampaignEvent], object] | None = None,
    ) -> list[RunSummary]:
        """Every job's summary (of a list, or of a feed: `events_from`), in the order the runs
        ended, each event handed to ``show`` first.

        A second Ctrl-C (KeyboardInterrupt) stops every run at once: those that had not ended
        are "cancelled". When the runner itself fails (a worker process lost), those that had
        not ended are "error". The stop request's file is removed at the end.
        """
        summaries: list[RunSummary] = []
        listed = isinstance(jobs, Sequence)
        known = [job.name for job in jobs] if isinstance(jobs, Sequence) else []

        def not_ended(status: RunStatus, detail: str) -> list[RunSummary]:
            ended = {s.name for s in summaries}
            return [RunSummary(name, status, detail=detail) for name in known
                    if name not in ended]  # fmt: skip

        events = self.events(jobs) if isinstance(jobs, Sequence) else self.events_from(jobs)
        try:
            while True:
                try:
                    event = next(events)
                except StopIteration:
                    break
                except Exception as exc:  # the runner's failure, not one run's
                    if isinstance(exc, BpropError) and not listed:
                        raise  # a feed's own (a search's study): the user's to see
                    hint = f"; rerun with {argument('resume')}" if self.resumable else ""
                    lost = f"worker lost ({type(exc).__name__}: {exc}){hint}"
                    summaries += not_ended(RunStatus.ERROR, lost)
                    break
                if isinstance(event, JobEnded):
                    summaries.append(event.summary)
                elif isinstance(event, JobStarted) and not listed:
                    known.append(event.job.name)
                if show is not None:
                    show(event)
        except KeyboardInterrupt:
            self.request_stop()
            summaries += not_ended(RunStatus.CANCELLED, self.stopped_at_once)
        finally:
            events.close()  # local workers end with it
            self.stop.clear()
        return summaries

    def train(self, job: RunJob) -> TrainingEvents:
        """Train ``job`` into its directory, passing its events on (its warnings kept for its
        summary, wherever it runs), and return its summary; a failure is the summary's (status
        error, the message as its detail, the history so far)."""
        run_dir = self.directory / job.name
        history: list[dict[str, float]] = []
        warnings: list[str] = []
        finished: RunFinished | None = None
        plot, stop, offline, varied = self.plot, self.stop, self.offline, self.varied
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            with hold(run_dir):  # a run directory like any other: one writer at a time
                events = train_into(
                    prepare(job.config), run_dir, plot, stop, offline, varied, job.judge
                )
                for event in events:
                    if isinstance(event, Warned):
                        warnings.append(event.message)
                        continue
                    if isinstance(event, EpochEnded):
                        history.append(event.row)
                    elif isinstance(event, RunFinished):
                        finished = event
                    yield event
        except Exception as exc:  # this run's failure; the others go on
            detail = (
                str(exc)
                if isinstance(exc, BpropError)
                else traceback.format_exception_only(exc)[-1].strip()
            )
            failed = RunSummary(job.name, RunStatus.ERROR, detail=detail, history=history)
            failed.warnings = warnings
            return failed
        assert finished is not None
        summary = summarize(job.name, finished.metrics, history, self.metric, self.mode)
        summary.warnings = warnings
        return summary

    def cancelled(self, job: RunJob) -> RunSummary:
        return RunSummary(job.name, RunStatus.CANCELLED, detail=self.not_started)

    def summary_of(self, name: str) -> RunSummary:
        """The summary of the run ``name`` that the directory holds, ended (from its files)."""
        run_dir = self.directory / name
        metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
        return summarize(name, metrics, read_history(run_dir), self.metric, self.mode)


def varied_keys(configs: Sequence[ExperimentConfig]) -> tuple[str, ...]:
    """The flattened config keys whose values differ among ``configs`` (a key some lack too)."""
    flat = [flatten(cfg.resolved()) for cfg in configs]
    keys = sorted({k for f in flat for k in f})
    return tuple(k for k in keys if len({repr(f.get(k, _ABSENT)) for f in flat}) > 1)


_ABSENT = object()


def run_job(campaign: Campaign, job: RunJob) -> RunSummary:
    """A worker's whole job: `Campaign.train` of ``job``, or "cancelled" once a stop is
    requested before it starts."""
    if campaign.stop():
        return campaign.cancelled(job)
    events = campaign.train(job)
    while True:
        try:
            next(events)
        except StopIteration as end:
            summary: RunSummary = end.value
            return summary


@contextlib.contextmanager
def open_campaign(
    cfg: ExperimentConfig,
    kind: str,
    out: Path | None,
    files: Container[str] = (),
    accept: Callable[[Path], None] | None = None,
    **settings: Any,
) -> Iterator[Campaign]:
    """The `Campaign` (of ``settings``) of runs of ``cfg``, its directory held for the block:
    ``out`` when it is new or empty, else a new ``{output.dir}/{name}-{kind}[-k]``; with
    ``accept``, the existing ``out`` once ``accept`` approves what it holds (a campaign to
    resume). A Dask scheduler is checked first; the stop requests and half-written ``files`` of
    commands killed there before are removed. With the mlflow logger, the runs are children of
    one parent MLflow run of the campaign."""
    if settings.get("dask") is not None:
        check_dask(settings["dask"])
    if accept is not None:
        if out is None or not out.is_dir():
            raise ConfigError(
                f"{argument('resume')}: give {argument('out')}, the directory of the {kind} to "
                "continue"
            )
        claimed = claim(out, accept)
    else:
        base, resumable = Path(cfg.output.dir), settings.get("resumable", False)
        claimed = claim_new_dir(out, base, f"{cfg.name}-{kind}", resumable=resumable)
    with claimed as directory, contextlib.ExitStack() as stack:
        StopRequest.remove_stale(directory)
        remove_stale_temporaries(directory, files)
        if "mlflow" in cfg.output.loggers:  # the runs' parent run
            from ..loggers.tracking import parent_run

            section = cfg.output.mlflow
            failure = stack.enter_context(parent_run(directory, section.uri, section.experiment))
            if failure is not None:  # one warning, and no run waits on the server in turn
                settings |= {"warnings": [failure], "offline": ("mlflow",)}
        yield Campaign(directory, **settings)
