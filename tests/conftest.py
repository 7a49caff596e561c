"""What every test starts from, whoever runs the suite and from wherever.

- One Hypothesis profile, the same by hand and under CI: no deadline (CI machines are busy), a
  fixed derandomized seed and no example database, so a run never depends on the previous one.
- An environment without the variables that change bprop's output or Hypothesis' behaviour
  (colour forcing, terminal size, CI markers, bprop's own test hooks); subprocesses inherit it.
- Each test runs in its own empty working directory, so no test depends on the directory pytest
  was started from or writes into the project; and with its own empty cache of prepared tables
  (``BPROP_CACHE_DIR``), so no test reads another's entries or writes into the user's cache.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from scrubbed import SCRUBBED

settings.register_profile(
    "bprop",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("bprop")

for _name in SCRUBBED:
    os.environ.pop(_name, None)
# Fixtures wider than a test (a module's trained run) prepare tables too: their cache is this
# session's own, never the user's.
_SESSION_CACHE = tempfile.TemporaryDirectory(prefix="bprop-test-cache-")
os.environ["BPROP_CACHE_DIR"] = _SESSION_CACHE.name


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run the test in a fresh empty directory, with its own empty cache of prepared tables."""
    folder = tmp_path_factory.mktemp("cwd")
    previous = Path.cwd()
    os.chdir(folder)
    os.environ["BPROP_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield folder
    finally:
        os.chdir(previous)
        os.environ["BPROP_CACHE_DIR"] = _SESSION_CACHE.name
