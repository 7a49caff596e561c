"""Running a sweep: its trials (or each trial's folds) are the runs of a `campaign`, each an
ordinary training run in its own directory, here, in local processes or on a Dask cluster;
stopped together on request; resumed where they stopped.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...config import ExperimentConfig, load_config, read_yaml
from ...errors import BpropError, ConfigError, argument
from ...system.locking import check_free
from ..artifacts.layout import CONFIG, SWEEP_FILES, SWEEP_JSON, SWEEP_MARKER, fold_name
from ..artifacts.outcomes import RunStatus, RunSummary
from ..artifacts.rundirs import (
    holds_only_run_files,
    is_empty,
    is_finished,
    is_sweep_dir,
    mark_sweep,
)
from ..train.plan import prepare
from ..train.resumption import differences
from .campaign import Campaign, open_campaign
from .cv import check_folds, cross_validated, fold_config, folds_of_trials
from .sweep import Space, Trial, make_trials
from .sweep_results import SweepSummary, sweep_metric, sweep_mode, write_sweep

if TYPE_CHECKING:
    from .search import GuidedSearch


@dataclass
class Sweep:
    """A sweep ready to run in its campaign: the config, the space, the ranking rule (``metric``,
    best by ``mode``), the trials (invalid ones too) and the runs: each valid trial, or with
    ``folds`` each of its folds (``<trial>/fold-k``)."""

    cfg: ExperimentConfig
    search: Space
    metric: str
    mode: str
    trials: list[Trial]
    runs: list[Trial]
    folds: int | None
    campaign: Campaign
    guided: GuidedSearch | None = None  # trials asked one at a time of an Optuna study

    def plan(self, resume: bool) -> ResumePlan:
        """What the sweep runs: every run, or when it ``resume``s those `plan_resume` leaves to
        do."""
        if resume:
            return plan_resume(self.runs, self.campaign.directory)
        return ResumePlan(todo=list(self.runs))

    def kept(self, plan: ResumePlan) -> list[RunSummary]:
        """The summaries of the runs that ``plan`` keeps as they are, from their files."""
        return [self.campaign.summary_of(t.name) for t in plan.finished]

    def results(self, summaries: list[RunSummary]) -> list[RunSummary]:
        """A row per trial: its run's summary (with folds, the trial's from its folds'), then
        the invalid trials'."""
        folds = self.folds
        if folds is not None:
            by_name = {r.name: r for r in summaries}
            summaries = [
                cross_validated(t, [by_name[f"{t.name}/{fold_name(k + 1)}"] for k in range(folds)])
                for t in self.trials
                if t.config is not None
            ]
        invalid = [RunSummary(t.name, RunStatus.INVALID, detail=t.problem) for t in self.trials
                   if t.config is None]  # fmt: skip
        return summaries + invalid

    def write(self, results: list[RunSummary]) -> SweepSummary:
        """sweep.csv, sweep.json, best.yaml and sweep.png of the trials' ``results``."""
        importances = None
        if self.guided is not None:
            self.trials = list(self.guided.trials.values())
            importances = self.guided.importances()
        return write_sweep(results, self.trials, self.search, self.metric, self.mode,
                           self.campaign.directory, self.cfg.name, importances)  # fmt: skip


@contextlib.contextmanager
def open_sweep(
    config: Path,
    overrides: Sequence[str],
    grid: Sequence[str] = (),
    space: Sequence[str] = (),
    random: int | None = None,
    metric: str | None = None,
    mode: str | None = None,
    folds: int | None = None,
    out: Path | None = None,
    resume: bool = False,
    n_jobs: int = 1,
    dask: str | None = None,
) -> Iterator[Sweep]:
    """The sweep of the config file ``config`` with ``overrides`` over the space of its sweep:
    section and ``grid``, ``space`` and ``random`` (`Space.build`), ranked by ``metric`` and
    ``mode``, each trial cross-validated over ``folds`` when given; in ``out`` (with
    ``resume``, the sweep it holds) or a new ``{output.dir}/{name}-sweep``, held and marked as a
    sweep for the block. Everything is checked before a file is written: the directory, the
    config, the space, that a trial is valid, the data and network of the first, the metric."""
    if out is not None:
        check_free(out)  # before the data is loaded
    cfg = load_config(config, list(overrides))
    search = Space.build(cfg, grid, space, random)
    mode = sweep_mode(cfg, mode)
    if search.guided:
        with open_guided(cfg, search, config, mode, metric, folds, out, resume, n_jobs,
                         dask) as run:  # fmt: skip
            yield run
        return
    trials = make_trials(cfg, search, str(config))
    valid = [t for t in trials if t.config is not None]
    if not valid or valid[0].config is None:
        raise ConfigError("no valid trial:\n" + "\n".join(t.problem for t in trials))
    first = valid[0].config
    if folds is not None:
        check_folds(folds, len(valid))
        first = fold_config(first, folds, folds - 1, str(config))  # a row for every fold
    metric = sweep_metric(cfg, metric, prepare(first).history_columns)
    runs = valid if folds is None else folds_of_trials(valid, folds, str(config))
    with open_campaign(
        cfg, "sweep", out, SWEEP_FILES, accept_sweep if resume else None, n_jobs=n_jobs,
        dask=dask, plot=False, metric=metric, mode=mode, resumable=True,
    ) as campaign:  # fmt: skip
        mark_sweep(campaign.directory)  # before any trial: only a folder marked so is resumed
        yield Sweep(cfg, search, metric, mode, trials, runs, folds, campaign)


