"""Hyperparameter sweeps: trials from a grid and random draws, each an ordinary training run.

A trial is the base config with some ``key.path`` values replaced. Trials are drawn from the
config's seed, validated before anything runs, and run independently (here, in local processes or
on a Dask cluster through `execution`), so their results never depend on where they ran.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...config import (
    ExperimentConfig,
    apply_overrides,
    flow_yaml,
    parse_value,
    validate,
)
from ...errors import ConfigError, argument
from ...system.resources import check_count
from .campaign import RunJob

KINDS = ("uniform", "loguniform", "int", "choice")
#: int:a:b bounds stay below this (int64 draws).
INT_BOUND = 2.0**62
#: The files a sweep writes in its directory (beside a run directory per trial).
#: The most trials a sweep may have (each one is a training run).
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class Distribution:
    """How one key is drawn: uniform:a:b, loguniform:a:b, int:a:b (inclusive) or choice:v,..."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    @property
    def logarithmic(self) -> bool:
        return self.kind == "loguniform"

    def draw(self, rng: np.random.Generator) -> Any:
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.kind == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return self.choices[int(rng.integers(len(self.choices)))]


def _values(text: str) -> list[Any]:
    """Comma-separated values read as a YAML flow list, so that {mappings, with: commas} and
    [lists] stay whole."""
    values = parse_value(f"[{text}]")
    if not isinstance(values, list):  # not YAML as a whole: each value on its own
        return [parse_value(v) for v in text.split(",")]
    return values


def parse_distribution(key: str, spec: str, where: str | None = None) -> Distribution:
    """The distribution ``spec`` of ``key``; errors name ``where`` (default: the ``space``
    argument)."""
    where = where or argument("space")
    kind, _, rest = spec.partition(":")
    if kind not in KINDS or not rest:
        raise ConfigError(
            f"{where} {key}: {spec!r} is not a distribution; use uniform:a:b, loguniform:a:b, "
            "int:a:b or choice:v1,v2,..."
        )
    if kind == "choice":
        return Distribution(kind, choices=tuple(_values(rest)))
    parts = rest.split(":")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{where} {key}: {spec!r} needs two numbers, {kind}:low:high") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{where} {key}: {spec!r} needs finite bounds")
    if not low < high or (kind == "loguniform" and low <= 0):
        raise ConfigError(
            f"{where} {key}: {spec!r} needs low < high"
            + (" and low > 0" if kind == "loguniform" else "")
        )
    whole = low.is_integer() and high.is_integer() and -INT_BOUND <= low < high < INT_BOUND
    if kind == "int" and not whole:
        raise ConfigError(
            f"{where} {key}: {spec!r} needs whole-number bounds within ±{INT_BOUND:.2e}"
        )
    return Distribution(kind, low, high)


