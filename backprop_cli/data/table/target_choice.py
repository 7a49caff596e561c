"""Which column of a table is to be predicted, when a config or a command does not say: a
training run then stops and names the columns (there is no default column: a wrong one trains
silently), suggesting one that is named like a target or like the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

#: Words YAML reads as something other than text (a column so named is quoted in a hint).
YAML_WORDS = ("null", "true", "false", "yes", "no", "on", "off", "~")
#: Column names that usually hold what a table is for (compared in lower case).
TARGET_NAMES = ("target", "label", "labels", "class", "y", "outcome")


def suggested_target(path: Path, names: list[str]) -> str | None:
    """The column a table most likely predicts: one named like a target (`TARGET_NAMES`), or
    like the file (``churn`` in ``churn.csv``, ``price`` in ``house_prices.csv``); None when
    no column is."""
    lowered = {name.strip().lower(): name for name in names}
    for wanted in TARGET_NAMES:
        if wanted in lowered:
            return lowered[wanted]
    stem = path.name.lower().split(".")[0]
    words = set(stem.replace("-", "_").split("_"))
    for low, name in lowered.items():
        if low == stem or (len(low) >= 3 and (low in words or f"{low}s" in words)):
            return name
    return None


def no_target(path: Path, names: list[str]) -> str:
    """The error of a table read for training without ``data.target``."""
    shown = ", ".join(names[:30]) + (f" and {len(names) - 30} more" if len(names) > 30 else "")
    guess = suggested_target(path, names)
    plain = guess is not None and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", guess) is not None
    if guess is not None and (not plain or guess.lower() in YAML_WORDS):
        guess = json.dumps(guess, ensure_ascii=False)  # as YAML must be given it
    fix = f"data.target: {guess}" if guess is not None else "data.target: COLUMN"
    return f"{path}: data.target is not set; name the column to predict ({fix}). Columns: {shown}"
