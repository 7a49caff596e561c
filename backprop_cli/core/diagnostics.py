"""Gradient-flow diagnostics: per-layer gradient norms, update-to-weight ratios and dead ReLUs.

With diagnostics on, every epoch's history row gains, for each weight matrix (named as in the
checkpoint, e.g. ``layers.0``):

    {layer}.grad_norm      mean over the epoch's steps of ‖∂L/∂W‖ (before clipping)
    {layer}.update_ratio   mean over the steps of ‖ΔW‖ / ‖W‖ for the update each step applied
    {layer}.dead_fraction  (ReLU-family layers) share of units with z ≤ 0 for every sample of
                           the epoch: they pass no gradient, so they do not learn

and `warnings` names the problems the notes describe, with their fixes.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .activations import RELU_FAMILY
from .layers import Dense
from .network import Network, ParamSlot
from .types import Array

#: Orders of magnitude between the first and last layer's gradient norms that count as vanishing
#: (first far below last) or exploding (first far above last).
SPREAD = 3.0
#: A gradient norm above this is exploding whatever the depth.
HUGE = 1e4
#: A ReLU layer with more than this share of dead units is reported.
MOSTLY_DEAD = 0.5

FIXES = {
    "vanishing": "use ReLU activations, batchnorm, residual blocks or careful initialization "
    "(he_normal for ReLU, xavier for tanh and sigmoid)",
    "exploding": "clip the gradient (training.clip), lower the learning rate, use careful "
    "initialization or batchnorm",
    "dead": "use leaky_relu, a lower learning rate, or look for large negative biases",
}


class Diagnostics:
    """Accumulates the per-layer figures over an epoch; the training loop calls its hooks."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.weights = [
            (name.removesuffix(".W"), slot)
            for name, slot in net.slots.items()
            if name.endswith(".W")
        ]
        self.relu = [
            (name, layer)
            for name, layer in net.walk()
            if isinstance(layer, Dense) and layer.activation.name in RELU_FAMILY
        ]
        self._before = np.empty_like(net.params)
        self._delta = np.empty_like(net.params)
        self._norms = np.zeros(len(self.weights))
        self._ratios = np.zeros(len(self.weights))
        self._alive: list[NDArray[np.bool_]] = [
            np.zeros(layer.units, bool) for _, layer in self.relu
        ]
        self._steps = 0
        self.warned: set[str] = set()

    def start_epoch(self) -> None:
        self._norms[:] = 0.0
        self._ratios[:] = 0.0
        for alive in self._alive:
            alive[:] = False
        self._steps = 0

    def after_forward(self) -> None:
        for (_, layer), alive in zip(self.relu, self._alive, strict=True):
            alive |= (layer.pre_activation > 0).any(axis=0)

    def after_backward(self) -> None:
        for k, (_, slot) in enumerate(self.weights):
            g = self._view(self.net.grads, slot)
            self._norms[k] += math.sqrt(float(np.dot(g, g)))

    def before_update(self) -> None:
        np.copyto(self._before, self.net.params)

    def after_update(self) -> None:
        # Weights that blow up (a diverging run) make these sums inf or NaN: the ratio says so
        # in the history, with no NumPy warning on the way.
        with np.errstate(over="ignore", invalid="ignore"):
            for k, (_, slot) in enumerate(self.weights):
                old = self._view(self._before, slot)
                delta = np.subtract(
                    self._view(self.net.params, slot), old, out=self._view(self._delta, slot)
                )
                size = math.sqrt(float(np.dot(old, old)))
                self._ratios[k] += math.sqrt(float(np.dot(delta, delta))) / size if size else 0.0
        self._steps += 1

    @staticmethod
    def _view(buffer: Array, slot: ParamSlot) -> Array:
        return buffer[slot.offset : slot.offset + slot.size]

    def columns(self) -> list[str]:
        """The history columns `end_epoch` fills, in order."""
        names = [f"{n}.{k}" for n, _ in self.weights for k in ("grad_norm", "update_ratio")]
        return names + [f"{n}.dead_fraction" for n, _ in self.relu]

    def end_epoch(self) -> dict[str, float]:
        """The epoch's history columns."""
        steps = max(self._steps, 1)
        row: dict[str, float] = {}
        for k, (name, _) in enumerate(self.weights):
            row[f"{name}.grad_norm"] = float(self._norms[k] / steps)
            row[f"{name}.update_ratio"] = float(self._ratios[k] / steps)
        for (name, _), alive in zip(self.relu, self._alive, strict=True):
            row[f"{name}.dead_fraction"] = float(1.0 - alive.mean())
        return row

    def warnings(self, row: dict[str, float]) -> list[str]:
        """What the epoch's figures show, each problem reported once per run, with its fixes."""
        found: list[tuple[str, str]] = []
        norms = [(name, row[f"{name}.grad_norm"]) for name, _ in self.weights]
        (first, g_first), (last, g_last) = norms[0], norms[-1]
        if len(norms) > 1 and g_first > 0 and g_last > 0:
            spread = math.log10(g_first / g_last)
            if spread < -SPREAD:
                found.append(("vanishing", (
                    f"vanishing gradients: {first}'s gradient norm {g_first:.1e} is "
                    f"{-spread:.1f} orders of magnitude below {last}'s ({g_last:.1e})"
                )))  # fmt: skip
            elif spread > SPREAD:
                found.append(("exploding", (
                    f"exploding gradients: {first}'s gradient norm {g_first:.1e} is "
                    f"{spread:.1f} orders of magnitude above {last}'s ({g_last:.1e})"
                )))  # fmt: skip
        big = max(norms, key=lambda item: item[1])
        if big[1] > HUGE and "exploding" not in dict(found):
            found.append(
                ("exploding", f"exploding gradients: {big[0]}'s gradient norm is {big[1]:.1e}")
            )
        for name, _ in self.relu:
            dead = row[f"{name}.dead_fraction"]
            if dead > MOSTLY_DEAD:
                found.append(("dead", (
                    f"dying ReLU: {dead:.0%} of {name}'s units output 0 for every sample"
                )))  # fmt: skip
        messages = []
        for kind, text in found:
            if kind not in self.warned:
                self.warned.add(kind)
                messages.append(f"{text}; fixes: {FIXES[kind]}")
        return messages
