"""runs/campaign: the one runner of compare-optimizers, sweep and cv. Its events, its summaries,
and what it says of the runs that did not end by themselves (a second Ctrl-C, a lost worker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backprop_cli.config import load_config
from backprop_cli.core.training import EpochEnded
from backprop_cli.runs.artifacts.outcomes import RunStatus, RunSummary, summarize
from backprop_cli.runs.campaigns import campaign as campaign_module
from backprop_cli.runs.campaigns.campaign import Campaign, JobEnded, JobStarted, RunJob

from helpers import CONFIG_DIR, history_of

TINY = ["training.epochs=2", "data.options.n_samples=60"]


def jobs(*names: str) -> list[RunJob]:
    config = load_config(CONFIG_DIR / "moons.yaml", TINY)
    return [RunJob(name, config) for name in names]


def test_runs_here_pass_every_training_event_on_and_end_in_a_summary(tmp_path: Path) -> None:
    campaign = Campaign(tmp_path, metric="val_loss")
    events = list(campaign.events(jobs("a", "b")))
    kinds = [type(e).__name__ for e in events if isinstance(e, JobStarted | JobEnded)]
    assert kinds == ["JobStarted", "JobEnded", "JobStarted", "JobEnded"]
    assert sum(isinstance(e, EpochEnded) for e in events) == 4
    ended = [e.summary for e in events if isinstance(e, JobEnded)]
    assert [(s.name, s.status, s.epochs) for s in ended] == [("a", "ok", 2), ("b", "ok", 2)]
    # The summary is the run's files' figures: a resumed sweep reads the same one back.
    history = history_of(tmp_path / "a")
    assert ended[0].history == history
    assert ended[0].score == min(r["val_loss"] for r in history)
    assert campaign.summary_of("a") == ended[0]


def test_a_second_ctrl_c_cancels_every_run_that_had_not_ended(tmp_path: Path) -> None:
    campaign = Campaign(tmp_path, stopped_at_once="stopped now")

    def show(event: Any) -> None:
        if isinstance(event, JobEnded):
            raise KeyboardInterrupt  # as the second Ctrl-C does, while the first run is shown

    summaries = campaign.run(jobs("a", "b", "c"), show)
    assert [(s.name, s.status, s.detail) for s in summaries] == [
        ("a", "ok", ""), ("b", "cancelled", "stopped now"), ("c", "cancelled", "stopped now")
    ]  # fmt: skip
    assert campaign.stopped and not campaign.stop.path.exists()
    assert not (tmp_path / "b").exists()


def test_a_lost_worker_leaves_the_runs_that_had_not_ended_as_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost_after_one(fn: Any, tasks: Any, **where: Any) -> Iterator[tuple[int, RunSummary]]:
        yield 1, RunSummary("b", RunStatus.OK)
        raise RuntimeError("worker died")

    monkeypatch.setattr(campaign_module, "run_all", lost_after_one)
    campaign = Campaign(tmp_path, n_jobs=2, resumable=True)
    shown: list[Any] = []
    summaries = campaign.run(jobs("a", "b", "c"), shown.append)
    assert [type(e).__name__ for e in shown] == ["JobStarted"] * 3 + ["JobEnded"]
    assert [(s.name, s.status) for s in summaries] == [("b", "ok"), ("a", "error"), ("c", "error")]
    assert summaries[1].detail == "worker lost (RuntimeError: worker died); rerun with resume"


def test_one_status_in_the_files_words() -> None:
    """The run's stop reasons (metrics.json) map to the one status the campaign files write."""
    metrics = {"stop_reason": "early_stopping", "stop_epoch": 4, "epochs_run": 4,
               "total_seconds": 1.0}  # fmt: skip
    summary = summarize("r", metrics, [{"epoch": 1, "train_loss": float("nan")}])
    assert summary.status is RunStatus.EARLY_STOPPED and summary.stop_epoch == 4
    assert summary.best_train_loss is None  # the best of the finite values: none
    assert json.dumps([summary.status]) == '["early-stopped"]' and f"{summary.status}" == (
        "early-stopped"
    )
    assert [RunStatus.of_stop(r) for r in ("completed", "diverged", "interrupted", "pruned")] == [
        "ok", "diverged", "interrupted", "pruned"
    ]  # fmt: skip
    assert [s for s in RunStatus if s.finished] == ["ok", "early-stopped"]
    assert [s for s in RunStatus if s.trained] == [
        "ok", "early-stopped", "diverged", "interrupted", "pruned"
    ]  # fmt: skip
