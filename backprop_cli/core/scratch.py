"""Scratch buffers reused from step to step, and the "forward before backward" guard: the one idiom
every layer and loss uses, so that a training step allocates nothing of the batch's size.

A layer or loss declares its buffers by name (``Scratch(z=Buffer((units,)), ...)``) and asks for
the views of a batch: ``scratch.forward(n, dtype)`` in ``forward``, ``scratch.backward(who)`` in
``backward`` for the same views (or the guard's error when there was no forward pass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from .types import Array

T = TypeVar("T")


@dataclass(frozen=True)
class Buffer:
    """One named buffer of a batch of n rows: an (n, *shape) array of the batch's dtype (or of
    ``dtype``), filled with ``fill`` when it is made; or, with ``make``, an array made by
    ``make(n, dtype)`` once per batch size (a constant such as the row offsets n·k)."""

    shape: tuple[int, ...] = ()
    dtype: str | None = None
    fill: float | None = None
    make: Callable[[int, np.dtype], NDArray[Any]] | None = None


class Scratch:
    """Named buffers grown to the largest batch seen; a batch of n rows gets views of their first
    n rows, made once per (n, dtype) and kept while the arrays stay the same.

    ``allocations`` counts how often an array was (re)made, so that a user of the contents (a
    frozen dropout mask) knows when they are gone.
    """

    def __init__(self, **buffers: Buffer) -> None:
        self.buffers = buffers
        self.allocations = 0
        self._arrays: dict[str, Array] = {}
        self._views: dict[tuple[int, np.dtype], SimpleNamespace] = {}
        self._last: SimpleNamespace | None = None

    def views(self, n: int, dtype: np.dtype) -> Any:
        """The views of a batch of ``n`` rows in ``dtype``, by buffer name (``views.z``)."""
        views = self._views.get((n, dtype))
        if views is None:
            views = self._make(n, np.dtype(dtype))
        return views

    def forward(self, n: int, dtype: np.dtype) -> Any:
        """The views for a forward pass over ``n`` rows, remembered for ``backward``."""
        self._last = self.views(n, dtype)
        return self._last

    @property
    def last(self) -> Any | None:
        """The views of the last forward pass, None before any."""
        return self._last

    def backward(self, who: str) -> Any:
        """The views of the last forward pass (see `forward_first`)."""
        return forward_first(self._last, who)

    def _make(self, n: int, dtype: np.dtype) -> SimpleNamespace:
        made: dict[str, Array] = {}
        for name, buffer in self.buffers.items():
            if buffer.make is not None:
                made[name] = buffer.make(n, dtype)
                continue
            kind = np.dtype(buffer.dtype or dtype)
            array = self._arrays.get(name)
            if array is None or len(array) < n or array.dtype != kind:
                rows = n if array is None or array.dtype != kind else max(n, len(array))
                array = self._arrays[name] = np.empty((rows, *buffer.shape), dtype=kind)
                if buffer.fill is not None:
                    array.fill(buffer.fill)
                self.allocations += 1
                self._views.clear()  # views of the old arrays: not kept alive
            made[name] = array[:n]
        views = self._views[(n, dtype)] = SimpleNamespace(**made)
        return views


def forward_first(kept: T | None, who: str) -> T:
    """What ``forward`` kept for ``backward``; a backward pass before any forward is an error
    (the one guard every layer and loss uses)."""
    if kept is None:
        raise RuntimeError(f"{who}: backward called before forward")
    return kept
