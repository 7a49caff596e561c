"""Fused kernels: the optional `bprop[fast]` path, compiled with numba.

NumPy makes one pass over memory per operation, so an update rule of twelve operations reads and
writes the parameter buffer twelve times. A fused kernel does the same arithmetic in one loop,
one pass. The NumPy code in `backprop_cli.core` stays the reference: every kernel computes the
same formula in the same order (its docstring shows the NumPy lines it replaces) and is tested
against it. Without numba installed nothing changes; numba is imported only when a run uses the
kernels (`training.kernels`).

Which path a run takes (``training.kernels``):
    numpy   the reference, always available
    fused   the kernels; an error (with the install hint) when numba is missing, and when
            NUMBA_DISABLE_JIT tells it to compile nothing
    auto    fused when numba can be used and the time it is expected to save over the run's
            updates is more than what it costs to start (`choose`): loading the kernels from
            numba's cache (about 0.3 s), or compiling them (about 5 s, a machine's first run)
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.network import Network
from ..core.optim import Optimizer, Transform
from ..core.training import EpochKernel
from ..core.types import Array
from ..errors import ConfigError

#: What the fused path saves a step over NumPy's, measured on this kind of machine (`make bench`;
#: 64-128-64-10 and 784-256-128-10 at batches 1 to 1024): a part for NumPy's calls, a part per
#: parameter (the optimizer's passes over memory) and a part per activation entry of the batch.
SAVED_PER_STEP = 40e-6
SAVED_PER_PARAMETER = 0.6e-9
SAVED_PER_ACTIVATION = 0.5e-9
#: What the fused path costs before its first step: numba imported and the kernels loaded from
#: its cache, or compiled (a machine's first run, or bprop's cache off).
START_CACHED = 0.35
START_COMPILING = 5.0
INSTALL = "bprop's fast extra: pip install '.[fast]' in bprop's folder (numba and SciPy)"


def available() -> bool:
    """Whether numba is installed (found without importing it)."""
    return importlib.util.find_spec("numba") is not None


@functools.cache
def import_problem() -> str | None:
    """Why numba cannot be used here, or None: not installed, installed but failing to import
    (an unsupported NumPy, a broken install), told to compile nothing (NUMBA_DISABLE_JIT,
    under which the kernels would run as plain Python), or without SciPy's BLAS, which its
    products call. Imports numba (and SciPy's BLAS) when it is installed."""
    if not available():
        return f"it is not installed: {INSTALL}"
    from .compile import numba

    try:
        nb = numba()
    except Exception as exc:  # ImportError, or numba refusing this NumPy at import
        return f"numba is installed but does not import ({type(exc).__name__}: {exc})"
    if nb.config.DISABLE_JIT:
        return (
            "NUMBA_DISABLE_JIT is set, so numba compiles nothing (the kernels would run as plain "
            "Python); unset it, or use training.kernels: numpy"
        )
    try:  # the BLAS numba's np.dot calls, for the compiled epochs' products
        importlib.import_module("scipy.linalg.cython_blas")
    except Exception as exc:  # not installed, or broken
        return f"numba's products need SciPy, which does not import ({exc}): {INSTALL}"
    return None


@dataclass(frozen=True)
class Choice:
    """The path a run takes, and why, in words for one line of `bprop train`."""

    path: str  # "numpy" | "fused"
    why: str


def expected_saving(updates: int, n_params: int, batch: int, units: int) -> float:
    """Seconds the fused path is expected to save over NumPy's in ``updates`` steps of batches
    of ``batch`` rows through ``n_params`` parameters and ``units`` units."""
    per_step = SAVED_PER_STEP + SAVED_PER_PARAMETER * n_params
    return updates * (per_step + SAVED_PER_ACTIVATION * batch * units)


def start_cost() -> tuple[float, str]:
    """Seconds the fused path is expected to take to start here, and how: from numba's cache
    when the compiled epoch is in it, else compiling."""
    from .compile import cache_folder

    root = cache_folder()
    source = Path(__file__).with_name("epoch.py").stat().st_mtime
    cached = root is not None and any(
        index.stat().st_size > 0 and index.stat().st_mtime >= source  # not of an older epoch.py
        for index in root.glob("*/epoch.dense_steps-*.nbi")
    )
    return (START_CACHED, "load") if cached else (START_COMPILING, "compile")


def choose(
    setting: str,
    updates: int,
    n_params: int,
    batch: int = 1,
    units: int = 0,
    took: str | None = None,
) -> Choice:
    """The path for the ``training.kernels`` setting of a run of ``updates`` updates of batches
    of ``batch`` rows through ``n_params`` parameters (``units`` units in all). ``auto`` looks
    for numba only when the run is long enough to pay for it, and takes NumPy where numba does
    not import. A resumed run (``took``: the path its checkpoint's steps ran) keeps to that
    path under ``auto``, so that it goes on as it would have, bit for bit, where it can.

    Raises:
        ConfigError: ``fused`` where numba cannot be used, saying why.
    """
    if setting == "numpy":
        return Choice("numpy", "training.kernels: numpy")
    if setting == "fused":
        problem = import_problem()
        if problem is not None:
            raise ConfigError(f"training.kernels: fused needs numba, and {problem}")
        return Choice("fused", "training.kernels: fused")
    if took == "numpy":
        return Choice("numpy", "auto: resumed on the path the run took")
    if took == "fused":
        problem = import_problem()
        if problem is None:
            return Choice("fused", "auto: resumed on the path the run took")
        return Choice("numpy", f"auto: the run took the fused path, but {problem}")
    saving = expected_saving(updates, n_params, batch, units)
    if not available():
        return Choice("numpy", "auto: numba is not installed (bprop[fast] brings it)")
    cost, how = start_cost()
    if saving <= cost:
        return Choice(
            "numpy",
            f"auto: the fused path would save about {saving:.2g} s over {updates:,} updates, "
            f"less than the {cost:.2g} s its kernels take to {how}",
        )
    problem = import_problem()
    if problem is not None:
        return Choice("numpy", f"auto: numba cannot be used: {problem}")
    return Choice(
        "fused",
        f"auto: the fused path should save about {saving:.2g} s over {updates:,} updates, "
        f"more than the {cost:.2g} s its kernels take to {how}",
    )


def install_network(net: Network) -> int:
    """Give ``net``'s dense layers their fused element-wise kernels, and its loss its one-pass
    kernel (softmax cross-entropy); how many layers and losses took them."""
    from .layers import install_layers
    from .losses import install_loss

    return install_layers(net) + install_loss(net)


def fuse_chain(chain: list[Transform]) -> list[Transform]:
    """An optimizer's chain with the stages that have a kernel run by it, for building the
    optimizer on the fused path: ``build_optimizer(name, fuse=fuse_chain)`` (see
    `backprop_cli.kernels.optim`). Compiles the kernel when the optimizer's ``init`` runs."""
    from .optim import fuse_chain as fuse

    return fuse(chain)


def whole_step(net: Network, batch: int) -> Callable[..., tuple[Array, float, float] | None] | None:
    """The compiled whole step of ``net`` for batches of up to ``batch`` rows, or None where it
    does not pay or does not apply (see `backprop_cli.kernels.step`)."""
    from .step import dense_step_for

    return dense_step_for(net, batch)


def compiled_epoch(
    net: Network, optimizer: Optimizer, clip: object, batch: int
) -> EpochKernel | None:
    """``net``'s training steps trained by ``optimizer`` (built with `fuse_chain`) and clipped
    by ``clip``, compiled many to a call for batches of up to ``batch`` rows, or None where
    they do not apply (see `backprop_cli.kernels.epoch`)."""
    from .epoch import dense_epoch_for

    return dense_epoch_for(net, optimizer, clip, batch)


def fuse_network(
    net: Network, batch: int
) -> Callable[..., tuple[Array, float, float] | None] | None:
    """Put ``net`` on the fused path for batches of up to ``batch`` rows: its layers' and loss's
    kernels installed, and its whole compiled step returned where it has one (what a fused run
    does; the gradient check's ``--kernels fused``)."""
    install_network(net)
    return whole_step(net, batch)
