"""No traceback for anything outside bprop's own bugs: OS errors, memory, malformed data and
checkpoints, sizes too large for the machine, files that are not files, bombs, loose types."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.system import atomic, reading, testhooks

from helpers import CONFIG_DIR, cli

TOY = CONFIG_DIR / "moons.yaml"
ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--quiet", "--set", "training.epochs=2", "--set", "data.options.n_samples=120"]
BINARY = (
    "model:\n  layers:\n    - {units: 4, activation: tanh}\n    - {units: 1, activation: sigmoid}\n"
    "loss: binary_cross_entropy\ntraining: {epochs: 1, batching: {type: full}}\n"
)


def assert_one_line(result: object, code: int, message: str) -> None:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == code, output  # type: ignore[attr-defined]
    assert message in output, output
    assert "Traceback" not in output


def config_for(tmp_path: Path, data: str, name: str = "c", target: str | None = None) -> Path:
    config = tmp_path / f"{name}.yaml"
    column = f", target: {target}" if target else ""
    config.write_text(f"name: c\ndata: {{path: {data}{column}}}\n{BINARY}")
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "run"
    assert cli(["train", str(TOY), "--out", str(out), *QUICK]).exit_code == 0
    return out


# ------------------------------------------------------------------------ bugs
def test_an_unexpected_error_is_a_bug_report_with_its_traceback_only_under_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero somewhere deep")

    monkeypatch.setattr("backprop_cli.runs.train.run.train", broken)
    result = cli(["train", str(TOY), "--out", str(tmp_path / "a"), *QUICK])
    assert_one_line(result, 1, "this is a bug in bprop: please report it (ZeroDivisionError")
    assert "bprop --debug" in result.output
    debug = cli(["--debug", "train", str(TOY), "--out", str(tmp_path / "b"), *QUICK])
    assert debug.exit_code == 1 and "Traceback" in debug.output
    assert "division by zero somewhere deep" in debug.output


def test_a_bug_in_gradcheck_never_exits_as_a_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr("backprop_cli.core.gradcheck.run_battery", broken)
    assert_one_line(cli(["gradcheck"]), 70, "this is a bug in bprop")


# ------------------------------------------------------------------- OS errors
def test_a_path_under_a_file_and_a_name_too_long(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("mine")
    under = cli(["train", str(TOY), "--out", str(blocker / "run"), *QUICK])
    assert_one_line(under, 2, "file.txt")
    assert blocker.read_text() == "mine"
    long = cli(["train", str(TOY), "--out", str(tmp_path / ("x" * 300)), *QUICK])
    assert_one_line(long, 2, "the file name is too long")
    missing = cli(["schema", "--out", str(tmp_path / "no" / "such" / "schema.json")])
    assert_one_line(missing, 2, "does not exist")


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only file system"),
     (errno.EDQUOT, "disk quota exceeded")],
)  # fmt: skip
def test_write_errors_exit_2_and_keep_what_is_on_disk(
    code: int, words: str, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}

    def refuse(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "fsync", refuse)
    out = tmp_path / "new"
    assert_one_line(cli(["train", str(TOY), "--out", str(out), *QUICK]), 2, words)
    resumed = cli(["train", str(TOY), "--resume", str(run / "checkpoints/last.npz"), *QUICK,
                   "--set", "training.epochs=4"])  # fmt: skip
    assert_one_line(resumed, 2, words)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert not list(out.rglob("*.tmp")) and not (out / ".bprop.lock").exists()


def test_a_run_directory_removed_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    count = {"rename": 0}

    def remove_after_fifth(point: str) -> None:
        count[point] = count.get(point, 0) + 1
        if count[point] == 5:
            shutil.rmtree(out)

    monkeypatch.setattr(testhooks, "reached", remove_after_fifth)
    result = cli(["train", str(TOY), "--out", str(out), *QUICK])
    assert_one_line(result, 2, "no such file or folder (was it removed while bprop ran?)")


def test_running_out_of_memory_names_the_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backprop_cli.runs.train import plan as plan_module

    def huge(*args: object, **kwargs: object) -> None:
        np.empty((10**9, 10**9))  # 8 EB: no machine allocates it

    monkeypatch.setattr(plan_module, "build_network", huge)
    result = cli(["train", str(TOY), "--out", str(tmp_path / "r"), *QUICK])
    assert_one_line(result, 2, "not enough memory: Unable to allocate")
    assert "EiB" in result.output


# ------------------------------------------------------------- malformed data
def npz(path: Path, members: dict[str, object]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in members.items():
            if isinstance(value, bytes):
                archive.writestr(name, value)
            else:
                buffer = io.BytesIO()
                np.save(buffer, value)
                archive.writestr(f"{name}.npy", buffer.getvalue())


X4, Y4 = np.zeros((4, 2)), np.array([0, 1, 0, 1])
BAD_NPZ = {
    "zero rows": ({"X": np.zeros((0, 2)), "y": np.zeros(0, int)}, "X is empty"),
    "zero-row validation": (
        {"X": X4, "y": Y4, "X_val": np.zeros((0, 2)), "y_val": np.zeros(0, int)},
        "X_val is empty",
    ),
    "lengths differ": ({"X": X4, "y": Y4[:3]}, "y must hold one target per row of X"),
    "widths differ": (
        {"X": X4, "y": Y4, "X_val": np.zeros((2, 3)), "y_val": Y4[:2]},
        "X_val has 3 columns, X has 2",
    ),
    "strings": ({"X": np.array([["a", "b"]] * 4), "y": Y4}, "X must hold real numbers"),
    "complex": ({"X": X4, "y": Y4 + 1j}, "y must hold real numbers"),
    "not an array": ({"X": X4, "y": b"not a .npy member"}, "member 'y' is not a .npy array"),
    "0-d target": ({"X": X4, "y": np.array(1)}, "y must hold one target per row"),
    "negative label": ({"X": X4, "y": -Y4 - 2}, "y holds the label -3; integer labels are class "
                       "indices 0 … K−1"),
    "negative validation label": (
        {"X": X4, "y": Y4, "X_val": X4, "y_val": -Y4}, "y_val holds the label -1;"
    ),
    # a label of 10¹² once named 10¹² classes, one string each, before any check
    "huge label": ({"X": np.zeros((40, 2)), "y": np.array([0, 1] * 19 + [0, 10**12])},
                   "y holds the label "
                   "1,000,000,000,000, which makes 1,000,000,000,001 classes"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_NPZ)
def test_malformed_data_archives_exit_2(case: str, tmp_path: Path) -> None:
    members, message = BAD_NPZ[case]
    npz(tmp_path / "data.npz", members)
    result = cli(["train", str(config_for(tmp_path, "data.npz")), "--out", str(tmp_path / "o")])
    assert_one_line(result, 2, message)
    assert "data.npz" in result.output and not (tmp_path / "o").exists()


def _arrow_table(path: Path, columns: dict[str, list[object]], types: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    kinds = {k: getattr(pa, types.get(k, "float64"))() for k in columns}
    table = pa.table({k: pa.array(v, type=kinds[k]) for k, v in columns.items()})
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        feather.write_feather(table, path)


def _rows_then(last: str) -> str:
    return "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(200_000)) + last


NOT_UTF8 = [b"\xff\xfe" if i == 5 else b"x" for i in range(40)]
LABELS = [float(i % 2) for i in range(40)]
BAD_TABLES = {
    "binary feature, Parquet": ("t.parquet", lambda p: _arrow_table(
        p, {"c": NOT_UTF8, "y": LABELS}, {"c": "binary"}),
        "t.parquet: row 6, column 'c': b'\\xff\\xfe' is not UTF-8 text"),
    "binary feature, Feather": ("t.feather", lambda p: _arrow_table(
        p, {"a": LABELS, "c": NOT_UTF8, "y": LABELS}, {"c": "binary"}),
        "t.feather: row 6, column 'c': b'\\xff\\xfe' is not UTF-8 text"),
    "binary target": ("t.parquet", lambda p: _arrow_table(
        p, {"a": LABELS, "y": NOT_UTF8}, {"y": "binary"}), "row 6, column 'y': b'\\xff\\xfe'"),
    "no columns, Parquet": ("t.parquet", lambda p: _arrow_table(p, {}, {}),
                            "t.parquet: has no columns"),
    "no columns, Feather": ("t.feather", lambda p: _arrow_table(p, {}, {}),
                            "t.feather: has no columns"),
    # past the first block, from which Arrow infers the target's type
    "text in a numeric target": ("t.csv", lambda p: p.write_text(_rows_then("7,oops\n")),
                                 "t.csv: row 200002, column 'y': 'oops' is not a number, and "
                                 "the target's first rows are numbers"),
    "a 2 MiB cell": ("t.csv", lambda p: p.write_text(f'a,y\n0,1\n1,0\n1,"{"x" * 2**21}"\n'),
                     "t.csv: row 4 is longer than 1.0 MiB"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_TABLES)
def test_table_files_that_are_not_what_they_claim_exit_2(case: str, tmp_path: Path) -> None:
    name, make, message = BAD_TABLES[case]
    make(tmp_path / name)
    config = config_for(tmp_path, name, target="y")
    result = cli(["train", str(config), "--out", str(tmp_path / "o")])
    assert_one_line(result, 2, message)
    assert not (tmp_path / "o").exists()


def tamper(source: Path, target: Path, **changes: object) -> Path:
    with np.load(source) as archive:
        arrays: dict[str, object] = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    npz(target, arrays)
    return target


BAD_CHECKPOINTS = {
    "0-d weight": ({"layers.0.W": np.array(1.0)}, "layers.0.W must be an array of floats"),
    "1-d weight": ({"layers.0.W": np.ones(3)}, "layers.0.W must be 2-D"),
    "negative epoch": ({"epoch": np.array(-3)}, "epoch must be a whole number from 0 to 2**53"),
    "huge step": (
        {"step": np.array(2**63 - 1)},
        "step must be a whole number from 0 to 2**53; received 9223372036854775807",
    ),
    "huge update count": ({"optimizer.step_count": np.array(2**62)}, "optimizer.step_count must"),
    "weights past the epoch": ({"params_epoch": np.array(99)}, "params_epoch (99) is past epoch"),
    "rng state out of range": (
        {
            "rng_state": np.array(
                json.dumps(
                    {
                        "bit_generator": "PCG64",
                        "state": {"state": -1, "inc": 7},
                        "has_uint32": 0,
                        "uinteger": 0,
                    }
                )
            )
        },
        "rng_state is not a state bprop writes: its state must be a whole number from 0",
    ),
    "rng state of another generator": (
        {"rng_state": np.array('{"bit_generator": "MT19937", "state": {"key": [1], "pos": 0}}')},
        "rng_state is not a state bprop writes: not the state of a PCG64 generator",
    ),
    "rng state not JSON": (
        {"rng_state": np.array("{")},
        "rng_state is not a state bprop writes: not JSON",
    ),
    "monitor state": (
        {"monitor_state": np.array('{"best": 0.5, "best_epoch": -1, "wait": 0}')},
        "monitor_state is not a state bprop writes: best_epoch and wait must",
    ),
    "string weights": ({"layers.0.b": np.array(["a"] * 16)}, "layers.0.b must be an array"),
    "not an array": ({"monitor_state": b"raw bytes"}, "member 'monitor_state' is not a .npy"),
    "non-finite weights": ({"layers.1.b": np.array([np.nan])}, "layers.1.b holds NaN or Inf"),
    "zero std": ({"preprocess.std": np.array([1.0, 0.0])}, "preprocess.std must be positive"),
    "std width": (
        {"preprocess.std": np.ones(3), "preprocess.mean": np.zeros(3)},
        "standardization of 3 features",
    ),
}


@pytest.mark.parametrize("case", BAD_CHECKPOINTS)
@pytest.mark.parametrize("use", ["evaluate", "resume", "predict", "export"])
def test_malformed_checkpoints_exit_2(case: str, use: str, run: Path, tmp_path: Path) -> None:
    changes, message = BAD_CHECKPOINTS[case]
    bad = tamper(run / "checkpoints/last.npz", tmp_path / "bad.npz", **changes)
    out = tmp_path / "o"
    if use == "evaluate":
        result = cli(["evaluate", str(bad)])
    elif use == "predict":
        (tmp_path / "in.csv").write_text("a,b\n0.5,0.25\n")
        result = cli(["predict", str(bad), str(tmp_path / "in.csv"), "--out", str(out)])
    elif use == "export":
        result = cli(["export", str(bad), "--out", str(out)])
    else:
        result = cli(["train", str(TOY), "--resume", str(bad), "--out", str(out), *QUICK,
                      "--set", "training.epochs=3"])  # fmt: skip
    assert_one_line(result, 2, message)
    assert str(bad) in result.output and not out.exists()


def test_a_predict_input_of_the_wrong_shape_exits_2(run: Path, tmp_path: Path) -> None:
    for name, X in (("scalar", np.array(1.0)), ("empty", np.zeros((0, 2))), ("1d", np.ones(2))):
        path = tmp_path / f"{name}.npz"
        np.savez(path, X=X)
        assert_one_line(cli(["predict", str(run), str(path)]), 2, f"{name}.npz")


def test_a_predict_input_beyond_the_networks_float32_names_its_row(
    run: Path, tmp_path: Path
) -> None:
    """1e39 is a finite float64 but no float32: it once became inf, and its prediction nan."""
    rows = tmp_path / "far.csv"
    rows.write_text("a,b\n0.5,0.25\n1e39,0\n")
    result = cli(["predict", str(run), str(rows), "--out", str(tmp_path / "p.csv")])
    assert_one_line(result, 2, "far.csv: row 2, column 1: 1e+39 (standardized: ")
    assert "is beyond the range of float32" in result.output
    assert not (tmp_path / "p.csv").exists()


# ---------------------------------------------------------------------- sizes
def test_a_network_too_large_for_the_machine_is_refused_but_summarized(tmp_path: Path) -> None:
    config = tmp_path / "big.yaml"
    text = TOY.read_text().replace("units: 16", "units: 1000000000000")
    assert "units: 1000000000000" in text
    config.write_text(text)
    result = cli(["train", str(config), "--out", str(tmp_path / "o")])
    assert_one_line(result, 2, "model.layers: a network of 4,000,000,000,001 parameters")
    assert "TiB" in result.output and not (tmp_path / "o").exists()
    summary = cli(["summary", str(config)])  # counts the parameters without allocating them
    assert summary.exit_code == 0, summary.output
    assert "total parameters: 4,000,000,000,001" in summary.output


SIZES = {
    "samples": (["train", str(TOY), "--set", "data.options.n_samples=100000000000"],
                "data.options.n_samples: 100,000,000,000 samples needs"),
    "samples as 1e11": (["train", str(TOY), "--set", "data.options.n_samples=1e11"],
                        "data.options.n_samples: 100,000,000,000 samples needs"),
    "random": (["sweep", str(TOY), "--random", "1000000000", "--space",
                "optimizer.lr=loguniform:1e-4:1"], "1,000,000,000 trials; a sweep runs at most"),
    "grid": (["sweep", str(TOY), *[a for k in ("optimizer.lr", "seed", "model.layers.0.units")
             for a in ("--grid", f"{k}=" + ",".join(str(v) for v in range(1, 1001)))]],
             "make 1,000,000,000 trials"),
    "int bound": (["sweep", str(TOY), "--random", "2", "--space", "seed=int:1:1e30"],
                  "needs whole-number bounds"),
    "infinite bound": (["sweep", str(TOY), "--random", "2", "--space",
                        "optimizer.lr=uniform:0:inf"], "needs finite bounds"),
    "range test": (["lr-find", str(TOY), "--steps", "1000000000"],
                   "--steps: 1,000,000,000 updates; a range test makes at most 100,000"),
    "folds": (["cv", str(TOY), "--folds", "1000000000"], "--folds: 1,000,000,000 folds; a "
              "cross-validation runs at most 100,000"),
    "folds of a sweep": (["sweep", str(TOY), "--grid", "optimizer.lr=0.1,0.2", "--folds",
                          "1000000000"], "--folds: 2 trials × 1,000,000,000 folds make "
                         "2,000,000,000 runs; a sweep runs at most 100,000"),
}  # fmt: skip


@pytest.mark.parametrize("case", SIZES)
def test_sizes_are_checked_before_anything_is_allocated(case: str, tmp_path: Path) -> None:
    args, message = SIZES[case]
    result = cli([*args, "--out", str(tmp_path / "o")])
    assert_one_line(result, 2, message)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("address", "message"),
    [("not an address", "'not an address' is not the address of a Dask scheduler"),
     ("tcp://127.0.0.1:99999", "99999 is not a port number (1 to 65535)"),
     ("127.0.0.1:0", "0 is not a port number"),
     ("http://127.0.0.1:8786", "Dask's scheduler does not speak http://")],
)  # fmt: skip
@pytest.mark.parametrize("command", ["cv", "sweep", "compare-optimizers"])
def test_a_dask_address_that_cannot_be_one_is_refused_at_once(
    command: str, address: str, message: str, tmp_path: Path
) -> None:
    """Before the config is read (not after the connection's 10 s timeout)."""
    extra = ["--grid", "optimizer.lr=0.1"] if command == "sweep" else []
    out = tmp_path / "o"
    result = cli([command, str(tmp_path / "no-config.yaml"), *extra, "--dask", address,
                  "--out", str(out)])  # fmt: skip
    assert_one_line(result, 2, message)
    assert "Invalid value for '--dask'" in result.output and not out.exists()


# ------------------------------------------------------- files that aren't files
def special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"fifo": fifo, "device": Path("/dev/zero"), "folder": tmp_path}


