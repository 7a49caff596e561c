"""Makes the README's pictures of the Tracking section: TensorBoard's scalars and HParams views of
a sweep logged with the tensorboard logger (a local TensorBoard, photographed by headless
Chromium), and `bprop runs` over the same folder (Rich's SVG export).

    python docs/make_screenshots.py        # needs bprop[tensorboard], tensorboard, chromium

It trains into a temporary folder and writes docs/images/tensorboard-scalars.png,
docs/images/tensorboard-hparams.png and docs/images/bprop-runs.svg.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
BPROP = [sys.executable, "-m", "backprop_cli"]
LOGGED = ["--set", "output.loggers=[tensorboard]", "--quiet"]


def bprop(*args: str, cwd: Path) -> str:
    done = subprocess.run([*BPROP, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def train_runs(folder: Path) -> None:
    """A sweep of moons' learning rate and batch size, and a digits, an iris and a penguins run."""
    bprop("sweep", str(ROOT / "configs/moons.yaml"), "--grid", "optimizer.lr=0.003,0.01,0.03,0.1",
          "--grid", "training.batching.size=16,64", "--set", "training.epochs=60", "--jobs", "2",
          "--out", "runs/moons-sweep", *LOGGED, cwd=folder)  # fmt: skip
    for config in ("digits", "iris", "penguins"):
        bprop("train", str(ROOT / f"configs/{config}.yaml"), "--out", f"runs/{config}", *LOGGED,
              cwd=folder)  # fmt: skip


@contextlib.contextmanager
def tensorboard(logdir: Path, runs: int) -> Iterator[str]:
    """A local TensorBoard over ``logdir``, once it has read the scalars of all ``runs``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(logdir),
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        for _ in range(240):
            with contextlib.suppress(OSError, ValueError):
                tags = urllib.request.urlopen(f"{url}/data/plugin/scalars/tags", timeout=2)
                if sum(1 for run in json.load(tags).values() if run) == runs:
                    break
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def photograph(url: str, path: Path, profile: Path, size: str = "1400,900") -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or "google-chrome"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--window-size={size}",
         "--virtual-time-budget=20000", f"--screenshot={path}", url],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def runs_svg(folder: Path, path: Path) -> None:
    from rich.console import Console
    from rich.text import Text

    env = os.environ | {"FORCE_COLOR": "1", "COLUMNS": "120"}
    done = subprocess.run([*BPROP, "runs"], cwd=folder, env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    console = Console(record=True, width=120, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(Text.from_ansi(done.stdout))
    console.save_svg(str(path), title="bprop runs")


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train_runs(folder)
        runs_svg(folder, IMAGES / "bprop-runs.svg")
        sweep = folder / "runs" / "moons-sweep"
        with tensorboard(sweep, len(list(sweep.rglob("tensorboard")))) as url:
            photograph(f"{url}/#scalars&tagFilter=epoch%2F(train%7Cval)_loss",
                       IMAGES / "tensorboard-scalars.png", folder / "profile")  # fmt: skip
            photograph(f"{url}/#hparams", IMAGES / "tensorboard-hparams.png", folder / "profile",
                       "1800,760")  # fmt: skip
    print(f"written: {', '.join(p.name for p in sorted(IMAGES.iterdir()))}")


if __name__ == "__main__":
    main()
