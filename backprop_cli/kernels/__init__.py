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
    auto    fused when numba can be used and the run is long enough for compiling to pay:
            updates × parameters ≥ `AUTO_WORK` (compiling costs about a second the first time on
            a machine, a fraction of that from numba's cache later)
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable

from ..core.network import Network
from ..core.optim import Transform
from ..core.types import Array
from ..errors import ConfigError

#: updates × parameters from which `auto` picks the kernels.
AUTO_WORK = 1e9
INSTALL = "bprop's fast extra: pip install '.[fast]' in bprop's folder (the numba package)"


def available() -> bool:
    """Whether numba is installed (found without importing it)."""
    return importlib.util.find_spec("numba") is not None


@functools.cache
def import_problem() -> str | None:
    """Why numba cannot be used here, or None: not installed, installed but failing to import
    (an unsupported NumPy, a broken install), or told to compile nothing (NUMBA_DISABLE_JIT,
    under which the kernels would run as plain Python). Imports numba when it is installed."""
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
    return None


def choose(setting: str, updates: int, n_params: int) -> str:
    """ "fused" or "numpy" for the ``training.kernels`` setting of a run of ``updates`` updates
    of ``n_params`` parameters. ``auto`` looks for numba only when the run is long enough, and
    takes NumPy where numba does not import.

    Raises:
        ConfigError: ``fused`` where numba cannot be used, saying why.
    """
    if setting == "numpy":
        return "numpy"
    if setting == "fused":
        problem = import_problem()
        if problem is not None:
            raise ConfigError(f"training.kernels: fused needs numba, and {problem}")
        return "fused"
    if updates * n_params < AUTO_WORK or not available():
        return "numpy"
    return "fused" if import_problem() is None else "numpy"


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


def fuse_network(
    net: Network, batch: int
) -> Callable[..., tuple[Array, float, float] | None] | None:
    """Put ``net`` on the fused path for batches of up to ``batch`` rows: its layers' and loss's
    kernels installed, and its whole compiled step returned where it has one (what a fused run
    does; the gradient check's ``--kernels fused``)."""
    install_network(net)
    return whole_step(net, batch)
