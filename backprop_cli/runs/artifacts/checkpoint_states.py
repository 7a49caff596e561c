"""What a checkpoint's counters and resume states may hold: the values a run writes, so that an
edited or corrupted one is refused when the checkpoint is read, by every command that reads it.

- the counters (schema, epoch, step, params_epoch, optimizer.step_count): whole numbers from 0 to
  `MAX_COUNT`, and the weights' epoch not past the checkpoint's;
- rng_state and noise_rng_state: the state of a PCG64 generator, as NumPy writes it;
- monitor_state: the best value (a number, ∞ before the first epoch) with its epoch and the
  epochs waited; schedule_state: {} or the plateau schedule's rate, best value and counters.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .layout import Key

#: No run counts further (2⁵³ updates at a microsecond each would take 285 years), and every
#: count up to it is exact as a float.
MAX_COUNT = 2**53
COUNTERS = (Key.SCHEMA, Key.EPOCH, Key.STEP, Key.PARAMS_EPOCH, Key.STEP_COUNT)


def counter_problem(key: str, value: np.ndarray) -> str:
    """What is wrong with a counter ("" when nothing is)."""
    if value.ndim != 0 or value.dtype.kind not in "iu" or not 0 <= int(value) <= MAX_COUNT:
        shown = int(value) if value.ndim == 0 and value.dtype.kind in "iu" else value.dtype
        return f"{key} must be a whole number from 0 to 2**53; received {shown}"
    return ""


def state_problems(arrays: dict[str, Any]) -> list[str]:
    """What makes the counters and JSON states of ``arrays`` something no run wrote (each text
    already known to be a text, each counter a whole number in range)."""
    problems = []
    epoch, params_epoch = arrays.get(Key.EPOCH), arrays.get(Key.PARAMS_EPOCH)
    if epoch is not None and params_epoch is not None and int(params_epoch) > int(epoch):
        problems.append(
            f"params_epoch ({int(params_epoch)}) is past epoch ({int(epoch)}); the weights cannot "
            "be from an epoch the run has not reached"
        )
    checks = {Key.RNG: _rng_problem, Key.NOISE_RNG: _rng_problem,
              Key.MONITOR: _monitor_problem, Key.SCHEDULE: _schedule_problem}  # fmt: skip
    for key, check in checks.items():
        if key in arrays:
            try:
                problem = check(json.loads(str(arrays[key])))
            except ValueError as exc:
                problem = f"not JSON ({exc})"
            if problem:
                problems.append(f"{key} is not a state bprop writes: {problem}"[:400])
    return problems


def _whole(value: Any, low: int = 0, high: int = MAX_COUNT) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value: Any) -> bool:
    """A JSON number (∞ allowed: a best value before the first epoch), never NaN."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _rng_problem(state: Any) -> str:
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        return "not the state of a PCG64 generator"
    inner = state.get("state")
    if not isinstance(inner, dict) or not _whole(inner.get("state"), 0, 2**128 - 1):
        return "its state must be a whole number from 0 to 2**128 − 1"
    if not _whole(inner.get("inc"), 0, 2**128 - 1) or inner["inc"] % 2 == 0:
        return "its increment must be an odd whole number below 2**128"
    if state.get("has_uint32") not in (0, 1) or not _whole(state.get("uinteger"), 0, 2**32 - 1):
        return "has_uint32 must be 0 or 1 and uinteger a 32-bit whole number"
    try:
        np.random.default_rng().bit_generator.state = state
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        return str(exc)
    return ""


def _monitor_problem(state: Any) -> str:
    if not isinstance(state, dict) or not _number(state.get("best")):
        return "its best value must be a number"
    if not (_whole(state.get("best_epoch")) and _whole(state.get("wait"))):
        return "best_epoch and wait must be whole numbers from 0 to 2**53"
    return ""


def _schedule_problem(state: Any) -> str:
    if state == {}:
        return ""
    if not isinstance(state, dict) or not _number(state.get("best")):
        return "its best value must be a number"
    lr: Any = state.get("lr")
    if not (_number(lr) and 0 < lr < math.inf):
        return "its lr must be a positive finite number"
    if not (_whole(state.get("wait")) and _whole(state.get("cooldown_counter"))):
        return "wait and cooldown_counter must be whole numbers from 0 to 2**53"
    return ""
