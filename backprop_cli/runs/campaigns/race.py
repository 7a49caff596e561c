"""Optimizer races: the same experiment trained once per optimizer, a `campaign` whose runs
`comparison` ranks.

Fairness comes from construction: every contestant is the base config with only its optimizer
replaced, so the data split, the initial weights and the shuffling all come from the same seed.
Contestants run one after another in this process, in local processes or on a Dask cluster (the
results are identical either way).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...config import ExperimentConfig, load_config, with_optimizer
from ...core.optim import DEFAULT_RACE, OPTIMIZERS
from ...errors import ConfigError, argument
from ...system.locking import check_free
from ..train.plan import prepare
from .campaign import Campaign, RunJob, open_campaign


@dataclass(frozen=True)
class Contestant(RunJob):
    """One optimizer in the race: its run name and the base config with that optimizer."""

    @property
    def type(self) -> str:
        return self.config.optimizer.type

    @property
    def hyperparameters(self) -> dict[str, float]:
        return {k: v for k, v in self.config.optimizer.model_dump().items() if k != "type"}

    @property
    def label(self) -> str:
        """The name and every resolved hyperparameter, for legends and tables."""
        hp = ", ".join(f"{k}={v:g}" for k, v in self.hyperparameters.items())
        return f"{self.name} ({hp})"


def contestants(
    cfg: ExperimentConfig, names: Sequence[str] | None, source: str
) -> list[Contestant]:
    """The contestants: ``names`` (each with its defaults and the base config's lr), else the
    config's ``compare.optimizers``, else `DEFAULT_RACE` at the base lr."""
    if names:
        for name in names:
            if name not in OPTIMIZERS:
                close = difflib.get_close_matches(name, list(OPTIMIZERS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{argument('optimizers')}: unknown optimizer {name!r}{hint} "
                    f"(choose from: {', '.join(OPTIMIZERS)})"
                )
        specs = [{"type": name, "lr": cfg.optimizer.lr} for name in names]
    elif cfg.compare is not None and cfg.compare.optimizers:
        specs = [opt.model_dump() for opt in cfg.compare.optimizers]
    else:
        specs = [{"type": name, "lr": cfg.optimizer.lr} for name in DEFAULT_RACE]
    out: list[Contestant] = []
    for spec in specs:
        config = with_optimizer(cfg, spec, source)
        kind = config.optimizer.type
        count = sum(c.type == kind for c in out)
        out.append(Contestant(kind if count == 0 else f"{kind}-{count + 1}", config))
    return out


#: What comparison.json says of an optimizer that a stop kept from training.
NOT_STARTED = "not started: the comparison was stopped"


@dataclass
class Race:
    """A comparison ready to run in its campaign: the config, the contestants and the train
    loss each is timed to."""

    cfg: ExperimentConfig
    lineup: list[Contestant]
    target_loss: float | None
    campaign: Campaign


@contextlib.contextmanager
def open_race(
    config: Path,
    overrides: Sequence[str],
    names: Sequence[str] | None,
    target_loss: float | None,
    out: Path | None,
    n_jobs: int = 1,
    dask: str | None = None,
) -> Iterator[Race]:
    """The race of ``names`` (`contestants`) on the config file ``config`` with ``overrides``,
    in ``out`` or a new ``{output.dir}/{name}-compare``, held for the block. Everything is
    checked before a file is written: the directory, the config, the contestants, the data and
    network of the first. ``target_loss`` defaults to the config's ``compare.target_loss``."""
    if out is not None:
        check_free(out)  # before the data is loaded
    cfg = load_config(config, list(overrides))
    lineup = contestants(cfg, names, str(config))
    prepare(lineup[0].config)  # data, network and labels checked before any file is written
    if target_loss is None and cfg.compare is not None:
        target_loss = cfg.compare.target_loss
    with open_campaign(
        cfg, "compare", out, n_jobs=n_jobs, dask=dask,
        not_started=NOT_STARTED, stopped_at_once=NOT_STARTED,
    ) as campaign:  # fmt: skip
        yield Race(cfg, lineup, target_loss, campaign)
