"""A run's random streams, all drawn from its config's seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Generators:
    """The run's independent random streams, each a child of one SeedSequence of the config's
    seed (in this order: adding ``noise`` after the first three left them unchanged)."""

    data: np.random.Generator  # the split of the data, and generated data sets
    weights: np.random.Generator  # the initial weights
    shuffle: np.random.Generator  # the order of the samples in each epoch
    noise: np.random.Generator  # dropout's masks


def generators(seed: int) -> Generators:
    """The random streams of a run with ``seed``."""
    children = np.random.SeedSequence(seed).spawn(4)
    return Generators(*(np.random.default_rng(child) for child in children))
