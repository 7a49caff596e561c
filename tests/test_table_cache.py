"""The cache of prepared tables as a trust boundary: what its key covers, what it serves, and
what it deletes. Each entry is served only whole and verified, a file replaced while bprop reads
it never poisons an entry, and eviction touches nothing bprop did not write."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backprop_cli.config.models import DataConfig
from backprop_cli.data import load_data
from backprop_cli.data.table import cache
from backprop_cli.errors import ConfigError, DataError
from backprop_cli.system import testhooks


def load(path: Path, **data: Any) -> Any:
    """The splits of ``path`` (standardized, with a validation and a test split)."""
    section = DataConfig.model_validate(
        {"path": str(path), "validation_split": 0.2, "test_split": 0.2, **data}
    )
    return load_data(section, "classification", np.random.default_rng(0), True, np.float64)


def table(path: Path, rows: int = 40, shift: float = 0.0) -> Path:
    """A comma-separated table of two features and a 0/1 label."""
    lines = ["a,b,y"] + [f"{i + shift},{(i * 7) % 11},{i % 2}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def root() -> Path:
    return Path(os.environ["BPROP_CACHE_DIR"]) / "tables"


def entries() -> list[Path]:
    """The folders named as entries are (a key: 40 hexadecimal digits)."""
    return sorted(p for p in root().iterdir() if re.fullmatch("[0-9a-f]{40}", p.name))


# ------------------------------------------------------------------ the key
@pytest.mark.parametrize("other", ["d.tsv", "d.csv.gz"])
def test_the_same_bytes_under_another_format_are_parsed_as_that_format(
    other: str, tmp_path: Path
) -> None:
    """A byte-identical copy of ``d.csv`` named ``d.tsv`` is one column of text to the TSV
    reader, and ``d.csv.gz`` must be unpacked: neither may be served the CSV's parse."""
    path = table(tmp_path / "d.csv")
    assert load(path, target="y").report["cache"] == "stored"
    copy = tmp_path / other
    copy.write_bytes(path.read_bytes())
    with pytest.raises(DataError) as cached:
        load(copy, target="y")
    os.environ["BPROP_NO_CACHE"] = "1"
    try:
        with pytest.raises(DataError) as uncached:
            load(copy, target="y")
    finally:
        del os.environ["BPROP_NO_CACHE"]
    assert str(cached.value) == str(uncached.value)


def test_a_gzipped_copy_is_its_own_entry_with_the_same_arrays(tmp_path: Path) -> None:
    path = table(tmp_path / "d.csv")
    plain = load(path, target="y")
    packed = tmp_path / "d.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    unpacked = load(packed, target="y")
    assert unpacked.report["cache"] == "stored" and len(entries()) == 2
    np.testing.assert_array_equal(plain.train.X, unpacked.train.X)


