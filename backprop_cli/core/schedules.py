"""Learning-rate schedules: pure closed-form functions of the 0-based epoch e.

Each schedule maps e to the learning rate used for every step of epoch e; lr₀ is the optimizer's
``lr``. Nothing here is recursive, so any epoch's rate can be computed directly (a resumed run needs
no replay).

An optional linear warmup of W epochs scales the first epochs:
    lr(e) = f(e) · (e + 1) / (W + 1)   for e < W,   lr(e) = f(e) otherwise
so the first epoch already trains (at f(0)/(W + 1)) and the ramp reaches f(e) at e = W.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ConfigError
from .hyper import Hyper, check_all

BaseSchedule = Callable[[int], float]


def constant(lr0: float, epochs: int) -> BaseSchedule:
    """Math: lr(e) = lr₀"""
    return lambda e: lr0


def step_decay(lr0: float, epochs: int, decay_rate: float, step_size: int) -> BaseSchedule:
    """Math: lr(e) = lr₀ · decay_rate ^ ⌊e / step_size⌋"""
    return lambda e: lr0 * decay_rate ** (e // step_size)


def exponential_decay(lr0: float, epochs: int, decay_rate: float) -> BaseSchedule:
    """Math: lr(e) = lr₀ · exp(−decay_rate · e)"""
    return lambda e: lr0 * math.exp(-decay_rate * e)


def cosine(lr0: float, epochs: int, min_lr: float, total_epochs: int | None) -> BaseSchedule:
    """Math (T = total_epochs, by default the run's epochs):
    lr(e) = min_lr + ½(lr₀ − min_lr)(1 + cos(π·e / T))   for e < T
    lr(e) = min_lr                                       for e ≥ T
    The one rule across sections: min_lr ≤ lr₀ (the optimizer's lr).
    """
    total = epochs if total_epochs is None else total_epochs
    if min_lr > lr0:
        raise ConfigError(
            f"cosine min_lr must lie in [0, lr]. Received: min_lr={min_lr} with lr={lr0}"
        )

    def schedule(e: int) -> float:
        if e >= total:
            return min_lr
        return min_lr + 0.5 * (lr0 - min_lr) * (1 + math.cos(math.pi * e / total))

    return schedule


@dataclass(frozen=True)
class ScheduleKind:
    """A schedule's closed form ``make(lr0, epochs, **hyperparameters)`` and its
    hyperparameters."""

    make: Callable[..., BaseSchedule]
    hyper: dict[str, Hyper] = field(default_factory=dict)


#: Every schedule's hyperparameters also include this one.
WARMUP = Hyper(0, "Linear warm-up: lr·(e + 1)/(W + 1) for e < W.", 0, integer=True)

#: The schedules by config ``type``: the config models, the schema and the reference derive
#: from these declarations.
SCHEDULE_KINDS: dict[str, ScheduleKind] = {
    "constant": ScheduleKind(constant),
    "step": ScheduleKind(
        step_decay,
        {
            "decay_rate": Hyper(0.5, "lr₀·decay_rate^⌊e/step_size⌋.", 0, 1, low_open=True),
            "step_size": Hyper(10, "Epochs between decays.", 1, integer=True),
        },
    ),
    "exponential": ScheduleKind(
        exponential_decay, {"decay_rate": Hyper(0.05, "k in lr₀·e^(−k·e).", 0)}
    ),
    "cosine": ScheduleKind(
        cosine,
        {
            "min_lr": Hyper(0.0, "The lr at the end of the cosine.", 0),
            "total_epochs": Hyper(None, "Default: training.epochs.", 1, integer=True),
        },
    ),
}
SCHEDULES = tuple(SCHEDULE_KINDS)


@dataclass(frozen=True)
class Schedule:
    """A named schedule with optional warmup: ``schedule(e)`` is the learning rate of epoch e."""

    name: str
    base: BaseSchedule = field(repr=False)
    warmup_epochs: int = 0

    def __call__(self, epoch: int) -> float:
        if epoch < 0:
            raise ValueError(f"epochs count from 0. Received: epoch={epoch}")
        lr = self.base(epoch)
        if epoch < self.warmup_epochs:
            lr *= (epoch + 1) / (self.warmup_epochs + 1)
        return float(lr)


def build_schedule(
    name: str,
    lr0: float,
    epochs: int,
    warmup_epochs: int = 0,
    **params: float,
) -> Schedule:
    """The schedule ``name`` for a run of ``epochs`` epochs starting from ``lr0``, its
    hyperparameters ``params`` checked against their declarations in `SCHEDULE_KINDS`."""
    warmup = WARMUP.check("warmup_epochs", warmup_epochs)
    try:
        kind = SCHEDULE_KINDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}"
        ) from None
    base = kind.make(lr0, epochs, **check_all(f"schedule {name}", kind.hyper, params))
    return Schedule(name, base, warmup)
