"""How the README's shown output is checked against what a command printed (`make docs-test`).

- The shown lines must match printed lines in order, each whole line, trailing spaces ignored.
- ``...`` alone on a line stands for any number of printed lines (none included); ``...``
  inside a line stands for any text on that line.
- A duration (a number directly followed by ``s``: ``loaded in 0.06s``) matches any duration:
  no two runs take the same time.
- Every other number matches exactly, as text, unless the block allows a tolerance: then the
  printed number ``a`` matches the shown ``b`` when |a − b| ≤ tolerance · max(1, |b|), so a
  probability or an accuracy may move by the tolerance and a large number by that fraction of
  itself. Blocks of trained figures state their tolerance beside them in the README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: A duration: a number and the unit s, not the start of a word ("0.06s", not "3 samples").
DURATION = re.compile(rf"{NUMBER}s(?![A-Za-z])")
TOKEN = re.compile(rf"(?P<duration>{DURATION.pattern})|(?P<number>{NUMBER})|(?P<any>\.\.\.)")


@dataclass(frozen=True)
class Pattern:
    """One shown line as a regular expression, and the shown numbers it captures in order."""

    regex: re.Pattern[str]
    numbers: tuple[str, ...]


@cache
def pattern(shown: str) -> Pattern:
    parts, numbers, at = [], [], 0
    for token in TOKEN.finditer(shown):
        parts.append(re.escape(shown[at : token.start()]))
        if token["duration"]:
            parts.append(DURATION.pattern)
        elif token["number"]:
            parts.append(f"({NUMBER})")
            numbers.append(token["number"])
        else:
            parts.append(".*?")
        at = token.end()
    parts.append(re.escape(shown[at:]))
    return Pattern(re.compile("".join(parts)), tuple(numbers))


def line_matches(shown: str, printed: str, tolerance: float | None) -> bool:
    """Whether the printed line is the shown one, by the rules of this module."""
    shown, printed = shown.rstrip(), printed.rstrip()
    p = pattern(shown)
    found = p.regex.fullmatch(printed)
    if found is None:
        return False
    for expected, got in zip(p.numbers, found.groups(), strict=True):
        if tolerance is None:
            if got != expected:
                return False
        elif abs(float(got) - float(expected)) > tolerance * max(1.0, abs(float(expected))):
            return False
    return True


def output_matches(shown: list[str], printed: list[str], tolerance: float | None) -> bool:
    """Whether the printed lines are the shown ones, ``...`` lines standing for any lines."""
    shown = _trim(shown)
    printed = _trim(printed)

    @cache
    def from_(i: int, j: int) -> bool:
        if i == len(shown):
            return j == len(printed)
        if shown[i].strip() == "...":
            return any(from_(i + 1, k) for k in range(j, len(printed) + 1))
        return (
            j < len(printed)
            and line_matches(shown[i], printed[j], tolerance)
            and from_(i + 1, j + 1)
        )

    return from_(0, 0)


def _trim(lines: list[str]) -> list[str]:
    """The lines without trailing spaces, and without blank lines at the start and end."""
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines
