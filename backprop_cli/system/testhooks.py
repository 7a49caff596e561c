"""Deterministic crash points, for bprop's own crash and signal tests.

With ``BPROP_TEST_SIGNAL=SIGNAL@POINT#N`` in the environment (for example ``SIGKILL@rename#5``),
the process sends itself SIGNAL the Nth time it reaches POINT, so a test can stop a run at every
write boundary in turn instead of after a sleep. Points:

    rename   just after an atomic write has landed (its rename and the folder's fsync)
    load     as a run starts loading its data
    hashed   just after a table file's digest is taken for the cache key, before it is parsed
    journal  just after a line of a guided sweep's study journal has landed

Without the variable, `reached` costs one comparison.
"""

from __future__ import annotations

import os
import re
import signal

_SPEC = re.fullmatch(r"(SIG[A-Z0-9]+)@(\w+)#(\d+)", os.environ.get("BPROP_TEST_SIGNAL", ""))
_counts: dict[str, int] = {}


def reached(point: str) -> None:
    """Count one arrival at ``point``; send the configured signal on the configured arrival."""
    if _SPEC is None or _SPEC.group(2) != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(_SPEC.group(3)):
        os.kill(os.getpid(), getattr(signal, _SPEC.group(1)))
