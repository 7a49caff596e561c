"""A run killed or signalled at a chosen write boundary: what is on disk is complete and
consistent, and `--resume` ends exactly where a run that was never stopped ends.

The boundaries are chosen with bprop's test hook (``BPROP_TEST_SIGNAL=SIGNAL@rename#N`` sends the
process SIGNAL right after its Nth atomic write lands), never with a sleep, so these tests do not
depend on timing or load.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml

from backprop_cli.runs.artifacts.checkpoints import Checkpoint
from backprop_cli.runs.artifacts.step_log import read_steps
from backprop_cli.system import testhooks
from backprop_cli.system.atomic import TEMPORARY

from helpers import CONFIG_DIR, assert_same_arrays, cli, history_of, strip_seconds

TOY = CONFIG_DIR / "moons.yaml"
ROOT = Path(__file__).resolve().parents[1]
#: 84 training samples in two batches, a checkpoint every epoch: every kind of write happens.
SHORT = ["training.epochs=3", "output.checkpoint_every=1", "data.options.n_samples=120",
         "training.batching={type: minibatch, size: 64}"]  # fmt: skip


def sets(overrides: list[str]) -> list[str]:
    return [a for item in overrides for a in ("--set", item)]


def train_args(out: Path, overrides: list[str]) -> list[str]:
    return ["train", str(TOY), "--out", str(out), "--quiet", *sets(overrides)]


#: bprop run as a module, as `python -m backprop_cli`.
MODULE = [sys.executable, "-m", "backprop_cli"]


def signalled(
    out: Path, overrides: list[str], spec: str, launcher: list[str] = MODULE
) -> subprocess.CompletedProcess[str]:
    """`bprop train` in a child process that gets ``spec`` (e.g. SIGKILL@rename#3)."""
    env = os.environ | {"BPROP_TEST_SIGNAL": spec}
    command = [*launcher, *train_args(out, overrides)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The run never stopped, and how many atomic writes it makes."""
    out = tmp_path_factory.mktemp("reference") / "run"
    count = {"rename": 0}
    original = testhooks.reached

    def counting(point: str) -> None:
        count[point] = count.get(point, 0) + 1

    testhooks.reached = counting  # type: ignore[assignment]
    try:
        assert cli(train_args(out, SHORT)).exit_code == 0
    finally:
        testhooks.reached = original  # type: ignore[assignment]
    return out, count["rename"]


def csv_rows(run: Path) -> list[dict[str, str]]:
    with (run / "history.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def assert_complete_and_consistent(run: Path) -> None:
    """Every file parses; the two histories agree on the rows they share, the CSV at most one row
    ahead; last.npz is no further than either history."""
    assert not [p for p in run.rglob("*") if TEMPORARY.fullmatch(p.name)]
    assert yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))["name"] == "moons"
    if not (run / "history.csv").exists():
        return
    rows = csv_rows(run)
    history = history_of(run) if (run / "history.json").exists() else []
    assert len(rows) - len(history) in (0, 1)
    for row, entry in zip(rows, history, strict=False):
        for key, value in entry.items():
            assert float(row[key]) == value if value is not None else row[key] == ""
    for path in (run / "checkpoints").glob("*.npz"):
        Checkpoint.read(path)
    steps = read_steps(run)
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))
    if (run / "checkpoints" / "last.npz").exists():
        last = Checkpoint.read(run / "checkpoints" / "last.npz")
        assert int(last.epoch) <= min(len(rows), len(history))
        assert int(last.step) <= len(steps)  # steps.csv is at least as far
    if (run / "metrics.json").exists():
        assert json.loads((run / "metrics.json").read_text())["stop_reason"] == "completed"
    if (run / "loss.png").exists():
        assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "every",
    [pytest.param(True, marks=pytest.mark.slow, id="every-write"),
     pytest.param(False, id="first-middle-and-last-writes")],
)  # fmt: skip
def test_a_kill_at_every_write_boundary_leaves_a_consistent_run_that_resumes_exactly(
    every: bool, reference: tuple[Path, int], tmp_path: Path
) -> None:
    """Killed after each atomic write in turn (`make test-slow`); the quick suite kills after
    the first writes (before and after initial.npz), one in the middle and the last two."""
    full, boundaries = reference
    assert boundaries >= 15  # config, history, checkpoints each epoch, metrics, plot
    chosen = (
        range(1, boundaries + 1)
        if every
        else sorted({1, 4, 5, 6, boundaries // 2, boundaries - 1, boundaries})
    )
    runs = {n: tmp_path / f"killed-{n}" for n in chosen}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(runs, pool.map(lambda n: signalled(runs[n], SHORT, f"SIGKILL@rename#{n}"),
                                       runs), strict=True))  # fmt: skip
    resumed_from: dict[str, int] = {}
    for n, run in runs.items():
        assert done[n].returncode == -signal.SIGKILL, (n, done[n].stderr)
        assert_complete_and_consistent(run)
        folder = run / "checkpoints"
        start = next((folder / f for f in ("last.npz", "initial.npz") if (folder / f).exists()),
                     None)  # fmt: skip
        if start is None:
            assert n <= 4, n  # only the config, empty steps and histories came before initial.npz
            continue
        resumed_from[start.name] = resumed_from.get(start.name, 0) + 1
        result = cli(["train", str(TOY), "--resume", str(start), "--quiet", *sets(SHORT)])
        assert result.exit_code == 0, (n, result.output)
        assert strip_seconds(history_of(run)) == strip_seconds(history_of(full)), n
        assert len(csv_rows(run)) == len(history_of(run)) == 3
        assert (run / "steps.csv").read_bytes() == (full / "steps.csv").read_bytes(), n
        for name in ("last.npz", "best.npz", "epoch-0003.npz"):
            assert_same_arrays(full / "checkpoints" / name, folder / name)
        metrics = json.loads((run / "metrics.json").read_text())
        expected = json.loads((full / "metrics.json").read_text())
        assert (
            metrics["test"] == expected["test"]
            and metrics["best"]["epoch"] == (expected["best"]["epoch"])
        )
    assert resumed_from.get("initial.npz", 0) >= 1
    assert resumed_from["last.npz"] >= (10 if every else 2)


#: Training that goes on until it is stopped: a checkpoint and a flush of the history every epoch.
LONG = ["training.epochs=100000", "training.batching={type: minibatch, size: 8}",
        "output.checkpoint_every=1", "data.options.n_samples=120"]  # fmt: skip


@pytest.mark.parametrize(
    ("sig", "kernels"), [("SIGINT", "numpy"), ("SIGTERM", "numpy"), ("SIGINT", "fused")]
)
def test_a_signal_saves_the_run_exits_130_and_resumes_exactly(
    sig: str, kernels: str, tmp_path: Path
) -> None:
    """Also on the fused path, where the steps run in compiled chunks (the stop is heard after
    one)."""
    if kernels == "fused":
        pytest.importorskip("numba")
    out = tmp_path / "run"
    long = [*LONG, f"training.kernels={kernels}"]
    # Five writes start a run and each epoch makes five or six: the 26th lands in epoch 4 or 5.
    process = signalled(out, long, f"{sig}@rename#26")
    assert process.returncode == 130, process.stdout + process.stderr
    assert "Traceback" not in process.stdout + process.stderr
    assert "Continue with: python -m backprop_cli train " in process.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stop_reason"] == "interrupted"
    done = metrics["epochs_run"]
    assert len(history_of(out)) == len(csv_rows(out)) == done >= 3
    assert int(Checkpoint.read(out / "checkpoints/last.npz").epoch) == done
    # Resume to two epochs more and compare with a run that was never interrupted.
    target = [*long[1:], f"training.epochs={done + 2}"]
    resumed = cli(["train", str(TOY), "--resume", str(out / "checkpoints/last.npz"), "--quiet",
                   *sets(target)])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    full = tmp_path / "full"
    assert cli(train_args(full, target)).exit_code == 0
    assert strip_seconds(history_of(out)) == strip_seconds(history_of(full))
    assert_same_arrays(full / "checkpoints/last.npz", out / "checkpoints/last.npz")
    assert (out / "steps.csv").read_bytes() == (full / "steps.csv").read_bytes()
    assert np.isfinite(history_of(out)[-1]["train_loss"])


@pytest.mark.parametrize("launcher", ["module", "script"])
def test_the_continue_command_is_the_one_typed_and_shell_quoted(
    launcher: str, tmp_path: Path
) -> None:
    script = Path(sys.executable).with_name("bprop")  # the console script, where installed
    if launcher == "script" and not script.is_file():
        pytest.skip("no bprop script beside this Python")
    out = tmp_path / "a run with spaces"
    overrides = [*LONG, "data.options.noise=0.25"]  # values with spaces and braces among them
    process = signalled(
        out, overrides, "SIGTERM@rename#9", MODULE if launcher == "module" else [str(script)]
    )
    assert process.returncode == 130, process.stderr
    command = process.stdout.split("Continue with: ", 1)[1].strip()
    args = shlex.split(command)
    typed = ["python", "-m", "backprop_cli"] if launcher == "module" else ["bprop"]
    assert args[: len(typed)] == typed
    args = args[len(typed) :]
    assert args[:2] == ["train", str(TOY)]
    assert args[2:4] == ["--resume", str(out / "checkpoints" / "last.npz")]
    assert args[4:] == [*sets(overrides), "--quiet"]


def test_the_stop_notice_stays_above_the_live_display(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {"BPROP_TEST_SIGNAL": "SIGINT@rename#12"}  # in epoch 2 or 3, with the bars drawn
    code, received = on_a_terminal([*MODULE, "train", str(TOY), "--out", str(out),
                                    *sets(LONG)], env)  # fmt: skip
    assert code == 130, received
    shown = screen(received)
    notice = (
        "SIGINT: stopping after this step and saving the run (press Ctrl-C again to stop at once)"
    )
    assert notice in shown, "\n".join(shown)
    assert shown[-1].startswith("interrupted (stopped during epoch ")


def on_a_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``command`` on a pseudo-terminal (its stdin, stdout and stderr), as from a shell in a
    terminal window; its exit code and all the terminal received."""
    import pty
    import select

    own = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if k not in own} | env
    env |= {"TERM": "xterm-256color", "COLUMNS": "120"}
    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=terminal, stdout=terminal,
                               stderr=terminal, start_new_session=True)  # fmt: skip
    os.close(terminal)
    received = bytearray()
    try:
        while select.select([controller], [], [], 300)[0]:
            chunk = os.read(controller, 1 << 16)  # EIO once the process has closed the terminal
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    finally:
        os.close(controller)
    return process.wait(timeout=60), received.decode(errors="replace")


#: What a terminal acts on in Rich's output: control sequences, carriage returns, line feeds.
CONTROL = re.compile(r"\x1b\[([?\d;]*)([A-Za-z])|\r|\n")


def screen(received: str) -> list[str]:
    """The lines a terminal shows after ``received``: text, carriage return, line feed, cursor
    up and erase line (what Rich's live display redraws itself with); colours ignored."""
    lines, row, column, at = [""], 0, 0, 0

    def write(text: str) -> None:
        nonlocal column
        line = lines[row].ljust(column)
        lines[row] = line[:column] + text + line[column + len(text) :]
        column += len(text)

    for match in CONTROL.finditer(received):
        write(received[at : match.start()])
        at = match.end()
        if match[0] == "\r":
            column = 0
        elif match[0] == "\n":
            row += 1
        elif match[2] == "A":
            row = max(0, row - int(match[1] or 1))
        elif match[2] == "K":
            lines[row] = "" if match[1] == "2" else lines[row][:column]
        lines += [""] * (row + 1 - len(lines))
    write(received[at:])
    return [line.rstrip() for line in lines if line.strip()]