# ------------------------------------------- a file replaced while it is read
def test_a_file_replaced_between_hashing_and_parsing_poisons_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data.csv`` is atomically replaced (A → B) just after bprop hashed A and before it parses:
    the run trains on B as parsed, but B's parse is not stored under A's digest, so a later run
    on A gets A."""
    path = table(tmp_path / "data.csv")
    replacement = table(tmp_path / "b.csv", shift=1000.0)
    expected_a = load(path, target="y")  # A's parse, stored
    for entry in entries():  # start again from an empty cache
        cache._remove(entry)
    assert entries() == []

    def replace_once(point: str) -> None:
        if point == "hashed" and replacement.exists():
            os.replace(replacement, path)

    monkeypatch.setattr(testhooks, "reached", replace_once)
    raced = load(tmp_path / "data.csv", target="y")
    assert raced.report["cache"] == "off" and entries() == []
    assert raced.mean[0] > 500  # B's feature a (shifted by 1000) is what it trained on
    monkeypatch.undo()

    table(path)  # A again, byte for byte
    again = load(path, target="y")
    np.testing.assert_array_equal(again.train.X, expected_a.train.X)


# -------------------------------------------------- entries served only whole
def _entry_after_one_load(tmp_path: Path) -> tuple[Any, Path]:
    first = load(table(tmp_path / "d.csv"), target="y")
    (entry,) = entries()
    return first, entry


def _shape_changed(entry: Path) -> None:
    path = entry / "X_train.npy"
    data = path.read_bytes()
    rows = np.load(path).shape[0]
    header_end = data.index(b"\n") + 1
    header = data[:header_end].replace(f"({rows}, 2)".encode(), f"({rows // 2}, 4)".encode())
    path.write_bytes(header + data[header_end:])


def _dtype_changed(entry: Path) -> None:
    path = entry / "X_train.npy"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"'<f8'", b"'<i8'", 1))


def _header_shortened(entry: Path) -> None:
    path = entry / "y_train.npy"
    path.write_bytes(path.read_bytes()[:20])


def _removed(name: str) -> Any:
    return lambda entry: (entry / name).unlink()


@pytest.mark.parametrize(
    "damage",
    [_shape_changed, _dtype_changed, _header_shortened, _removed("X_val.npy"),
     _removed("std.npy"), _removed("y_test.npy")],
    ids=["shape", "dtype", "short-header", "no-X_val", "no-std", "no-y_test"],
)  # fmt: skip
def test_a_changed_or_missing_file_of_an_entry_is_rebuilt_never_served(
    damage: Any, tmp_path: Path
) -> None:
    first, entry = _entry_after_one_load(tmp_path)
    damage(entry)
    again = load(tmp_path / "d.csv", target="y")
    assert again.report["cache"] == "stored"  # rebuilt from the file
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test", "mean", "std"):
        got, want = cache.arrays_of(again)[name], cache.arrays_of(first)[name]
        assert got is not None, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert load(tmp_path / "d.csv", target="y").report["cache"] == "hit"


def test_the_manifest_lists_every_file_with_its_size_and_digest(tmp_path: Path) -> None:
    _, entry = _entry_after_one_load(tmp_path)
    manifest = json.loads((entry / "meta.json").read_text())
    listed = manifest["files"]
    assert set(listed) == {p.name for p in entry.iterdir()} - {"meta.json"}
    for name, record in listed.items():
        assert record["size"] == (entry / name).stat().st_size
        assert record["sha256"] == cache.file_digest(entry / name)


def test_an_entry_in_a_folder_others_can_write_is_not_used(tmp_path: Path) -> None:
    """Anyone who can write ``tables/`` could plant an entry under a known key: such a folder is
    not a cache (the run goes on without one) and is left as it is."""
    _, entry = _entry_after_one_load(tmp_path)
    root().chmod(0o777)
    try:
        again = load(tmp_path / "d.csv", target="y")
        assert again.report["cache"] == "off" and entry.is_dir()
    finally:
        root().chmod(0o700)
    assert load(tmp_path / "d.csv", target="y").report["cache"] == "hit"


def test_the_tables_folder_is_made_private(tmp_path: Path) -> None:
    _entry_after_one_load(tmp_path)
    assert root().stat().st_mode & 0o777 == 0o700


def test_a_symlinked_tables_folder_is_not_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    root().parent.mkdir(parents=True, exist_ok=True)
    root().symlink_to(elsewhere)
    assert load(table(tmp_path / "d.csv"), target="y").report["cache"] == "off"
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------- eviction deletes only entries
def test_eviction_removes_only_entries_bprop_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``BPROP_CACHE_DIR=proj`` with a tiny size limit: the user's folders under ``tables/``
    (one with a ``meta.json``, one named like an entry but holding the user's file) survive
    every eviction; bprop's own older entries go."""
    users = root() / "sales-2024"
    users.mkdir(parents=True)
    (users / "meta.json").write_text('{"owner": "me"}')
    (users / "q1.csv").write_text("precious\n")
    lookalike = root() / ("a" * 40)
    lookalike.mkdir()
    (lookalike / "meta.json").write_text("{}")
    (lookalike / "notes.txt").write_text("mine\n")
    monkeypatch.setenv("BPROP_CACHE_MAX_BYTES", "1")
    for k in range(3):
        load(table(tmp_path / f"d{k}.csv", shift=k), target="y")
    assert (users / "q1.csv").read_text() == "precious\n"
    assert (users / "meta.json").is_file()
    assert (lookalike / "notes.txt").read_text() == "mine\n"
    assert [p for p in entries() if p != lookalike] != []  # the newest entry is kept
    assert len([p for p in entries() if p != lookalike]) == 1  # the older ones were evicted


def test_a_damaged_folder_that_is_not_provably_an_entry_is_left_alone(tmp_path: Path) -> None:
    """A folder named like an entry whose manifest does not verify is removed only when it holds
    nothing but the files bprop writes."""
    _, entry = _entry_after_one_load(tmp_path)
    (entry / "X_train.npy").write_bytes(b"\x93NUMPY garbage")
    (entry / "my-notes.txt").write_text("keep me\n")
    again = load(tmp_path / "d.csv", target="y")
    assert again.report["cache"] in ("stored", "off")
    assert (entry / "my-notes.txt").read_text() == "keep me\n"