@contextlib.contextmanager
def open_guided(
    cfg: ExperimentConfig,
    search: Space,
    config: Path,
    mode: str,
    metric: str | None,
    folds: int | None,
    out: Path | None,
    resume: bool,
    n_jobs: int,
    dask: str | None,
) -> Iterator[Sweep]:
    """`open_sweep` of a search whose trials go through an Optuna study (`search.GuidedSearch`):
    bprop[tune] checked, then as any sweep; its study opened (or, with ``resume``, taken up)."""
    from .search import GuidedSearch
    from .study import optuna_module

    optuna_module()
    if search.sampler == "gp" and importlib.util.find_spec("torch") is None:
        raise ConfigError(
            "sweep.search.type gp: Optuna's Gaussian-process sampler needs PyTorch, which is not "
            "installed: pip install torch (for the CPU build alone, see pytorch.org's install "
            "page), or choose tpe or cmaes"
        )
    if folds is not None:
        raise ConfigError(
            f"{argument('folds')}: a sweep with a pruner or a {search.sampler} search runs "
            f"each trial once; cross-validate its best.yaml with bprop cv"
        )
    pruner = search.pruner or {}
    if pruner.get("min_epochs", 0) >= cfg.training.epochs:
        raise ConfigError(
            f"sweep.pruner.min_epochs: {pruner['min_epochs']} is not below training.epochs "
            f"({cfg.training.epochs}): the {pruner['type']} pruner would never stop a trial"
        )
    metric = sweep_metric(cfg, metric, prepare(cfg).history_columns)
    with open_campaign(
        cfg, "sweep", out, SWEEP_FILES, accept_sweep if resume else None, n_jobs=n_jobs,
        dask=dask, plot=False, metric=metric, mode=mode, resumable=True,
    ) as campaign:  # fmt: skip
        mark_sweep(campaign.directory)
        guided = GuidedSearch(cfg, search, str(config), metric, mode, campaign)
        guided.open(resume)
        yield Sweep(cfg, search, metric, mode, [], [], None, campaign, guided)


def accept_sweep(directory: Path) -> None:
    """Resume only a sweep bprop wrote (raises `ConfigError` otherwise)."""
    if not is_sweep_dir(directory):
        raise ConfigError(
            f"{argument('resume')}: {directory} holds no sweep bprop wrote (no {SWEEP_MARKER} or "
            f"{SWEEP_JSON}); give the {argument('out')} of the sweep to continue"
        )


@dataclass
class ResumePlan:
    """What `sweep --resume` does with each trial."""

    finished: list[Trial] = field(default_factory=list)  # kept as they are
    todo: list[Trial] = field(default_factory=list)  # new, unfinished or changed: run
    changed: dict[str, list[str]] = field(default_factory=dict)  # trial name → keys that differ
    moved: dict[str, Path] = field(default_factory=dict)  # trial name → where its old run went
    dropped: list[str] = field(default_factory=list)  # earlier trials not in the space any more


def plan_resume(trials: list[Trial], out_dir: Path) -> ResumePlan:
    """Compare the trials with the runs ``out_dir`` holds. A trial whose run has the same config
    and ended is kept; one whose config changed (the base config or the space) is rerun, its old
    run moved to ``superseded/`` so the two never mix; the rest run, in their folder when it holds
    nothing or a bprop run (its config.yaml) with nothing but a run's files, else after that
    folder is moved to ``superseded/`` too (nothing of anyone's is written over). A folder
    another process holds (a `bprop train --resume` there) raises `DirectoryInUseError`."""
    plan = ResumePlan()
    names = {t.name.split("/")[0] for t in trials}  # a cross-validated trial's folds: TRIAL/fold-k
    for trial in trials:
        assert trial.config is not None
        run_dir = out_dir / trial.name
        saved = _saved_config(run_dir)
        if saved is None:  # no run of bprop's: anything there is moved aside, never written over
            if run_dir.exists() and not is_empty(run_dir):
                plan.moved[trial.name] = _supersede(run_dir, out_dir)
            plan.todo.append(trial)
            continue
        changed = differences(saved, trial.config.resolved())
        if changed:
            plan.changed[trial.name] = changed
            plan.moved[trial.name] = _supersede(run_dir, out_dir)
            plan.todo.append(trial)
        elif is_finished(run_dir):
            plan.finished.append(trial)
        else:  # rerun in its folder, unless other files lie among the run's
            if not holds_only_run_files(run_dir):
                plan.moved[trial.name] = _supersede(run_dir, out_dir)
            plan.todo.append(trial)
    plan.dropped = sorted(
        p.name for p in out_dir.glob("t[0-9][0-9][0-9]*") if p.is_dir() and p.name not in names
    )
    return plan


def _saved_config(run_dir: Path) -> dict[str, object] | None:
    path = run_dir / CONFIG
    if not path.is_file():
        return None
    try:
        saved = read_yaml(path)
    except BpropError:
        return None
    return saved if isinstance(saved, dict) else None


def _supersede(run_dir: Path, out_dir: Path) -> Path:
    """Move a trial's old run to ``out_dir/superseded/`` under the same relative path (a
    cross-validated trial's fold keeps its trial folder), with a new name where that is taken."""
    check_free(run_dir)
    base = out_dir / "superseded" / run_dir.relative_to(out_dir)
    base.parent.mkdir(parents=True, exist_ok=True)
    target, k = base, 1
    while target.exists():
        k += 1
        target = base.with_name(f"{base.name}-{k}")
    run_dir.rename(target)
    return target
