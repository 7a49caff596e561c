"""The compiled-kernel cache is private: numba's cache is pickled, so it is loaded only from a
folder no one else can write, and a truncated, foreign or unwritable cache is passed over (the
kernel compiles in memory), never a failure.

Each test runs a small script in its own process (numba reads its cache once per process), with
a kernel made by bprop's own `kernel` decorator, as every fused kernel is."""

from __future__ import annotations

import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """\
from backprop_cli.kernels.compile import kernel

@kernel
def add_one(x):
    return x + 1.0

print(add_one(1.0), sum(add_one.stats.cache_hits.values()))
"""


class Planted:
    """A pickle that, when loaded, makes the folder ``path``: the proof that it ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (self.path,)


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The script, in one place for the module (the cache's folders are named after it)."""
    path = tmp_path_factory.mktemp("script") / "kernels_script.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture(scope="module")
def warmed(script: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the compiled kernel: the first run compiles, the second loads it."""
    cache = tmp_path_factory.mktemp("warm") / "cache"
    assert run(script, cache).stdout.split() == ["2.0", "0"]
    assert run(script, cache).stdout.split() == ["2.0", "1"]  # served by the cache
    assert len(index_files(cache)) == 1
    return cache


def run(
    script: Path, cache: Path, full_disk: bool = False, umask: int = 0o022
) -> subprocess.CompletedProcess[str]:
    """The script, with bprop's cache folder ``cache``; ``full_disk``: no file can grow."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "BPROP_NO_CACHE")}
    env |= {"BPROP_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}

    def start() -> None:
        os.umask(umask)
        if full_disk:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300,
        preexec_fn=start,
    )  # fmt: skip


def index_files(cache: Path) -> list[Path]:
    return sorted((cache / "numba").rglob("*add_one*.nbi"))


@pytest.fixture
def cache(warmed: Path, tmp_path: Path) -> Path:
    """This test's copy of the warm cache."""
    copy = tmp_path / "cache"
    shutil.copytree(warmed, copy, symlinks=True)
    return copy


def test_the_cache_folder_is_private_and_serves_the_next_process(script: Path, cache: Path) -> None:
    assert (cache / "numba").stat().st_mode & 0o777 == 0o700
    assert run(script, cache).stdout.split() == ["2.0", "1"]


def test_a_cache_others_can_write_is_never_unpickled(
    script: Path, cache: Path, tmp_path: Path
) -> None:
    """Someone who can write the folder replaced the index with a pickle that runs code: it is
    not loaded (the folder that pickle would make never appears) and the kernel still runs."""
    proof = tmp_path / "the-planted-pickle-ran"
    (index,) = index_files(cache)
    (cache / "numba").chmod(0o777)
    index.write_bytes(pickle.dumps(Planted(proof)))
    result = run(script, cache)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2.0", "0"] and not proof.exists()


def test_a_symlinked_cache_folder_is_not_used(script: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "numba").symlink_to(elsewhere)
    for _ in range(2):  # never written, so never served
        assert run(script, cache).stdout.split() == ["2.0", "0"]
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_file_of_another_user_in_the_cache_is_never_unpickled(
    script: Path, cache: Path, tmp_path: Path
) -> None:
    proof = tmp_path / "the-planted-pickle-ran"
    (index,) = index_files(cache)
    index.write_bytes(pickle.dumps(Planted(proof)))
    os.chown(index, 4321, 4321)
    result = run(script, cache)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2.0", "0"] and not proof.exists()


def test_a_truncated_cache_is_passed_over(script: Path, cache: Path) -> None:
    for file in (cache / "numba").rglob("*add_one*"):
        file.write_bytes(file.read_bytes()[:7])
    result = run(script, cache)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2.0", "0"]


def test_a_cache_that_cannot_be_written_is_passed_over(script: Path, tmp_path: Path) -> None:
    """No file can grow (as on a full disk): the kernel compiles in memory and runs."""
    result = run(script, tmp_path / "cache", full_disk=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2.0", "0"]


def test_under_a_group_writable_umask_the_cache_still_serves(script: Path, tmp_path: Path) -> None:
    """umask 002 makes numba's files group-writable, which the check refuses: bprop gives
    them mode 0600 once numba has written them."""
    cache = tmp_path / "cache"
    assert run(script, cache, umask=0o002).stdout.split() == ["2.0", "0"]
    assert run(script, cache, umask=0o002).stdout.split() == ["2.0", "1"]  # served