# ------------------------------------------------------- entries as users' machines leave them
def test_under_a_group_writable_umask_entries_still_hit_and_leave_no_temporary(
    tmp_path: Path,
) -> None:
    """umask 002 (many distributions' default) would make an entry's files group-writable,
    which the check refuses: bprop gives its folders 0700 and its files 0600 itself."""
    previous = os.umask(0o002)
    try:
        first = load(table(tmp_path / "d.csv"), target="y")
        second = load(tmp_path / "d.csv", target="y")
    finally:
        os.umask(previous)
    assert (first.report["cache"], second.report["cache"]) == ("stored", "hit")
    assert [p.name for p in root().iterdir()] == [entries()[0].name]  # no .KEY.RANDOM.tmp left
    (entry,) = entries()
    assert entry.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in entry.iterdir()} == {0o600}


def _classes_swapped(entry: Path) -> None:
    meta = json.loads((entry / "meta.json").read_text())
    encoding = json.loads(meta["encoding"])  # the fitted encoding, as its own JSON text
    encoding["classes"] = list(reversed(encoding["classes"]))
    meta["encoding"] = json.dumps(encoding)
    (entry / "meta.json").write_text(json.dumps(meta))


def _manifest_removed(entry: Path) -> None:
    (entry / "meta.json").unlink()


def _manifest_nested(entry: Path) -> None:
    (entry / "meta.json").write_text("[" * 200_000)


def _folder_group_writable(entry: Path) -> None:
    entry.chmod(0o770)


def _file_made_a_symlink(entry: Path) -> None:
    target = entry.parent.parent / "elsewhere.npy"
    (entry / "X_test.npy").rename(target)
    (entry / "X_test.npy").symlink_to(target)


@pytest.mark.parametrize(
    "damage",
    [_classes_swapped, _manifest_removed, _manifest_nested, _folder_group_writable,
     _file_made_a_symlink],
    ids=["classes-edited", "no-manifest", "nested-manifest", "group-writable", "symlinked-file"],
)  # fmt: skip
def test_a_damaged_entry_is_rebuilt_and_served_again(damage: Any, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 5},{'xyz'[i % 3]}\n" for i in range(60)))
    first = load(path, target="y")
    (entry,) = entries()
    damage(entry)
    again = load(path, target="y")
    assert again.report["cache"] == "stored"  # rebuilt, and truly stored again:
    assert load(path, target="y").report["cache"] == "hit"
    assert again.classes == first.classes == ["x", "y", "z"]
    np.testing.assert_array_equal(again.train.y, first.train.y)


def test_a_mistyped_size_limit_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``10G`` would otherwise mean no limit at all."""
    monkeypatch.setenv("BPROP_CACHE_MAX_BYTES", "10G")
    with pytest.raises(ConfigError, match=r"BPROP_CACHE_MAX_BYTES: '10G' is not a whole number"):
        load(table(tmp_path / "d.csv"), target="y")


def test_eviction_leaves_a_folder_named_like_an_entry_whose_manifest_is_not_bprops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = root() / "0123456789abcdef0123456789abcdef01234567"
    mine.mkdir(parents=True)
    (mine / "meta.json").write_text("important")
    (mine / "X_train.npy").write_text("data")
    monkeypatch.setenv("BPROP_CACHE_MAX_BYTES", "0")
    load(table(tmp_path / "d.csv"), target="y")
    assert (mine / "meta.json").read_text() == "important"
    assert (mine / "X_train.npy").read_text() == "data"


def test_the_folder_of_a_killed_store_is_removed_once_it_is_a_day_old(tmp_path: Path) -> None:
    load(table(tmp_path / "d.csv"), target="y")
    (entry,) = entries()
    killed, recent = (root() / f".{entry.name}.{k * 8}.tmp" for k in ("0", "1"))
    for folder in (killed, recent):
        folder.mkdir(mode=0o700)
        (folder / "X_train.npy").write_bytes(b"part of an array")
    day_and_more = time.time() - cache.STALE_SECONDS - 60
    os.utime(killed, (day_and_more, day_and_more))
    load(table(tmp_path / "e.csv", shift=1.0), target="y")  # a store, then eviction
    assert not killed.exists() and recent.is_dir()  # a store may still be writing that one
