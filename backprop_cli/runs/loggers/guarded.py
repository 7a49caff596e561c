"""A logger never costs a run: `Guarded` runs a logger's sink and, the first time it fails (a
full disk, a tracking server that stopped answering), leaves a warning for the run to show and
stops logging there; training and the run directory go on."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...core.training import EpochEnded
from ..train.sinks import Outcome, Record, Sink

#: How a logger's failure is worded: `failed_logger` reads the logger's name back.
FAILED = "the {} logger failed and logs no more of this run"


def failed_logger(message: str) -> str | None:
    """The name of the logger whose failure ``message`` reports, else None."""
    found = re.match(FAILED.format(r"(\w+)"), message)
    return found[1] if found else None


class Guarded(Sink):
    """``sink`` (the logger called ``name``), whose failures become one warning."""

    def __init__(self, name: str, sink: Sink) -> None:
        self.name, self.sink = name, sink
        self.failed = False

    def _call(self, record: Record, method: Callable[..., Any], *args: Any) -> Any:
        if self.failed:
            return False
        try:
            return method(*args)
        except Exception as exc:  # whatever the logger's library raises
            self.failed = True
            record.warnings.append(
                f"{FAILED.format(self.name)} "
                f"({type(exc).__name__}: {exc}); training goes on, and the run directory is "
                "written as usual"
            )
            return False

    def start(self, record: Record) -> None:
        self._call(record, self.sink.start, record)

    def epoch(self, event: EpochEnded, record: Record) -> bool:
        return bool(self._call(record, self.sink.epoch, event, record))

    def flush(self, record: Record) -> None:
        self._call(record, self.sink.flush, record)

    def finish(self, record: Record, outcome: Outcome) -> None:
        self._call(record, self.sink.finish, record, outcome)
