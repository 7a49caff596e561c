"""bprop deletes, overwrites or mixes only files it wrote itself: stale temporaries by name, the
run a checkpoint belongs to, one process per output directory, named outputs replaced only with
--overwrite, and files created with the user's umask."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_cli.system.locking import LOCK_FILE, hold

from helpers import CONFIG_DIR, cli, history_of

TOY = CONFIG_DIR / "moons.yaml"
ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--quiet", "--set", "training.epochs=2", "--set", "data.options.n_samples=120"]


def train(out: Path, *extra: str) -> object:
    return cli(["train", str(TOY), "--out", str(out), *QUICK, *extra])


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with a digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert train(out).exit_code == 0  # type: ignore[attr-defined]
    return out


# ---------------------------------------------------------------- temporaries
def test_only_bprops_own_temporaries_are_removed_and_only_beside_its_files(run: Path) -> None:
    mine = [run / ".config.yaml.abcd1234.tmp", run / "checkpoints" / ".last.npz.0a1b2c3d.tmp",
            run / "checkpoints" / ".epoch-0007.npz.zz99zz99.tmp"]  # fmt: skip
    theirs = [run / ".notes.txt.abcd1234.tmp", run / ".user.tmp", run / "data.tmp",
              run / "checkpoints" / ".mine.npz.abcd1234.tmp",
              run / "sub" / ".config.yaml.abcd1234.tmp",
              run / "checkpoints" / "old" / ".last.npz.abcd1234.tmp"]  # fmt: skip
    for path in mine + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    resumed = cli(["train", str(TOY), "--resume", str(run / "checkpoints/last.npz"), *QUICK,
                   "--set", "training.epochs=3"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert not any(p.exists() for p in mine)
    assert all(p.read_text() == "x" for p in theirs)


def test_a_folder_of_the_users_files_is_never_a_run_directory(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "notes").mkdir(parents=True)
    (proj / "notes" / ".draft.md.swp1234a.tmp").write_text("mine")
    (proj / "loss.png").write_text("my picture")
    before = snapshot(proj)
    result = train(proj)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "is not empty" in result.output  # type: ignore[attr-defined]
    assert snapshot(proj) == before


# --------------------------------------------------------------------- resume
def test_resuming_a_checkpoint_kept_outside_its_run_needs_out(run: Path, tmp_path: Path) -> None:
    s = tmp_path / "s"
    (s / "saved").mkdir(parents=True)
    shutil.copy(run / "checkpoints" / "last.npz", s / "saved" / "m.npz")
    (s / "config.yaml").write_text("my own config\n")
    (s / "history.json").write_text("not a history")
    (s / "deep").mkdir()
    (s / "deep" / ".x.y.tmp").write_text("keep")
    before = snapshot(s)
    result = cli(["train", str(TOY), "--resume", str(s / "saved" / "m.npz"), *QUICK])
    assert result.exit_code == 2, result.output
    assert "pass --out" in result.output and "Traceback" not in result.output
    assert snapshot(s) == before
    # With --out it continues in a new directory, from the checkpoint's epoch.
    fresh = tmp_path / "continued"
    result = cli(["train", str(TOY), "--resume", str(s / "saved" / "m.npz"), "--out",
                  str(fresh), *QUICK, "--set", "training.epochs=4"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in history_of(fresh)] == [3, 4]
    assert snapshot(s) == before


def test_resuming_a_run_from_before_its_last_epoch_in_place_is_refused(tmp_path: Path) -> None:
    """Going on from epoch 2 in a run that reached epoch 4 would replace epochs 3 and 4 (their
    history rows, last.npz, best.npz): refused, the run untouched; in a new directory it goes
    on."""
    run = tmp_path / "run"
    args = ["--set", "training.epochs=4", "--set", "output.checkpoint_every=2"]
    assert train(run, *args).exit_code == 0  # type: ignore[attr-defined]
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    early = run / "checkpoints" / "epoch-0002.npz"
    again = cli(["train", str(TOY), "--resume", str(early), *QUICK, *args])
    assert again.exit_code == 2, again.output
    words = " ".join(again.output.split())
    assert "is epoch 2's, but its run's last.npz is epoch 4's" in words
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    elsewhere = cli(["train", str(TOY), "--resume", str(early), "--out", str(tmp_path / "b"),
                     *QUICK, *args])  # fmt: skip
    assert elsewhere.exit_code == 0, elsewhere.output
    assert [row["epoch"] for row in history_of(tmp_path / "b")] == [1, 2, 3, 4]


def test_resuming_into_another_runs_directory_is_refused(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert train(other).exit_code == 0  # type: ignore[attr-defined]
    before = snapshot(other)
    result = cli(["train", str(TOY), "--resume", str(run / "checkpoints/last.npz"), "--out",
                  str(other), *QUICK, "--set", "training.epochs=3"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "holds another run" in result.output
    assert snapshot(other) == before
    # Its own directory, named by --out, is fine.
    own = cli(["train", str(TOY), "--resume", str(run / "checkpoints/last.npz"), "--out",
               str(run), *QUICK, "--set", "training.epochs=3"])  # fmt: skip
    assert own.exit_code == 0, own.output
    assert [r["epoch"] for r in history_of(run)] == [1, 2, 3]


# ---------------------------------------------------------------------- locks
@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """A directory whose lock another holder has."""
    folder = tmp_path / "busy"
    folder.mkdir()
    with hold(folder):
        yield folder


COMMANDS = {
    "train": ["train", str(TOY), *QUICK],
    "compare-optimizers": ["compare-optimizers", str(TOY), "--optimizers", "sgd", *QUICK],
    "sweep": ["sweep", str(TOY), "--grid", "optimizer.lr=0.1", *QUICK],
    "sweep --resume": ["sweep", str(TOY), "--grid", "optimizer.lr=0.1", "--resume", *QUICK],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_in_use_is_refused_at_once(command: str, held: Path) -> None:
    result = cli([*COMMANDS[command], "--out", str(held)])
    assert result.exit_code == 2, result.output
    assert "in use by another run" in result.output
    assert sorted(p.name for p in held.iterdir()) == [LOCK_FILE]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_in_use_is_refused_before_the_data_is_loaded(
    command: str, held: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backprop_cli.data

    loads: list[object] = []
    real = backprop_cli.data.load_raw
    monkeypatch.setattr(backprop_cli.data, "load_raw", lambda *a: loads.append(a) or real(*a))
    result = cli([*COMMANDS[command], "--out", str(held)])
    assert result.exit_code == 2 and "in use by another run" in result.output
    assert loads == []


def test_a_second_run_is_refused_while_the_first_runs_and_a_killed_runs_lock_is_taken_over(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    args = [sys.executable, "-m", "backprop_cli", "train", str(TOY), "--out", str(out), *QUICK]
    # The first run stops itself (SIGSTOP) after its fifth write, in the middle of epoch 1.
    env = os.environ | {"BPROP_TEST_SIGNAL": "SIGSTOP@rename#5"}
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        second = train(out)
        assert second.exit_code == 2  # type: ignore[attr-defined]
        assert f"in use by another run (process {first.pid}" in second.output  # type: ignore[attr-defined]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    # The killed run's lock is stale: resuming takes it over and finishes the run.
    resumed = cli(["train", str(TOY), "--resume", str(out / "checkpoints/initial.npz"), *QUICK])
    assert resumed.exit_code == 0, resumed.output
    assert len(history_of(out)) == 2
    assert not (out / LOCK_FILE).exists()


@pytest.mark.parametrize("kind", ["text", "link", "folder", "fifo"])
@pytest.mark.parametrize("command", ["train", "compare-optimizers"])
def test_a_users_file_named_like_the_lock_is_left_alone_and_the_folder_refused(
    kind: str, command: str, tmp_path: Path
) -> None:
    """A .bprop.lock bprop cannot have written (text, a link to the user's file, a folder, a
    FIFO) is never truncated, followed, written or removed, even in a folder bprop would
    otherwise take (one holding only that name)."""
    out, lock = tmp_path / "out", tmp_path / "out" / LOCK_FILE
    out.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("precious\n")
    if kind == "text":
        lock.write_text("important user data\n")
    elif kind == "link":
        lock.symlink_to(secret)
    elif kind == "folder":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    result = cli([*COMMANDS[command], "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "is not a lock file bprop wrote" in " ".join(result.output.split())
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    assert secret.read_text() == "precious\n"
    if kind == "text":
        assert lock.read_text() == "important user data\n"
    assert lock.is_symlink() == (kind == "link")


def test_a_killed_runs_lock_file_alone_is_taken_over(tmp_path: Path) -> None:
    """A folder holding only the lock file a killed run left (its process id) is free."""
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text("4194303\n")
    assert train(out).exit_code == 0  # type: ignore[attr-defined]
    assert not (out / LOCK_FILE).exists()


def test_the_lock_is_released_on_every_exit(run: Path, tmp_path: Path) -> None:
    assert not (run / LOCK_FILE).exists()  # after success
    # At lr 3 plain SGD on spirals finishes one epoch, then blows up in the second.
    diverging = cli(["train", str(CONFIG_DIR / "spirals.yaml"), "--out", str(tmp_path / "div"),
                     "--quiet", "--set", "optimizer={type: sgd, lr: 3.0}"])  # fmt: skip
    assert diverging.exit_code == 3, diverging.output
    assert not (tmp_path / "div" / LOCK_FILE).exists()
    assert train(tmp_path / "again", "--set", "training.epochs=3").exit_code == 0  # type: ignore[attr-defined]


# ------------------------------------------------------------- named outputs
def test_demo_pictures_need_overwrite_and_a_png_name(tmp_path: Path) -> None:
    target = tmp_path / "mine.png"
    target.write_bytes(b"my picture")
    refused = cli(["demo", "schedules", "--plot", "--out", str(target)])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert target.read_bytes() == b"my picture"
    replaced = cli(["demo", "schedules", "--out", str(target), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert target.read_bytes()[:4] == b"\x89PNG"
    for name in ("picture.jpg", "notes.txt"):
        wrong = cli(["demo", "schedules", "--plot", "--out", str(tmp_path / name)])
        assert wrong.exit_code == 2 and "must end in .png" in wrong.output
        assert not (tmp_path / name).exists()
    # Without --out, a free name: schedules.png, then schedules-2.png.
    assert cli(["demo", "schedules", "--plot"]).exit_code == 0
    assert cli(["demo", "schedules", "--plot"]).exit_code == 0
    assert Path("schedules.png").is_file() and Path("schedules-2.png").is_file()


def test_evaluate_plots_need_overwrite(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "confusion.png"
    target.write_bytes(b"mine")
    refused = cli(["evaluate", str(run), "--plot", str(target)])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert target.read_bytes() == b"mine"
    assert cli(["evaluate", str(run), "--plot", str(target), "--overwrite"]).exit_code == 0
    assert target.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------- umask
@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755),
                                                             (0o077, 0o600, 0o700)])  # fmt: skip
def test_files_are_created_with_the_users_umask(
    umask: int, file_mode: int, dir_mode: int, tmp_path: Path
) -> None:
    previous = os.umask(umask)
    try:
        out = tmp_path / "run"
        assert train(out).exit_code == 0  # type: ignore[attr-defined]
        schema = tmp_path / "schema.json"
        assert cli(["schema", "--out", str(schema)]).exit_code == 0
    finally:
        os.umask(previous)
    files = [p for p in out.rglob("*") if p.is_file()] + [schema]
    assert len(files) >= 9
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(file_mode)}
    dirs = [out, out / "checkpoints"]
    assert {oct(p.stat().st_mode & 0o777) for p in dirs} == {oct(dir_mode)}


def test_overwrite_keeps_the_files_mode(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "predictions.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    inputs = tmp_path / "x.csv"
    inputs.write_text("x0,x1\n0.1,0.2\n")
    result = cli(["predict", str(run), str(inputs), "--out", str(target), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("prediction")
    assert target.stat().st_mode & 0o777 == 0o640
