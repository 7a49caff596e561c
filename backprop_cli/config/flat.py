"""A resolved config as one level of ``key.path → value`` pairs, as `--set` spells its keys:
what the loggers record as hyperparameters and what `bprop runs` filters and compares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Scalar = str | int | float | bool | None


def flatten(tree: Any, prefix: str = "") -> dict[str, Scalar]:
    """Every leaf of ``tree`` (nested dicts and lists, as `ExperimentConfig.resolved` returns)
    under its dotted path; list items by index (``model.layers.0.units``), an empty dict or
    list as itself so that no key disappears."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(tree, dict) and tree:
        items = tree.items()
    elif isinstance(tree, list) and tree:
        items = enumerate(tree)
    else:
        return {prefix: _scalar(tree)}
    flat: dict[str, Scalar] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # an empty dict or list
