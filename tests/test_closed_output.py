"""Standard output closed by its reader (`bprop train … | head`): training stops as at Ctrl-C,
its run complete and resumable (exit 130); a command that only writes output stops quietly, as
one stopped by SIGPIPE (exit 141). Never a traceback, never exit 1 ("a bug")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = [sys.executable, "-m", "backprop_cli"]


def read_then_close(command: list[str], lines: int) -> tuple[int, str]:
    """Run ``command``, read ``lines`` lines of its output, close the pipe as `head` does, and
    return its exit status and standard error."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    for _ in range(lines):
        assert process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return process.wait(timeout=300), stderr


def test_a_training_whose_reader_went_away_stops_as_interrupted_and_resumes(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    # an epoch line every 40 epochs: once two lines are read, the next cannot be written
    train = [*MODULE, "train", "configs/moons.yaml", "--out", str(run),
             "--set", "training.epochs=2000"]  # fmt: skip
    status, stderr = read_then_close(train, 2)
    assert status == 130, stderr
    assert "Traceback" not in stderr and "bug in bprop" not in stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stop_reason"] == "interrupted" and 1 <= metrics["epochs_run"] < 2000
    resumed = subprocess.run(
        [*MODULE, "train", "configs/moons.yaml", "--quiet",
         "--set", f"training.epochs={metrics['epochs_run'] + 1}",
         "--resume", str(run / "checkpoints" / "last.npz")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr


def test_predictions_whose_reader_went_away_stop_quietly(tmp_path: Path) -> None:
    run = tmp_path / "run"
    subprocess.run(
        [*MODULE, "train", "configs/iris.yaml", "--out", str(run), "--quiet",
         "--set", "training.epochs=1"],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    rows = tmp_path / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n" * 100_000)  # far more than a pipe holds
    status, stderr = read_then_close([*MODULE, "predict", str(run), str(rows), "--no-header"], 1)
    assert status == 141 and stderr == ""
