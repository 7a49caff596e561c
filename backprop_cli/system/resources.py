"""What this machine can hold: sizes are checked against its memory, and the counts a user gives
(trials, folds, updates) against their bounds, before anything of that size is made."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ..errors import ConfigError


@functools.cache
def memory_bytes() -> int:
    """The memory this process may use: the machine's, or its control group's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = int(Path(limit).read_text().strip())
        except (OSError, ValueError):
            continue
        if 0 < value < total:
            total = value
    return total


def size_text(n_bytes: float) -> str:
    """1.5 GiB, 12 TiB, ..."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n_bytes) < 1024 or unit == "PiB":
            return f"{n_bytes:,.0f} {unit}" if unit == "bytes" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def check_fits(key: str, what: str, n_bytes: float, error: type[Exception] = ConfigError) -> None:
    """Raise ``error`` naming ``key`` when ``what`` needs more than this machine's memory."""
    available = memory_bytes()
    if n_bytes > available:
        raise error(
            f"{key}: {what} needs {size_text(n_bytes)}, more than the {size_text(available)} of "
            "memory of this machine; make it smaller"
        )


def check_count(key: str, count: int, most: int, what: str, limit: str) -> None:
    """Raise ConfigError naming ``key`` when ``count`` passes ``most``: ``what`` (the count in
    words) is more than ``limit`` (who makes them: "a sweep runs") does at most."""
    if count > most:
        raise ConfigError(f"{key}: {what}; {limit} at most {most:,}")