@pytest.mark.parametrize("role", ["config", "data", "checkpoint", "predict input"])
def test_pipes_devices_and_folders_are_refused_before_reading(
    role: str, run: Path, tmp_path: Path
) -> None:
    """In child processes with a timeout: reading one of these would block or never end."""

    def attempt(special: Path) -> subprocess.CompletedProcess[str]:
        args = {
            "config": ["train", str(special)],
            "data": ["train", str(config_for(tmp_path, str(special), special.name))],
            "checkpoint": ["train", str(TOY), "--resume", str(special), "--out",
                           str(tmp_path / "o")],
            "predict input": ["predict", str(run), str(special)],
        }[role]  # fmt: skip
        command = [sys.executable, "-m", "backprop_cli", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)

    specials = special_files(tmp_path)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(specials, pool.map(attempt, specials.values()), strict=True))
    for kind, result in results.items():
        assert result.returncode == 2, (kind, result.stderr)
        expected = "is a folder" if kind == "folder" else "not a regular file"
        assert expected in result.stderr and "Traceback" not in result.stderr, (kind, result)


def test_a_gzip_bomb_stops_as_it_unpacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "unpacked_limit", lambda: 8 * 2**20)
    with gzip.open(tmp_path / "bomb.csv.gz", "wb", compresslevel=9) as fh:
        fh.write(b"a,b,y\n")
        for _ in range(64):
            fh.write(b"0,0,1\n" * 200_000)  # 76 MB unpacked, 80 kB packed
    assert (tmp_path / "bomb.csv.gz").stat().st_size < 1_000_000
    result = cli(["train", str(config_for(tmp_path, "bomb.csv.gz", target="y"))])
    assert_one_line(result, 2, "bomb.csv.gz: unpacks to more than 8.0 MiB")


