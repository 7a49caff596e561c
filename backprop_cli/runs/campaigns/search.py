"""A guided sweep: its trials go through an Optuna study kept in the sweep directory, asked one
at a time as workers come free (a model-based sampler picks each from the results so far; a grid
or random search hands the study its own points), each trial's metric reported every epoch so
that the study's pruner may stop it.

`GuidedSearch` is the campaign's `JobFeed`. The study's trials carry bprop's names for them
(user attributes: the name, the place in the search, the config values), so a search killed at
any point resumes from its journal alone: finished trials are kept, a trial that was running is
marked failed and asked again, with the same values, in the same place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...config import ExperimentConfig
from ...errors import BpropError, ConfigError, argument
from ..artifacts.layout import STUDY_JOURNAL
from ..artifacts.outcomes import FINISHED, RunStatus, RunSummary
from ..artifacts.rundirs import is_finished
from .campaign import Campaign, RunJob
from .pruning import TrialJudge
from .study import (
    ELAPSED_ATTR,
    NAME_ATTR,
    StudySpec,
    as_labels,
    quiet_optuna,
    repair,
    suggest,
)
from .sweep import Space, Trial, make_trial


class StudyError(BpropError):
    """A guided sweep's study cannot be written: the search stops (exit code 2)."""


PLACE_ATTR, PARAMS_ATTR, PROBLEM_ATTR, DETAIL_ATTR = (
    "bprop.place", "bprop.params", "bprop.problem", "bprop.detail"
)  # fmt: skip
#: The study's user attribute naming the search it holds (the base config and the space).
SEARCH_ATTR = "bprop.search"


