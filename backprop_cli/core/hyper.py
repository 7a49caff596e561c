"""A hyperparameter, declared once beside the code that uses it.

Activations, initializers, layers, optimizers and schedules each declare their hyperparameters as
`Hyper` values: the default, the range and one line of description. The config models, the JSON
schema, the config reference and the engine's own checks all derive from these declarations, so a
range is written in one place only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

Value = float | int | bool | str | None


@dataclass(frozen=True)
class Hyper:
    """A hyperparameter: its default, its range and what it is.

    The range is ``low ≤ value ≤ high``, an end left out when None, made strict by
    ``low_open`` / ``high_open``. A boolean default makes a flag (no range); ``integer`` makes a
    whole number; ``choices`` makes a name, one of them (no range). A default of None means
    "decided elsewhere" (the description says by what), and None is then accepted as a value.
    """

    default: Value
    description: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    choices: tuple[str, ...] = ()

    @property
    def kind(self) -> type:
        """The Python type of a value: bool, int, float or str."""
        if self.choices:
            return str
        if isinstance(self.default, bool):
            return bool
        return int if self.integer else float

    def check(self, name: str, value: Any) -> Any:
        """``value`` as a Python float, int or bool, or a `ConfigError` naming ``name``."""
        if value is None and self.default is None:
            return None
        if self.choices:
            if value not in self.choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(self.choices)}. Received: {name}={value!r}"
                )
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be true or false. Received: {name}={value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number. Received: {name}={value!r}")
        if self.integer and not float(value).is_integer():
            raise ConfigError(f"{name} must be a whole number. Received: {name}={value}")
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        if below or above or not math.isfinite(value):  # NaN and ±∞ lie in no range
            raise ConfigError(f"{name} must lie in {self.interval()}. Received: {name}={value}")
        return int(value) if self.integer else float(value)

    def take(self, name: str, value: Any = None) -> Any:
        """``value`` checked as `check` does, or the default when ``value`` is None: a
        constructor's argument, whose default is declared here only."""
        return self.check(name, self.default if value is None else value)

    def interval(self) -> str:
        low = "−∞" if self.low is None else f"{self.low:g}"
        high = "∞" if self.high is None else f"{self.high:g}"
        opening = "(" if self.low_open or self.low is None else "["
        closing = ")" if self.high_open or self.high is None else "]"
        return f"{opening}{low}, {high}{closing}"

    def bounds(self) -> dict[str, float]:
        """The range as Pydantic's ``Field`` arguments (ge, gt, le, lt)."""
        out: dict[str, float] = {}
        if self.low is not None:
            out["gt" if self.low_open else "ge"] = _plain(self.low)
        if self.high is not None:
            out["lt" if self.high_open else "le"] = _plain(self.high)
        return out


def _plain(bound: float) -> float:
    """0 rather than 0.0, as a schema or a reader writes a whole number."""
    return int(bound) if float(bound).is_integer() else bound


def check_all(what: str, specs: dict[str, Hyper], given: dict[str, Any]) -> dict[str, Value]:
    """Every hyperparameter of ``specs``, from ``given`` or its default, each checked against its
    range; a `ConfigError` names ``what`` when ``given`` holds a key ``specs`` lacks."""
    unknown = sorted(set(given) - set(specs))
    if unknown:
        takes = f"it takes {', '.join(specs)}" if specs else "it takes none"
        raise ConfigError(f"{what} takes no parameter {', '.join(unknown)} ({takes})")
    return {key: spec.check(key, given.get(key, spec.default)) for key, spec in specs.items()}
