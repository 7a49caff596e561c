"""Learning-rate schedules: the learning rate used for every step of the 0-based epoch e.

lr₀ is the optimizer's ``lr``. All but one are pure closed-form functions of e, so any epoch's rate
can be computed directly (a resumed run needs no replay). ``plateau`` instead reacts to the
history: it lowers the rate when a monitored metric stops improving, decided at each epoch's end,
and its state (the rate, the best value, the counters) is saved with checkpoints.

An optional linear warmup of W epochs scales the first epochs:
    lr(e) = f(e) · (e + 1) / (W + 1)   for e < W,   lr(e) = f(e) otherwise
so the first epoch already trains (at f(0)/(W + 1)) and the ramp reaches f(e) at e = W.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from ..errors import ConfigError
from .hyper import Hyper, check_all

BaseSchedule = Callable[[int], float]  # a closed form, or a `Plateau`


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
    The one rule across sections: min_lr ≤ lr₀ (the optimizer's lr; `floor_problem`).
    """
    total = epochs if total_epochs is None else total_epochs

    def schedule(e: int) -> float:
        if e >= total:
            return min_lr
        return min_lr + 0.5 * (lr0 - min_lr) * (1 + math.cos(math.pi * e / total))

    return schedule


@dataclass
class Plateau:
    """Keras's ``ReduceLROnPlateau`` (mode min): lower the rate when ``monitor`` stops improving.

    Math, at the end of each epoch with m the epoch's ``monitor`` value (best = +∞ at first):
        if cooldown_counter > 0:  cooldown_counter ← cooldown_counter − 1;  wait ← 0
        if m < best − min_delta:  best ← m;  wait ← 0
        elif cooldown_counter = 0:
            wait ← wait + 1
            if wait ≥ patience and lr > min_lr:
                lr ← max(lr · factor, min_lr);  cooldown_counter ← cooldown;  wait ← 0
    The new rate applies from the next epoch; a non-finite m is no improvement.
    """

    lr: float
    monitor: str
    factor: float
    patience: int
    min_delta: float
    cooldown: int
    min_lr: float
    best: float = math.inf
    wait: int = 0
    cooldown_counter: int = 0

    def __call__(self, e: int) -> float:
        return self.lr

    def observe(self, row: Mapping[str, float]) -> None:
        """Take the epoch's history row into account (the rate of the next epoch)."""
        value = row[self.monitor]
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and self.lr > self.min_lr:
                self.lr = max(self.lr * self.factor, self.min_lr)
                self.cooldown_counter, self.wait = self.cooldown, 0

    STATE = ("lr", "best", "wait", "cooldown_counter")

    def state(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k in self.STATE}

    def load(self, state: Mapping[str, float]) -> None:
        self.lr, self.best = float(state["lr"]), float(state["best"])
        self.wait, self.cooldown_counter = int(state["wait"]), int(state["cooldown_counter"])


def plateau(
    lr0: float,
    epochs: int,
    monitor: str,
    factor: float,
    patience: int,
    min_delta: float,
    cooldown: int,
    min_lr: float,
) -> Plateau:
    """The rate starts at lr₀ and falls by ``factor`` on each plateau, never below ``min_lr``
    (which must lie in [0, lr₀]; `floor_problem`)."""
    return Plateau(lr0, monitor, factor, patience, min_delta, cooldown, min_lr)


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
    "plateau": ScheduleKind(
        plateau,
        {
            "monitor": Hyper(
                "val_loss", "The metric that must improve.", choices=("val_loss", "train_loss")
            ),
            "factor": Hyper(
                0.1, "lr ← lr·factor on a plateau.", 0, 1, low_open=True, high_open=True
            ),
            "patience": Hyper(10, "Epochs without improvement before lowering.", 0, integer=True),
            "min_delta": Hyper(1e-4, "The least decrease that counts as improvement.", 0),
            "cooldown": Hyper(0, "Epochs after a lowering before counting again.", 0, integer=True),
            "min_lr": Hyper(0.0, "The rate never goes below this.", 0),
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

    @property
    def monitor(self) -> str | None:
        """The history column the schedule reacts to (None for a closed form)."""
        return self.base.monitor if isinstance(self.base, Plateau) else None

    def end_epoch(self, row: Mapping[str, float]) -> None:
        """Show the schedule the finished epoch's history row (closed forms ignore it)."""
        if isinstance(self.base, Plateau):
            self.base.observe(row)

    def state(self) -> dict[str, float]:
        """What a checkpoint must keep to continue exactly ({} for a closed form)."""
        return self.base.state() if isinstance(self.base, Plateau) else {}

    def load(self, state: Mapping[str, float]) -> None:
        if isinstance(self.base, Plateau):
            self.base.load(state)


def build_schedule(
    name: str,
    lr0: float,
    epochs: int,
    warmup_epochs: int = 0,
    **params: float | str,
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
    checked = check_all(f"schedule {name}", kind.hyper, params)
    problem = floor_problem(name, lr0, checked)
    if problem:
        raise ConfigError(problem)
    return Schedule(name, kind.make(lr0, epochs, **checked), warmup)


def floor_problem(name: str, lr0: float, params: Mapping[str, object]) -> str | None:
    """Why schedule ``name``'s ``params`` do not fit the starting rate ``lr0``, or None: the one
    rule across config sections, a floor ``min_lr`` must lie in [0, lr₀] (the optimizer's lr)."""
    min_lr = params.get("min_lr")
    if isinstance(min_lr, int | float) and min_lr > lr0:
        return f"{name} min_lr must lie in [0, lr]. Received: min_lr={min_lr} with lr={lr0}"
    return None
