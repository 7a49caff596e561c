"""Walk-throughs of the notes bprop implements, each computed by the engine (`bprop demo`).

Every demo returns a `Demo`: formulas and tables of numbers that the engine produced just now,
for the CLI to render. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable

from .activations import activations
from .base import Demo, Table
from .basics import chain_rule, descent, graph
from .learning import optimizers, schedules
from .network import backprop

#: The demos that --plot can draw.
DRAWN = ("schedules", "activations")

#: Topic name → (one-line description, demo function).
TOPICS: dict[str, tuple[str, Callable[[], Demo]]] = {
    "descent": ("gradient descent on f(x) = x² from x = 3, and a too-large lr", descent),
    "chain-rule": (
        "the chain rule on y = (3x + 2)² and over two paths for z = x·y, checked numerically",
        chain_rule,
    ),
    "graph": ("the computational graph of L = (wx + b)², forward and backward", graph),
    "backprop": ("the notes' 2-3-1 network: every δ, gradient and updated weight", backprop),
    "optimizers": ("SGD, momentum, RMSprop and Adam on the same gradients", optimizers),
    "schedules": ("the learning-rate schedules over an example run", schedules),
    "activations": (
        "each activation and its derivative, σ′ ≤ 0.25 and 0.25ⁿ in deep sigmoid networks",
        activations,
    ),
}

#: Topics computed at a point x of the user's choosing (--x).
POINTED: dict[str, Callable[[float], Demo]] = {
    "chain-rule": lambda x: chain_rule(x=x),
    "graph": lambda x: graph(x=x),
}

__all__ = ["DRAWN", "POINTED", "TOPICS", "Demo", "Table"]