def test_a_zip_bomb_in_an_npz_is_refused_before_unpacking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "unpacked_limit", lambda: 8 * 2**20)
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((2_000_000, 2)))
        archive.writestr("X.npy", buffer.getvalue())
        archive.writestr("y.npy", buffer.getvalue())
    result = cli(["train", str(config_for(tmp_path, "bomb.npz"))])
    assert_one_line(result, 2, "bomb.npz: unpacks to 61.0 MiB, more than 8.0 MiB")


@pytest.mark.parametrize("use", ["data", "checkpoint"])
def test_an_npy_header_that_declares_more_than_its_bytes_is_refused_naming_it(
    use: str, tmp_path: Path
) -> None:
    """A member claiming 10¹² float64 values in 64 bytes would ask for 7.3 TiB before the bytes
    were found missing: refused from its header, naming the file and the member."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(64))
        labels = io.BytesIO()
        np.save(labels, np.zeros(3, dtype=np.int64))
        archive.writestr("y.npy", labels.getvalue())
    args = (
        ["train", str(config_for(tmp_path, "lie.npz"))]
        if use == "data"
        else ["evaluate", str(path)]
    )
    assert_one_line(cli(args), 2, "lie.npz: member 'X' declares shape (1000000000000,) (7.3 TiB)")


def test_targets_that_do_not_fit_the_loss_name_the_file_and_the_split(tmp_path: Path) -> None:
    """Labels as a column (shape (n, 1)) for a softmax: the message says whose they are."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(60, 2)), y=rng.integers(0, 2, (60, 1)))
    softmax = ["--set", "model.layers.1={units: 2, activation: softmax}"]
    result = cli(["train", str(config_for(tmp_path, "d.npz")), *softmax,
                  "--set", "loss=cross_entropy"])  # fmt: skip
    assert_one_line(
        result, 2, "d.npz: the training split's targets: cross_entropy labels must be 1-D"
    )


