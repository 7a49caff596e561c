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

from .errors import ConfigError

BaseSchedule = Callable[[int], float]


def constant(lr0: float) -> BaseSchedule:
    """Math: lr(e) = lr₀"""
    return lambda e: lr0


def step_decay(lr0: float, decay_rate: float = 0.5, step_size: int = 10) -> BaseSchedule:
    """Math: lr(e) = lr₀ · decay_rate ^ ⌊e / step_size⌋"""
    if not 0 < decay_rate <= 1:
        raise ConfigError(f"step decay_rate must lie in (0, 1]. Received: decay_rate={decay_rate}")
    if step_size < 1:
        raise ConfigError(f"step step_size must be ≥ 1. Received: step_size={step_size}")
    return lambda e: lr0 * decay_rate ** (e // step_size)


def exponential_decay(lr0: float, decay_rate: float = 0.05) -> BaseSchedule:
    """Math: lr(e) = lr₀ · exp(−decay_rate · e)"""
    if decay_rate < 0:
        raise ConfigError(f"exponential decay_rate must be ≥ 0. Received: decay_rate={decay_rate}")
    return lambda e: lr0 * math.exp(-decay_rate * e)


def cosine(lr0: float, total_epochs: int, min_lr: float = 0.0) -> BaseSchedule:
    """Math:
    lr(e) = min_lr + ½(lr₀ − min_lr)(1 + cos(π·e / T))   for e < T,  T = total_epochs
    lr(e) = min_lr                                       for e ≥ T
    """
    if total_epochs < 1:
        raise ConfigError(f"cosine total_epochs must be ≥ 1. Received: {total_epochs}")
    if not 0 <= min_lr <= lr0:
        raise ConfigError(
            f"cosine min_lr must lie in [0, lr]. Received: min_lr={min_lr} with lr={lr0}"
        )

    def schedule(e: int) -> float:
        if e >= total_epochs:
            return min_lr
        return min_lr + 0.5 * (lr0 - min_lr) * (1 + math.cos(math.pi * e / total_epochs))

    return schedule


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


SCHEDULES = ("constant", "step", "exponential", "cosine")


def build_schedule(
    name: str,
    lr0: float,
    epochs: int,
    warmup_epochs: int = 0,
    **params: float,
) -> Schedule:
    """The schedule ``name`` for a run of ``epochs`` epochs starting from ``lr0``.

    ``cosine`` takes ``total_epochs`` (default: ``epochs``) and ``min_lr``; ``step`` takes
    ``decay_rate`` and ``step_size``; ``exponential`` takes ``decay_rate``.
    """
    if warmup_epochs < 0:
        raise ConfigError(f"warmup_epochs must be ≥ 0. Received: warmup_epochs={warmup_epochs}")
    try:
        if name == "constant":
            base = constant(lr0, **params)
        elif name == "step":
            base = step_decay(lr0, **params)  # type: ignore[arg-type]
        elif name == "exponential":
            base = exponential_decay(lr0, **params)
        elif name == "cosine":
            total = int(params.pop("total_epochs", epochs) or epochs)
            base = cosine(lr0, total, **params)
        else:
            raise ConfigError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    except TypeError:
        raise ConfigError(f"schedule {name!r} takes no parameters {sorted(params)}") from None
    return Schedule(name, base, warmup_epochs)
