"""The one place where failures become exit codes: every command runs inside `guarded`.

A user's mistake or the machine's refusal (bad input, any OS error, not enough memory, a signal)
is one line on stderr and a documented exit code, never a traceback; an unexpected exception is a
bug in bprop, reported as such, with its traceback only under ``bprop --debug``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from types import FrameType

import typer

from . import exit_codes
from .console import err_console, fail

#: What an OS error means, in words, by errno.
REASONS = {
    errno.ENOSPC: "no space left on the device (the disk is full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ENOENT: "no such file or folder (was it removed while bprop ran?)",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "exists already; choose another name (or pass --overwrite where offered)",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
}


def describe_os_error(exc: OSError) -> str:
    """``path: what went wrong`` for an OS error."""
    reason = REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' → '.join(names) or 'the system'}: {reason}"


def _from_the_cli_framework(exc: BaseException) -> bool:
    """Exits, aborts and usage errors of Typer/Click, which handle them themselves."""
    return type(exc).__module__.split(".")[0] in ("typer", "click")


@contextlib.contextmanager
def guarded(command: Callable[[], str | None], debug: bool) -> Iterator[None]:
    """Run a command (``command()`` names it once known): SIGTERM outside the training loops ends
    it like Ctrl-C (exit 130), and every exception leaves as one line and an exit code."""
    with _sigterm_interrupts():
        try:
            yield
        except Exception as exc:
            if _from_the_cli_framework(exc):
                raise
            _report(exc, command(), debug)
        except KeyboardInterrupt:
            err_console.print("interrupted", soft_wrap=True)
            raise typer.Exit(exit_codes.INTERRUPTED) from None


def _report(exc: Exception, command: str | None, debug: bool) -> None:
    from ..errors import BpropError

    if isinstance(exc, BpropError):
        fail(str(exc))
    if isinstance(exc, BrokenPipeError) and exc.filename is None:
        # standard output's reader went away (`bprop predict … | head`): as a command killed by
        # SIGPIPE, quietly; what Python still flushes at exit goes to /dev/null
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(exit_codes.OUTPUT_CLOSED)
    if isinstance(exc, OSError):
        fail(describe_os_error(exc))
    if isinstance(exc, MemoryError):
        detail = str(exc) or "an allocation failed"
        fail(f"not enough memory: {detail}; use less data, a smaller network or batch")
    if isinstance(exc, RecursionError):
        fail("the input is nested too deeply to read")
    if debug:
        traceback.print_exception(exc)
    where = traceback.format_exception_only(exc)[-1].strip()
    hint = "" if debug else "; rerun with bprop --debug for the traceback"
    code = exit_codes.BUG_IN_GRADCHECK if command == "gradcheck" else exit_codes.BUG
    fail(f"this is a bug in bprop: please report it ({where}){hint}", code)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (as Ctrl-C does), unless a training
    loop installs its own graceful handler meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
