"""system/atomic: a write replaces its file whole or not at all, and cleans up only its own
temporaries."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from backprop_cli.system.atomic import (
    TEMPORARY,
    atomic_open,
    remove_stale_temporaries,
    write_text,
    write_with,
)


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "history.csv"
    write_text(target, "old\n")
    write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]  # no temporary left


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_text(target, "complete")

    def half_then_fail(fh: object) -> None:
        fh.write(b"half")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_with(target, half_then_fail)
    assert target.read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_while_writing_the_content_sits_in_a_named_temporary(tmp_path: Path) -> None:
    target = tmp_path / "last.npz"
    with atomic_open(target, "wb") as fh:
        names = [p.name for p in tmp_path.iterdir()]
        assert len(names) == 1 and TEMPORARY.fullmatch(names[0])
        assert TEMPORARY.fullmatch(names[0]).group("target") == "last.npz"  # type: ignore[union-attr]
        assert not target.exists()  # a reader sees no half-written file
        fh.write(b"x")
    assert target.read_bytes() == b"x"


def test_exclusive_never_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    write_text(target, "mine", exclusive=True)
    with pytest.raises(FileExistsError):
        write_text(target, "theirs", exclusive=True)
    assert target.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    write_text(target, "a")
    os.chmod(target, 0o600)
    write_text(target, "b")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_only_the_temporaries_of_owned_files_are_removed(tmp_path: Path) -> None:
    ours = tmp_path / ".history.csv.abcd1234.tmp"
    theirs = tmp_path / ".notes.txt.abcd1234.tmp"
    lookalike = tmp_path / "history.csv.tmp"
    below = tmp_path / "sub" / ".history.csv.abcd1234.tmp"
    below.parent.mkdir()
    for path in (ours, theirs, lookalike, below):
        path.write_text("x")
    removed = remove_stale_temporaries(tmp_path, {"history.csv"})
    assert removed == [ours]
    assert theirs.exists() and lookalike.exists() and below.exists()
    assert remove_stale_temporaries(tmp_path / "missing", {"history.csv"}) == []
    assert remove_stale_temporaries(tmp_path, lambda name: name.endswith(".txt")) == [theirs]