class GuidedSearch:
    """The trials of ``space`` over the config ``cfg`` (read from ``source``), scored by the
    history column ``metric`` (best by ``mode``), as the `campaign`'s runs."""

    def __init__(
        self,
        cfg: ExperimentConfig,
        space: Space,
        source: str,
        metric: str,
        mode: str,
        campaign: Campaign,
    ) -> None:
        self.cfg, self.space, self.source, self.metric = cfg, space, source, metric
        self.campaign = campaign
        seed = cfg.seed if space.seed is None else space.seed
        parallel = campaign.dask is not None or campaign.n_jobs > 1
        self.spec = StudySpec(
            campaign.directory / STUDY_JOURNAL, "minimize" if mode == "min" else "maximize",
            space.sampler, seed, space.pruner, cfg.training.epochs, parallel,
        )  # fmt: skip
        self.points = None if space.model_based else space.trials(cfg.seed)
        self.total = space.planned
        self.varied = tuple(space.keys)
        self.trials: dict[str, Trial] = {}  # by name, in the order of their places
        self.summaries: dict[str, RunSummary] = {}  # of the trials that ran, by name
        self.placed = 0  # the last place asked for
        self.out_of_time = False  # the time budget kept a trial from starting
        self._live: dict[str, Any] = {}  # the study trial of each running trial, by name
        self.again: list[
            tuple[str, int, dict[str, Any]]
        ] = []  # trials to ask again (name, place, values)
        self._started = time.monotonic()
        self._spent_before = 0.0
        self.study: Any = None

    # ------------------------------------------------------------------ the study
    def open(self, resume: bool) -> None:
        """Create the study, or with ``resume`` take up the one the directory holds: the trials
        that ended are kept, those that were running (or about to) are asked again."""

        repair(self.spec.path)
        held_runs = resume and self._holds_trial_folders()
        held_study = self.spec.path.is_file() and self.spec.path.stat().st_size > 0
        try:  # a journal that holds something is read, never written, until Optuna reads it
            self.study = self.spec.load() if held_study else self.spec.create()
        except (ValueError, KeyError, AssertionError, TypeError) as exc:  # lines Optuna can't read
            raise ConfigError(
                f"{self.spec.path}: not a study journal Optuna can read ({type(exc).__name__}: "
                f"{exc}); bprop leaves it alone: move it away to start the search afresh"
            ) from None
        described = self._description()
        held = self.study.user_attrs.get(SEARCH_ATTR)
        if held is None:
            if held_runs:  # trials ran here, but their study is gone: nothing to continue
                raise ConfigError(
                    f"{argument('resume')}: {self.spec.path} holds no study of the trials in "
                    f"{self.campaign.directory} (it is missing or empty, or they ran without "
                    f"one); start a new guided sweep with another {argument('out')}"
                )
            self.study.set_user_attr(SEARCH_ATTR, described)
        elif held != described:
            raise ConfigError(
                f"{argument('resume')}: the config or the search space changed since this guided "
                "sweep began; it continues only the same search (start a new one with another "
                f"{argument('out')})"
            )
        if resume:
            self._take_up()

    def _holds_trial_folders(self) -> bool:
        return any(p.is_dir() for p in self.campaign.directory.glob("t[0-9][0-9][0-9]*"))

    def _take_up(self) -> None:
        """Resume: keep the trials that ended; ask again those that were running, or about to
        be, or whose asking again a kill interrupted (failed in the study with neither a run
        that ended nor a reason of their own)."""
        from optuna.trial import TrialState

        waiting = (TrialState.RUNNING, TrialState.WAITING)
        fail = TrialState.FAIL
        self._spent_before = float(self.study.user_attrs.get(ELAPSED_ATTR, 0.0))
        latest: dict[str, Any] = {}  # the last study trial of each name
        for trial in self.study.get_trials(deepcopy=False):
            if NAME_ATTR in trial.user_attrs:
                earlier = latest.get(trial.user_attrs[NAME_ATTR])
                if earlier is not None and earlier.state in waiting:
                    self.study._storage.set_trial_state_values(earlier._trial_id, fail)
                latest[trial.user_attrs[NAME_ATTR]] = trial
            elif trial.state in waiting:  # asked, not yet named
                self.study._storage.set_trial_state_values(trial._trial_id, fail)
        for name, trial in sorted(latest.items(), key=lambda kv: kv[1].user_attrs[PLACE_ATTR]):
            attrs = trial.user_attrs
            place, params = attrs[PLACE_ATTR], attrs[PARAMS_ATTR]
            self.placed = max(self.placed, place)
            ran = self._finished_on_disk(name)  # ended by itself: not interrupted
            if trial.state is TrialState.RUNNING and ran:
                self._record(place, params)
                self.summaries[name] = self.campaign.summary_of(name)
                self._tell(trial.number, self.summaries[name])
                continue
            killed = (
                trial.state is fail and not ran and not {PROBLEM_ATTR, DETAIL_ATTR} & set(attrs)
            )
            if trial.state in waiting or killed:
                if trial.state in waiting:
                    self.study._storage.set_trial_state_values(trial._trial_id, fail)
                self.again.append((name, place, params))
                continue
            self._record(place, params, attrs.get(PROBLEM_ATTR))
            if PROBLEM_ATTR in attrs:
                continue
            if ran:
                self.summaries[name] = self.campaign.summary_of(name)
            else:
                detail = attrs.get(DETAIL_ATTR, "failed")
                self.summaries[name] = RunSummary(name, RunStatus.ERROR, detail=detail)

    def _description(self) -> str:
        """The digest of what makes this search the same search: the base config and space."""
        space = self.space
        described = {
            "config": self.cfg.resolved(), "grid": space.grid, "random": space.random,
            "space": {k: repr(d) for k, d in space.space.items()}, "sampler": space.sampler,
            "seed": self.spec.seed, "pruner": space.pruner,  # not the draws: they may grow
        }  # fmt: skip
        text = json.dumps(described, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _finished_on_disk(self, name: str) -> bool:
        return is_finished(self.campaign.directory / name)

    def _record(self, place: int, params: dict[str, Any], problem: str | None = None) -> Trial:
        trial = make_trial(self.cfg, place, params, self.source)
        if problem is not None:
            trial.config, trial.problem = None, problem
        self.trials[trial.name] = trial
        return trial

    # ------------------------------------------------------------------ the feed
    def next(self) -> RunJob | None:
        """The next trial to run (None: the search has asked for all it plans, or its time is
        up); a combination the config refuses is recorded as invalid and the next one asked."""
        with self._writing():
            return self._next()

    def _next(self) -> RunJob | None:
        while True:
            if not self.again and self.placed >= self.total:
                return None
            budget = self.space.time_budget
            if budget is not None and self.elapsed() >= budget:
                self.out_of_time = True
                return None
            job = self._ask()
            if job is not None:
                return job

    def _ask(self) -> RunJob | None:
        from optuna.trial import TrialState

        study, space = self.study, self.space
        fixed: tuple[str, int, dict[str, Any]] | None = None
        if self.again:
            fixed = self.again.pop(0)
        elif self.points is not None:
            place = self.placed + 1
            params = self.points[place - 1]
            fixed = (make_trial(self.cfg, place, params, self.source).name, place, params)
        if fixed is not None:
            study.enqueue_trial(
                as_labels(fixed[2], space.space, space.grid),
                user_attrs={NAME_ATTR: fixed[0], PLACE_ATTR: fixed[1], PARAMS_ATTR: fixed[2]},
                skip_if_exists=False,
            )
        place = fixed[1] if fixed is not None else self.placed + 1
        study.sampler = self.spec.sampler(place)
        asked = study.ask()
        drawn = suggest(asked, space.space, space.grid)  # a fixed trial: its own values
        params = drawn if fixed is None else fixed[2]
        self.placed = max(self.placed, place)
        trial = self._record(place, params)
        if fixed is None:
            for key, value in ((PLACE_ATTR, place), (PARAMS_ATTR, params),
                               (NAME_ATTR, trial.name)):  # fmt: skip
                asked.set_user_attr(key, value)  # the name last: a trial named is whole
        if trial.config is None:
            asked.set_user_attr(PROBLEM_ATTR, trial.problem)
            study.tell(asked, state=TrialState.FAIL)
            return None
        self._live[trial.name] = asked
        judge = None
        if space.pruner is not None:
            judge = TrialJudge(self.spec, asked._trial_id, self.metric)
        return RunJob(trial.name, trial.config, judge)

    def ended(self, job: RunJob, summary: RunSummary) -> None:
        """Tell the study how the trial ``job`` ended (a trial stopped on request stays running
        in the study: a resumed search asks it again)."""
        with self._writing():
            self._ended(job, summary)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The study's journal read or written: an OS error (a full disk, a file made
        read-only) stops the search with one message; what ended is in the journal already."""
        try:
            yield
        except OSError as exc:
            raise StudyError(
                f"{self.spec.path}: the study could not be written ({type(exc).__name__}: "
                f"{exc}); the trials that ended are kept: continue with {argument('resume')} "
                "once it can be"
            ) from None

    def _ended(self, job: RunJob, summary: RunSummary) -> None:
        self.summaries[job.name] = summary
        asked = self._live.pop(job.name)
        if summary.status in (RunStatus.INTERRUPTED, RunStatus.CANCELLED):
            return
        if summary.status not in FINISHED and summary.status is not RunStatus.PRUNED:
            asked.set_user_attr(DETAIL_ATTR, summary.detail)
        self._tell(asked.number, summary)
        self.study.set_user_attr(ELAPSED_ATTR, self.elapsed())

    def _tell(self, number: int, summary: RunSummary) -> None:
        from optuna.trial import TrialState

        if summary.status is RunStatus.PRUNED:
            self.study.tell(number, state=TrialState.PRUNED)
        elif summary.status in FINISHED and summary.score is not None:
            self.study.tell(number, summary.score)
        else:  # diverged, failed, or no score to learn from
            self.study.tell(number, state=TrialState.FAIL)

    def elapsed(self) -> float:
        """Seconds this search has run, over every command that ran it."""
        return self._spent_before + time.monotonic() - self._started

    def importances(self) -> dict[str, float] | None:
        """Each swept key's importance for the score (Optuna's fANOVA over the finished trials,
        seeded), or None where it cannot say (fewer than two finished trials, one key)."""
        from optuna.importance import FanovaImportanceEvaluator, get_param_importances
        from optuna.trial import TrialState

        finished = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(finished) < 2 or len(self.space.keys) < 2:
            return None
        evaluator = FanovaImportanceEvaluator(seed=self.spec.seed)
        try:
            with quiet_optuna():
                found = get_param_importances(self.study, evaluator=evaluator)
        except (ValueError, RuntimeError, ImportError):
            return None
        return {key: float(value) for key, value in found.items()}

    # ------------------------------------------------------------------ the results
    def results(self) -> list[RunSummary]:
        """A row per trial, in the order of their places: its run's summary, or invalid."""
        rows = []
        for name, trial in self.trials.items():
            if trial.config is None:
                rows.append(RunSummary(name, RunStatus.INVALID, detail=trial.problem))
            elif name in self.summaries:
                rows.append(self.summaries[name])
        return rows

    @property
    def folder(self) -> Path:
        return self.campaign.directory
