"""Worker processes that end with the process that started them.

A local worker (a `--jobs N` process) asks the kernel for a parent-death signal: on Linux,
``prctl(PR_SET_PDEATHSIG, SIGKILL)`` ends it the moment its parent ends, however the parent
ends (``kill -9`` included). Where that call is missing, a daemon thread watches the parent's
process id and ends the worker within `WATCH_SECONDS` of the parent's death.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: How often the watching thread looks at its parent (where the kernel cannot signal).
WATCH_SECONDS = 0.2
PR_SET_PDEATHSIG = 1
_bound: set[int] = set()


def die_with(parent: int) -> None:
    """End this process when the process ``parent`` (its parent now) ends; at once if it already
    has. Idempotent."""
    if parent in _bound:
        return
    _bound.add(parent)
    if _parent_death_signal():
        if os.getppid() != parent:  # it ended before the signal was asked for
            os._exit(1)
        return
    threading.Thread(target=_watch, args=(parent,), name="bprop-parent-watch", daemon=True).start()


def _parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)
