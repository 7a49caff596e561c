"""Ctrl-C and SIGTERM during training: the first asks the run to stop after its current step (it
then saves and exits 130); a second Ctrl-C stops at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from .console import OUTPUT_CLOSED, console, err_console

HANDLED = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def graceful_stop(
    what: str = "after this step and saving the run",
    on_request: Callable[[], None] | None = None,
) -> Iterator[Callable[[], bool]]:
    """Within the block, SIGINT and SIGTERM set a flag (and call ``on_request``) instead of
    killing the process; yields the question the training loop asks after every step ("has a stop
    been requested?", by a signal or by standard output's reader going away: `OUTPUT_CLOSED`)."""
    requested = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if requested.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        requested.set()
        if on_request is not None:
            on_request()
        name = signal.Signals(signum).name
        # On a terminal the progress display redraws itself over anything printed beside it:
        # printed through its console, the notice goes above it and stays.
        (console if console.is_terminal else err_console).print(
            f"{name}: stopping {what} (press Ctrl-C again to stop at once)", soft_wrap=True
        )

    def asked() -> bool:
        return requested.is_set() or OUTPUT_CLOSED.is_set()

    if threading.current_thread() is not threading.main_thread():
        yield asked  # signals reach the main thread only; nothing to install
        return
    previous = {sig: signal.signal(sig, handler) for sig in HANDLED}
    try:
        yield asked
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
