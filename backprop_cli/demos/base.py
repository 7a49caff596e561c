"""What a demo is: formulas, tables of the engine's numbers, notes and optional series to draw."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core.gradcheck import numerical_gradient


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[object]]


@dataclass
class Demo:
    title: str
    formulas: list[str]
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: For --plot: series of (label, rows with ``x`` and each metric), a panel per metric.
    series: list[tuple[str, list[dict[str, float]]]] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    x: str = "epoch"


def derivative(f: Callable[[float], float], at: float) -> float:
    """f′(at) by the engine's central differences (ε = 1e-4)."""
    point = np.array([at], dtype=np.float64)
    return float(numerical_gradient(lambda: f(float(point[0])), point, np.arange(1), 1e-4)[0])
