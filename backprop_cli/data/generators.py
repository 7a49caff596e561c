"""Generated data sets. Each takes an explicit `np.random.Generator` and returns (X, y):
X float64 (N, features); y int64 class labels, or float64 (N, 1) regression targets."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from ..system.resources import check_fits

Arrays = tuple[NDArray[np.float64], NDArray[Any]]


def xor(rng: np.random.Generator, repeats: int = 1, noise: float = 0.0) -> Arrays:
    """The four XOR points (label 1 when exactly one input is 1), ``repeats`` times, with noise."""
    base = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    X = np.tile(base, (repeats, 1))
    if noise:
        X = X + rng.normal(0.0, noise, X.shape)
    y = np.tile(np.array([0, 1, 1, 0]), repeats)
    return X, y


def spirals(
    rng: np.random.Generator, n_samples: int = 300, n_classes: int = 3, noise: float = 0.2
) -> Arrays:
    """Interleaved spiral arms, one per class (the classic non-linear toy problem)."""
    per = n_samples // n_classes
    X = np.empty((per * n_classes, 2))
    y = np.repeat(np.arange(n_classes), per)
    for c in range(n_classes):
        r = np.linspace(0.0, 1.0, per)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, per) + rng.normal(0.0, noise, per)
        X[c * per : (c + 1) * per] = np.c_[r * np.sin(t), r * np.cos(t)]
    return X, y


def moons(rng: np.random.Generator, n_samples: int = 300, noise: float = 0.1) -> Arrays:
    """Two interleaving half circles."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, math.pi, n_out)
    t_in = np.linspace(0, math.pi, n_in)
    X = np.r_[np.c_[np.cos(t_out), np.sin(t_out)], np.c_[1 - np.cos(t_in), 0.5 - np.sin(t_in)]]
    X += rng.normal(0.0, noise, X.shape)
    return X, np.r_[np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)]


def circles(
    rng: np.random.Generator, n_samples: int = 300, noise: float = 0.05, factor: float = 0.5
) -> Arrays:
    """A small circle (label 1) inside a large one (label 0)."""
    if not 0 < factor < 1:
        raise ConfigError(f"data.options.factor must lie in (0, 1). Received: factor={factor}")
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, 2 * math.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * math.pi, n_in, endpoint=False)
    X = np.r_[np.c_[np.cos(t_out), np.sin(t_out)], factor * np.c_[np.cos(t_in), np.sin(t_in)]]
    X += rng.normal(0.0, noise, X.shape)
    return X, np.r_[np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)]


def blobs(
    rng: np.random.Generator,
    n_samples: int = 300,
    n_classes: int = 3,
    n_features: int = 2,
    std: float = 1.0,
) -> Arrays:
    """Gaussian clusters around random centres in [−10, 10]^features."""
    centres = rng.uniform(-10.0, 10.0, (n_classes, n_features))
    y = np.arange(n_samples) % n_classes
    X = centres[y] + rng.normal(0.0, std, (n_samples, n_features))
    return X, y.astype(np.int64)


def sine(rng: np.random.Generator, n_samples: int = 200, noise: float = 0.1) -> Arrays:
    """Regression: y = sin(x) + noise for x uniform in [−π, π]; y of shape (N, 1)."""
    x = rng.uniform(-math.pi, math.pi, (n_samples, 1))
    return x, np.sin(x) + rng.normal(0.0, noise, x.shape)


def ravine(
    rng: np.random.Generator,
    n_samples: int = 200,
    n_features: int = 2,
    scale: float = 10.0,
    noise: float = 0.1,
) -> Arrays:
    """Regression on an ill-conditioned problem (use it with ``standardize: false``).

    Feature j has standard deviation sⱼ, spaced geometrically from 1 to ``scale``, and
    y = Σⱼ xⱼ / sⱼ + noise. The mean-squared error's curvature along feature j is about sⱼ², so
    the loss is a narrow valley whose walls are scale² times steeper than its floor: plain
    gradient descent must take steps small enough for the walls and then crawls along the floor.
    """
    if scale < 1:
        raise ConfigError(f"data.options.scale must be at least 1. Received: scale={scale}")
    stds = np.geomspace(1.0, scale, n_features)
    X = rng.normal(0.0, 1.0, (n_samples, n_features)) * stds
    y = (X / stds).sum(axis=1, keepdims=True) + rng.normal(0.0, noise, (n_samples, 1))
    return X, y


GENERATORS: dict[str, Callable[..., Arrays]] = {
    "xor": xor,
    "spirals": spirals,
    "moons": moons,
    "circles": circles,
    "blobs": blobs,
    "sine": sine,
    "ravine": ravine,
}


def generator_options(name: str) -> dict[str, Any]:
    """The options a generator accepts, with their defaults."""
    params = inspect.signature(GENERATORS[name]).parameters
    return {k: p.default for k, p in params.items() if k != "rng"}


def generate(name: str, rng: np.random.Generator, options: dict[str, Any]) -> Arrays:
    """Run generator ``name`` with ``options`` checked against its signature."""
    allowed = generator_options(name)
    # A whole number written as 1e4 or 3.0 counts as one.
    options = {
        k: int(v) if isinstance(v, float) and v.is_integer() and isinstance(allowed.get(k), int)
        else v
        for k, v in options.items()
    }  # fmt: skip
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(
                f"data.options.{key}: {name} has no option {key!r} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
        default = allowed[key]
        if isinstance(default, int) and (not isinstance(value, int) or value < 1):
            raise ConfigError(
                f"data.options.{key}: expected a whole number ≥ 1, received {value!r}"
            )
        if isinstance(default, float) and (isinstance(value, str) or value < 0):
            raise ConfigError(f"data.options.{key}: expected a number ≥ 0, received {value!r}")
    merged = {**allowed, **options}
    for key in ("n_samples", "n_classes"):
        if key in merged and merged[key] < 2:
            raise ConfigError(f"data.options.{key}: must be at least 2, received {merged[key]}")
    rows = merged.get("n_samples", 4 * merged.get("repeats", 1))
    if merged.get("n_classes", 0) > rows:
        raise ConfigError(
            f"data.options.n_classes: {merged['n_classes']} classes need at least as many "
            f"samples; n_samples is {rows}"
        )
    key = "data.options." + ("n_samples" if "n_samples" in merged else "repeats")
    # The generated X and y, the splits and their copy in the training dtype.
    n_bytes = 3 * 8 * rows * (merged.get("n_features", 2) + 1)
    check_fits(key, f"{rows:,} samples", n_bytes)
    return GENERATORS[name](rng, **options)