# ------------------------------------------------------------------- messages
def test_a_yaml_alias_bomb_is_refused_in_a_short_message(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join([*lines, "name: *a9", ""]))
    result = cli(["train", str(config)])
    assert_one_line(result, 2, "bomb.yaml: expands to more than 1,000,000 values")
    assert len(result.output) < 500


def test_messages_quoting_the_input_are_bounded(tmp_path: Path) -> None:
    config = tmp_path / "long.yaml"
    raw = "name: " + "x" * 100_000 + " y\ndata: {dataset: moons, options: {noise: [" + (
        ", ".join(["[1, 2, 3]"] * 5000)
    ) + "]}}\n"  # fmt: skip
    config.write_text(raw)
    result = cli(["config", str(config)])
    assert result.exit_code == 2
    assert len(result.output) < 3000, len(result.output)
    many = tmp_path / "many.yaml"
    many.write_text("name: m\n" + "".join(f"k{i}: 1\n" for i in range(500)))
    flooded = cli(["config", str(many)])
    assert flooded.exit_code == 2 and "… and " in flooded.output and "more lines" in flooded.output
    assert len(flooded.output.splitlines()) <= 41


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    config = tmp_path / "dup.yaml"
    config.write_text(TOY.read_text() + "\nseed: 3\nseed: 4\n")
    assert_one_line(cli(["config", str(config)]), 2, "duplicate key 'seed'")