def parse_assignment(item: str, name: str) -> tuple[str, str]:
    """``key.path=value`` of the argument ``name``, split."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ConfigError(f"{argument(name)} {item!r}: expected key.path=...")
    return key.strip(), value.strip()


_NONE = object()
#: The searches that choose each trial from the results so far (Optuna's samplers).
MODEL_BASED = ("tpe", "cmaes", "gp")


@dataclass
class Space:
    """The search space: grid values per key and distributions for ``random`` draws; or, for a
    model-based ``sampler``, the ``draws`` it makes from both (grid keys as choices). A
    ``pruner`` (its config as a dict) stops poor trials; ``seed`` (None: the config's) seeds the
    draws; after ``time_budget`` seconds no trial starts."""

    grid: dict[str, list[Any]] = field(default_factory=dict)
    space: dict[str, Distribution] = field(default_factory=dict)
    random: int | None = None
    sampler: str = "grid"
    draws: int | None = None
    seed: int | None = None
    time_budget: float | None = None
    pruner: dict[str, Any] | None = None

    @property
    def model_based(self) -> bool:
        return self.sampler in MODEL_BASED

    @property
    def guided(self) -> bool:
        """Whether the trials go through an Optuna study: a model-based sampler, or a pruner."""
        return self.model_based or self.pruner is not None

    @property
    def planned(self) -> int:
        """How many trials the search runs (at most, with a time budget)."""
        if self.model_based:
            assert self.draws is not None
            return self.draws
        return math.prod(len(values) for values in self.grid.values()) * (self.random or 1)

    @classmethod
    def build(
        cls,
        cfg: ExperimentConfig,
        grid: Sequence[str] = (),
        space: Sequence[str] = (),
        random: int | None = None,
    ) -> Space:
        """The config's ``sweep:`` section, extended (and overridden key by key) by
        ``grid`` (key=v1,v2), ``space`` (key=kind:...) and ``random`` (N draws)."""
        section = cfg.sweep
        out = cls(
            dict(section.grid) if section else {},
            {
                k: parse_distribution(k, v, "sweep.space")
                for k, v in (section.space if section else {}).items()
            },
            section.random if section else None,
        )
        for item in grid:
            key, values = parse_assignment(item, "grid")
            out.grid[key] = _values(values)
        for item in space:
            key, spec = parse_assignment(item, "space")
            out.space[key] = parse_distribution(key, spec)
        search = section.search if section else None
        if search is not None:
            out.seed, out.time_budget = search.seed, search.time_budget
            out.sampler = search.type
            if search.type == "random":
                out.random = search.trials
            elif search.type in MODEL_BASED:
                out.draws = search.trials
        if section is not None and section.pruner is not None and section.pruner.type != "none":
            out.pruner = section.pruner.model_dump()
        if random is not None:
            if out.model_based:
                raise ConfigError(
                    f"{argument('random')}: this sweep's search is {out.sampler} "
                    f"(sweep.search.type); set its draws with sweep.search.trials"
                )
            out.random = random
        if out.random is not None:
            out.sampler = "random"
        grid_, space_, random_ = argument("grid"), argument("space"), argument("random")
        if out.guided:
            out._check_distinct()
        if out.model_based:
            return out._checked_draws()
        if out.sampler == "grid" and search is not None and out.space:
            raise ConfigError(
                "sweep.space: a grid search runs the combinations of sweep.grid alone; draw "
                "from the space with search type random, tpe, cmaes or gp"
            )
        if out.space and out.random is None:
            raise ConfigError(f"{space_}: distributions are sampled by {random_} N trials; add it")
        if out.random is not None and not out.space:
            raise ConfigError(f"{random_}: give the distributions to draw from with {space_}")
        if not out.grid and not out.space:
            raise ConfigError(
                f"nothing to sweep: give {grid_} key=v1,v2 or {random_} N with {space_}, or a "
                "sweep: section in the config"
            )
        count = math.prod(len(values) for values in out.grid.values()) * (out.random or 1)
        sizes = " × ".join(
            [f"{len(v)} ({k})" for k, v in out.grid.items()]
            + ([f"{out.random} random draws"] if out.random else [])
        )
        option = (
            f"{grid_}/{random_}" if out.grid and out.random else (grid_ if out.grid else random_)
        )
        check_count(option, count, MAX_TRIALS, f"{sizes} make {count:,} trials", "a sweep runs")
        if count == 0:
            raise ConfigError(f"{grid_}: a key with no values makes no trial")
        return out

    def _check_distinct(self) -> None:
        """A study holds each choice by its value: two values that compare equal (1, 1.0 and
        true among them) would be one choice, the other never tried."""
        lists = [(f"{argument('grid')} {k}", v) for k, v in self.grid.items()]
        lists += [(f"{argument('space')} {k}", list(d.choices)) for k, d in self.space.items()
                  if d.kind == "choice"]  # fmt: skip
        for where, values in lists:
            for i, value in enumerate(values):
                twin = next((v for v in values[:i] if v == value), _NONE)
                if twin is not _NONE:
                    raise ConfigError(
                        f"{where}: {twin!r} and {value!r} are the same choice to the study; "
                        "list each value once"
                    )

    def _checked_draws(self) -> Space:
        """A model-based search: something to draw, and a number of draws bprop allows."""
        if not self.grid and not self.space:
            raise ConfigError(
                f"sweep.space: a {self.sampler} search draws from the distributions of "
                "sweep.space (and the values of sweep.grid); give at least one"
            )
        if any(not values for values in self.grid.values()):
            raise ConfigError(f"{argument('grid')}: a key with no values makes no trial")
        assert self.draws is not None
        check_count("sweep.search.trials", self.draws, MAX_TRIALS,
                    f"{self.draws:,} trials", "a sweep runs")  # fmt: skip
        return self

    @property
    def keys(self) -> list[str]:
        return [*self.grid, *[k for k in self.space if k not in self.grid]]

    def trials(self, seed: int) -> list[dict[str, Any]]:
        """Every grid combination with each random draw (drawn from ``seed``), in order."""
        points = [
            dict(zip(self.grid, values, strict=True))
            for values in itertools.product(*self.grid.values())
        ]
        if not self.random:
            return points
        seed = seed if self.seed is None else self.seed
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EE9]))
        draws = [{k: d.draw(rng) for k, d in self.space.items()} for _ in range(self.random)]
        return [point | draw for point in points for draw in draws]


@dataclass
class Trial:
    """One configuration of the sweep: its id, name (its run directory) and parameters."""

    id: int
    name: str
    params: dict[str, Any]
    config: ExperimentConfig | None  # None when the combination is invalid
    problem: str = ""

    @property
    def job(self) -> RunJob:
        """The (valid) trial as a run of a campaign."""
        assert self.config is not None
        return RunJob(self.name, self.config)


def _slug(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{key.split('.')[-1]}={text}")
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", "_".join(parts))[:120]


def make_trial(cfg: ExperimentConfig, k: int, params: dict[str, Any], source: str) -> Trial:
    """The ``k``-th trial (from 1): ``cfg`` with ``params``, validated; an invalid combination
    keeps its problem instead of a config."""
    raw = cfg.model_dump(mode="json") | {"sweep": None}
    name = trial_name(k, params)
    try:
        overrides = [f"{key}={flow_yaml(value)}" for key, value in params.items()]
        apply_overrides(raw, overrides, source)
        return Trial(k, name, params, validate(raw, f"{source} (trial {k})"))
    except ConfigError as exc:
        return Trial(k, name, params, None, str(exc))


def trial_name(k: int, params: dict[str, Any]) -> str:
    """The name (run directory) of the ``k``-th trial, with ``params``."""
    return f"t{k:03d}_{_slug(params)}"


def make_trials(cfg: ExperimentConfig, space: Space, source: str) -> list[Trial]:
    """Validated trials; an invalid combination keeps its problem instead of a config."""
    return [
        make_trial(cfg, k, params, source)
        for k, params in enumerate(space.trials(cfg.seed), start=1)
    ]