def test_the_c_yaml_loader_is_used_where_present() -> None:
    import yaml

    from backprop_cli.config.loading import _Loader

    if getattr(yaml, "__with_libyaml__", False):
        assert issubclass(_Loader, yaml.CSafeLoader)
    assert issubclass(_Loader, yaml.SafeLoader) or issubclass(_Loader, yaml.CSafeLoader)


# ------------------------------------------------------------------- strictness
LOOSE = {
    "epochs: yes": ("training.epochs=yes", "training.epochs: Input should be a valid integer"),
    "lr: true": ("optimizer.lr=true", "optimizer.lr: Input should be a valid number"),
    'units: "3"': ('model.layers.0.units="3"', "model.layers.0.units: Input should be a valid "
                   "integer"),
    "lr: .inf": ("optimizer.lr=.inf", "optimizer.lr: Input should be a finite number"),
    "eps: .nan": ("optimizer={type: adam, eps: .nan}", "optimizer.eps: Input should be a finite"),
    "std: .inf": ("model.layers.0={units: 16, init: normal, std: .inf}",
                  "model.layers.0.std: Input should be a finite"),
    "bias: -.inf": ("model.layers.0.bias=-.inf", "model.layers.0.bias: Input should be a finite"),
    "max_norm: .inf": ("training.clip={type: norm, max_norm: .inf}",
                       "training.clip.max_norm: Input should be a finite"),
    "min_delta: .nan": ("training.early_stopping={min_delta: .nan}",
                        "training.early_stopping.min_delta: Input should be a finite"),
    "noise: .nan": ("data.options.noise=.nan", "data.options.noise: expected a finite number"),
}  # fmt: skip


@pytest.mark.parametrize("case", LOOSE)
def test_loose_types_and_non_finite_numbers_are_refused_at_validation(case: str) -> None:
    override, message = LOOSE[case]
    result = cli(["config", str(TOY), "--set", override])
    assert_one_line(result, 2, f"--set {message}")  # the value is --set's, not the file's


def test_scientific_notation_reads_as_numbers() -> None:
    result = cli(["config", str(TOY), "--set", "optimizer.lr=1e-3", "--set", "seed=7"])
    assert result.exit_code == 0, result.output
    assert "lr: 0.001" in result.output


def test_a_sweep_metric_that_is_not_a_column(tmp_path: Path) -> None:
    args = ["sweep", str(TOY), "--grid", "optimizer.lr=0.1", "--out", str(tmp_path / "s")]
    result = cli([*args, "--metric", "val_los"])
    assert_one_line(result, 2, "--metric: 'val_los' is not a column of the history; did you mean "
                    "'val_loss'?")  # fmt: skip
    assert not (tmp_path / "s").exists()


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    rows = "".join(f"{i / 10},{(i * 7) % 10 / 10},{i % 2}\n" for i in range(40))
    (tmp_path / "bom.csv").write_bytes(("\ufeffa,b,label\n" + rows).encode("utf-8"))
    config = tmp_path / "bom.yaml"
    config.write_bytes(
        ("\ufeffname: bom\ndata: {path: bom.csv, target: label}\n" + BINARY).encode("utf-8")
    )
    result = cli(["train", str(config), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["stop_reason"] == "completed"
    with np.load(tmp_path / "o" / "checkpoints" / "last.npz") as checkpoint:
        columns = json.loads(str(checkpoint["data.columns"]))
    assert columns == {
        "features": ["a", "b"],
        "target": "label",
        "classes": ["0", "1"],
    }  # no "\ufeffa"


@pytest.mark.parametrize("case", ["fifo", "not utf-8", "missing"])
def test_a_broken_folder_of_shipped_data_sets_exits_2(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BPROP_DATASETS naming a folder whose iris.csv is a pipe (never opened, so never waited
    on), not text, or absent."""
    iris = tmp_path / "iris.csv"
    if case == "fifo":
        os.mkfifo(iris)
    elif case == "not utf-8":
        iris.write_bytes(b"\xff\xfe150,4,setosa\n")
    monkeypatch.setenv("BPROP_DATASETS", str(tmp_path))
    result = cli(["train", str(CONFIG_DIR / "iris.yaml"), "--out", str(tmp_path / "run")])
    expected = {
        "fifo": "not a regular file",
        "not utf-8": "the shipped iris file is not readable",
        "missing": "BPROP_DATASETS names a folder without it",
    }[case]
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not (tmp_path / "run").exists()
