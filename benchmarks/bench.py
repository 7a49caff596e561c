"""bprop's speed and memory benchmarks (`make bench`): one run, a table, and a JSON file.

1. Throughput of full training steps through the real training loop (batch gathering, forward,
   softmax cross-entropy, backward, gradient norm, Adam), float32, 784-256-128-10 ReLU, batch 128
   and 1024.
2. The ideal time of the same step, its products-alone floor: each of its eight matrix products
   (same shapes, dtype and transposes) timed on its own in this run, the medians summed; and the
   fraction ideal / actual.
3. Per-step time at batch 1 (the `sgd` batch strategy) on 64-128-64-10, with sgd and with Adam.
   For each of these cases, where the time goes: each phase of the step (gather, forward, loss,
   backward, gradient norm, update) timed on its own, beside the step's products alone.
4. With numba installed: `make train` end to end with each ``training.kernels`` (a warm and an
   empty numba cache), and what the fused path costs before its first step.
5. `bprop --help` wall time, and the peak memory of `bprop train configs/mnist5k.yaml` beside its
   budget (data, parameters, optimizer state and one batch's activations) over a bare interpreter
   that imports the same libraries.
6. Loading large CSVs (`data_bench.py`): a 60,000 × 785 integer file and a 2,000,000 × 29 float
   file; time beside pyarrow's read_csv with the copy to NumPy, peak memory, and the cache; and
   a text column of 40,000 categories read and one-hot encoded.
7. The peak memory of `bprop predict` on a 2,000,000 × 3 CSV (`predict_bench.py`), with and
   without --proba, beside the same command on 10 rows.
8. What the tensorboard and mlflow loggers cost configs/digits.yaml's training, and their
   per-step logging alone (`logging_bench.py`).

Every figure is a median over repeats. Run with ``--unset-openblas-env`` to drop
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this process (it re-executes itself; the output says so).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import data_bench  # noqa: E402  (beside this file)
import logging_bench  # noqa: E402
import predict_bench  # noqa: E402

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def median_time(fn: Callable[[], object], repeats: int, inner: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` timings of ``inner`` calls each."""
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


# ------------------------------------------------------------------ training
def _training(
    sizes: list[int],
    batch: int,
    optimizer: str,
    n: int,
    seed: int = 0,
    kernels: str = "numpy",
    whole_epochs: bool = True,
) -> Any:
    import numpy as np

    from backprop_cli.core.activations import ReLU, Softmax
    from backprop_cli.core.batching import Batching
    from backprop_cli.core.history import EarlyStopping
    from backprop_cli.core.layers import Dense
    from backprop_cli.core.network import Network
    from backprop_cli.core.optim import build_optimizer
    from backprop_cli.core.schedules import build_schedule
    from backprop_cli.core.split import Split
    from backprop_cli.core.training import TrainingState

    rng = np.random.default_rng(seed)
    layers = [Dense(u, ReLU()) for u in sizes[1:-1]] + [Dense(sizes[-1], Softmax())]
    net = Network(layers, sizes[0], "cross_entropy", rng, "float32")
    if kernels == "auto":
        kernels = auto_path(sizes, batch)
    fuse = None
    if kernels == "fused":
        from backprop_cli.kernels import fuse_chain as fuse
    opt = build_optimizer(optimizer, fuse)
    opt.init(net.n_params, net.n_decay, net.dtype)
    step = epoch = None
    if kernels == "fused":  # as a run builds it (runs/train/build.py)
        from backprop_cli.kernels import compiled_epoch, install_network, whole_step

        install_network(net)
        epoch = compiled_epoch(net, opt, None, batch) if whole_epochs else None
        step = whole_step(net, batch) if epoch is None else None
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], n)
    data = Split(X, labels).for_loss(net, True)
    strategy = "sgd" if batch == 1 else "minibatch"
    training = TrainingState(
        net, opt, build_schedule("constant", 1e-3, 10**6), Batching(strategy, batch), 10**6,
        True, np.random.default_rng(seed + 1), None, EarlyStopping("train_loss"),
        kernels=kernels, step_kernel=step, epoch_kernel=epoch,
    )  # fmt: skip
    return training, data


#: The run ``auto`` is asked about in the benchmark's auto rows: 10 epochs of MNIST's 60,000 rows
#: (784 inputs), or of the 2,000 rows of the batch-1 rows' data.
AUTO_EPOCHS = 10


def auto_path(sizes: list[int], batch: int) -> str:
    """The path ``training.kernels: auto`` takes for `AUTO_EPOCHS` epochs of ``sizes``."""
    from backprop_cli import kernels

    rows = 60_000 if sizes[0] == 784 else 2_000
    n_params = sum(i * o + o for i, o in itertools.pairwise(sizes))
    updates = AUTO_EPOCHS * -(-rows // batch)
    return kernels.choose("auto", updates, n_params, batch, sum(sizes[1:])).path


def threads_of(sizes: list[int], batch: int) -> int:
    """The BLAS threads a run of ``sizes`` at ``batch`` takes (`system.blas`)."""
    from backprop_cli.system import blas

    return blas.threads_for(batch, sum(i * o + o for i, o in itertools.pairwise(sizes)))


def loop_seconds_per_step(
    sizes: list[int],
    batch: int,
    optimizer: str,
    n: int,
    epochs: int,
    kernels: str = "numpy",
    threads: int = 0,
) -> tuple[float, float]:
    """Median wall seconds per step of whole epochs of the real training loop, and the median
    ratio ideal / actual, with the ideal step timed right after each epoch (so both see the
    machine in the same state). BLAS runs on ``threads`` threads, or as many as a run of this
    size takes (`system.blas`)."""
    from backprop_cli.core.training import EpochEnded, EpochStarted, train
    from backprop_cli.system import blas

    training, data = _training(sizes, batch, optimizer, n, kernels=kernels)
    steps = training.batching.steps_per_epoch(n)
    each = _each_product(sizes, batch) if batch > 1 else None
    per_epoch: list[float] = []
    ratios: list[float] = []
    start = 0.0
    compiled = training.epoch_kernel is not None
    with blas.limited(threads if threads else threads_of(sizes, batch), compiled):
        for event in train(training, data):
            if isinstance(event, EpochStarted):
                start = time.perf_counter()
            elif isinstance(event, EpochEnded):
                per_epoch.append((time.perf_counter() - start) / steps)
                if each is not None:  # NumPy's BLAS as a NumPy run of this size has it
                    with blas.limited(threads if threads else threads_of(sizes, batch)):
                        floor = floor_seconds(each, 5, max(1, steps // 10))
                    ratios.append(floor / per_epoch[-1])
                if len(per_epoch) > epochs:
                    break
    # The first epoch warms up.
    return statistics.median(per_epoch[1:]), statistics.median(ratios[1:]) if ratios else 0.0


def _each_product(sizes: list[int], batch: int) -> list[Callable[[], None]]:
    """The step's matrix products, one callable each, in the step's order: forward x Wᵀ per
    layer, then backward δᵀx per layer and δW for every layer but the first, into preallocated
    outputs."""
    import numpy as np

    rng = np.random.default_rng(0)
    f32 = np.float32
    Ws = [rng.standard_normal((o, i)).astype(f32) for i, o in itertools.pairwise(sizes)]
    acts = [rng.standard_normal((batch, w)).astype(f32) for w in sizes]
    deltas = [rng.standard_normal((batch, w)).astype(f32) for w in sizes[1:]]
    outs_z = [np.empty((batch, W.shape[0]), f32) for W in Ws]
    outs_dW = [np.empty_like(W) for W in Ws]
    outs_dx = [np.empty((batch, W.shape[1]), f32) for W in Ws]
    each = [partial(np.dot, acts[k], W.T, out=outs_z[k]) for k, W in enumerate(Ws)]
    for k in reversed(range(len(Ws))):
        each.append(partial(np.dot, deltas[k].T, acts[k], out=outs_dW[k]))
        if k > 0:
            each.append(partial(np.dot, deltas[k], Ws[k], out=outs_dx[k]))
    return each


def _products(sizes: list[int], batch: int) -> Callable[[], None]:
    """The step's matrix products alone, one after another."""
    each = _each_product(sizes, batch)

    def products() -> None:
        for product in each:
            product()

    return products


def floor_seconds(each: list[Callable[[], None]], repeats: int, inner: int) -> float:
    """The products-alone floor of a step: each product's median time, timed on its own, summed
    (timed back to back they take as long or longer: at batch 1024 about 7 % longer here)."""
    return sum(median_time(product, repeats, inner) for product in each)


PHASES = ("gather", "forward", "loss", "backward", "norm", "update")


def step_profile(
    sizes: list[int], batch: int, optimizer: str, n: int, steps: int, kernels: str = "numpy"
) -> dict[str, float]:
    """Where a step's time goes: median microseconds of each phase, timed phase by phase over
    ``steps`` steps of random batches, and the step's products timed alone after each step."""
    import numpy as np

    training, data = _training(sizes, batch, optimizer, n, kernels=kernels, whole_epochs=False)
    net, opt = training.net, training.optimizer
    X, y = data.X, data.y
    x_buf = np.empty((batch, X.shape[1]), dtype=X.dtype)
    y_buf = np.empty((batch, *y.shape[1:]), dtype=y.dtype)
    products = _products(sizes, batch)
    draws = np.random.default_rng(2).integers(0, n, (steps, batch))
    clock = time.perf_counter
    times: dict[str, list[float]] = {name: [] for name in (*PHASES, "products")}
    for idx in draws:
        t0 = clock()
        if batch == 1:  # the sgd strategy takes one-row slices, no gather
            i = int(idx[0])
            xb, yb = X[i : i + 1], y[i : i + 1]
        else:
            xb = np.take(X, idx, axis=0, out=x_buf, mode="clip")
            yb = np.take(y, idx, axis=0, out=y_buf, mode="clip")
        if training.step_kernel is not None:  # the compiled whole step: one phase
            t1 = clock()
            training.step_kernel(xb, yb)
            t2 = t3 = t4 = t5 = clock()
        else:
            t1, t2, t3, t4, t5 = _reference_phases(net, xb, yb, clock)
        opt.step(net.params, net.grads, 1e-3)
        t6 = clock()
        products()
        t7 = clock()
        marks = (t0, t1, t2, t3, t4, t5, t6, t7)
        for name, a, b in zip((*PHASES, "products"), marks, marks[1:], strict=False):
            times[name].append((b - a) * 1e6)
    skip = steps // 10  # warm-up
    profile = {name: statistics.median(v[skip:]) for name, v in times.items()}
    profile["beyond_products"] = profile["forward"] + profile["backward"] - profile["products"]
    profile["whole_step"] = training.step_kernel is not None
    return profile


def _reference_phases(net: Any, xb: Any, yb: Any, clock: Callable[[], float]) -> list[float]:
    """Forward, loss, backward and the gradient norm of one batch, and the clock before each
    and after the last."""
    import numpy as np

    from backprop_cli.core.clipping import global_norm

    marks = [clock()]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = net.forward(xb)
        marks.append(clock())
        net.loss.forward(out, yb)
        marks.append(clock())
        net.backward()
        marks.append(clock())
        global_norm(net.grads)
        marks.append(clock())
    return marks


# ----------------------------------------------------------------- processes
def help_seconds(repeats: int) -> float:
    bprop = Path(sys.executable).with_name("bprop")
    cmd = [str(bprop)] if bprop.exists() else [sys.executable, "-m", "backprop_cli"]
    cmd.append("--help")
    return median_time(lambda: subprocess.run(cmd, capture_output=True, check=True), repeats)


def peak_rss_mib(code: str, args: list[str]) -> float:
    """Peak resident memory of a child Python process running ``code`` (MiB): VmHWM of its own
    address space (getrusage would also count the parent's size inherited at fork)."""
    wrapper = (
        "import sys\n"
        f"sys.argv = {['x', *args]!r}\n"
        f"{code}\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK', hwm.split()[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, check=True
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("PEAK"))
    return int(line.split()[1]) / 1024  # kB


def train_memory() -> dict[str, float]:
    """Peak RSS of `bprop train` on mnist5k against a bare interpreter that imports the same
    libraries, and the budget for what training must hold beyond them (MiB)."""
    import numpy as np

    from backprop_cli.config import load_config

    cfg = load_config(ROOT / "configs/mnist5k.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "run")
        run = (
            "from backprop_cli.cli.app import app\n"
            "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        )
        args = ["train", str(ROOT / "configs/mnist5k.yaml"), "--out", out, "--quiet"]
        train_peak = peak_rss_mib(run, args)
    bare = (
        "import numpy, matplotlib, matplotlib.pyplot, rich.progress, pydantic, yaml\n"
        "import backprop_cli.runs.train.run, backprop_cli.cli.app\n"
    )
    bare_peak = peak_rss_mib(bare, [])
    # The file as float64 rows (kept while the splits are made), the float32 splits, parameters
    # with gradients and two optimizer moments, one batch's activations (z, a, δ and dx buffers
    # per layer) and the evaluation chunks' buffers.
    n, d = 5000, 784
    widths = [d] + [layer.units for layer in cfg.model.layers]
    n_params = sum(i * o + o for i, o in itertools.pairwise(widths))
    batch = getattr(cfg.training.batching, "size", n)
    item = np.dtype(cfg.dtype).itemsize
    rows = max(batch, 2048)  # evaluation runs in chunks of up to 2048 rows
    budget_bytes = (
        n * (d + 1) * 8
        + n * d * item
        + n_params * item * 4
        + rows * (4 * sum(widths[1:]) + sum(widths[:-1])) * item
    )
    return {
        "train_peak_mib": train_peak,
        "bare_peak_mib": bare_peak,
        "budget_mib": budget_bytes / 2**20,
    }


def fused_start_seconds() -> dict[str, float]:
    """What the fused path costs before its first step, each in a fresh process, first with an
    empty numba cache (compiling), then from the cache: importing numba, Adam's kernel (compiled
    by ``init`` of the optimizer built with it), and the 64-128-64-10 network's kernels with its
    whole step at batch 1 (the layers', the loss's and the step's)."""
    code = (
        "import time, numpy as np\n"
        "t = time.perf_counter(); import numba; imported = time.perf_counter() - t\n"
        "from backprop_cli.core.activations import get_activation as act\n"
        "from backprop_cli.core.layers import Dense\n"
        "from backprop_cli.core.network import Network\n"
        "from backprop_cli.core.optim import build_optimizer\n"
        "from backprop_cli.kernels import fuse_chain, fuse_network\n"
        "opt = build_optimizer('adam', fuse_chain)\n"
        "t = time.perf_counter(); opt.init(1000, 500, np.dtype('float32'))\n"
        "adam = time.perf_counter() - t\n"
        "layers = [Dense(128, act('relu')), Dense(64, act('relu')), Dense(10, act('softmax'))]\n"
        "net = Network(layers, 64, 'cross_entropy', np.random.default_rng(0), 'float32')\n"
        "t = time.perf_counter(); fuse_network(net, 1); step = time.perf_counter() - t\n"
        "print(imported, adam, step)\n"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [
            [float(x) for x in subprocess.run([sys.executable, "-c", code], env=env,
             capture_output=True, text=True, check=True).stdout.split()]
            for _ in range(2)
        ]  # fmt: skip
    return {
        "import_s": runs[1][0],
        "adam_compiling_s": runs[0][1],
        "adam_cached_s": runs[1][1],
        "network_compiling_s": runs[0][2],
        "network_cached_s": runs[1][2],
    }


def make_train_seconds(repeats: int) -> dict[str, Any]:
    """`bprop train configs/mnist5k.yaml` (what `make train` runs) end to end, each in a fresh
    process, the ways interleaved: ``training.kernels`` auto (what `make train` does, and the
    path auto took), numpy, fused with numba's cache warm, and fused with an empty cache (a
    machine's first run, compiling)."""
    bprop = Path(sys.executable).with_name("bprop")
    base = [str(bprop)] if bprop.exists() else [sys.executable, "-m", "backprop_cli"]
    config = str(ROOT / "configs/mnist5k.yaml")
    times: dict[str, list[float]] = {"auto": [], "numpy": [], "fused": [], "fused_first": []}
    took = ""
    with tempfile.TemporaryDirectory() as tmp:
        warm = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "warm")}
        for rep, way in itertools.product(range(repeats + 1), times):
            out = Path(tmp) / f"{way}-{rep}"
            env = warm
            if way == "fused_first":
                env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / f"cold-{rep}")}
            setting = "fused" if way.startswith("fused") else way
            cmd = [*base, "train", config, "--out", str(out), "--quiet",
                   "--set", f"training.kernels={setting}"]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            if rep > 0:  # the first round fills the warm cache and the data cache
                times[way].append(time.perf_counter() - start)
            if way == "auto":
                took = json.loads((out / "metrics.json").read_text())["kernels"]
    result: dict[str, Any] = {way: statistics.median(v) for way, v in times.items()}
    result["auto_took"] = took
    return result


def torch_seconds(big: list[int], small: list[int], reps: int) -> dict[str, float]:
    """PyTorch's seconds per step of the same work, timed in this run when torch can be
    imported here ({} otherwise: run benchmarks/torch_baseline.py beside)."""
    try:
        import torch_baseline
    except ImportError:
        return {}
    out = {
        f"adam-{b}": torch_baseline.seconds_per_step(big, b, "adam", 16 * 1024, reps)
        for b in (128, 1024)
    }
    for optimizer in ("sgd", "adam"):
        out[f"{optimizer}-1"] = torch_baseline.seconds_per_step(small, 1, optimizer, 2000, reps)
    return out


def jax_seconds(python: str | None, reps: int) -> dict[str, Any]:
    """JAX's seconds per step of the same work (`jax_baseline.py`: a jitted step, and the epoch
    as one `lax.scan`), timed in this run by the JAX environment's ``python`` ({} without one)."""
    if not python or not Path(python).exists():
        return {}
    script = str(ROOT / "benchmarks" / "jax_baseline.py")
    done = subprocess.run([python, script, "--json", "--reps", str(reps)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


#: Networks and batches whose steps are timed with one and two BLAS threads.
CROSSOVER = [([64, 128, 64, 10], 64), ([64, 128, 64, 10], 256), ([64, 128, 64, 10], 1024),
             ([784, 256, 128, 10], 8), ([784, 256, 128, 10], 16), ([784, 256, 128, 10], 32),
             ([784, 256, 128, 10], 128), ([256, 256, 256, 10], 32),
             ([256, 256, 256, 10], 128)]  # fmt: skip


def thread_crossover(reps: int) -> list[dict[str, Any]]:
    """Whole steps (NumPy path, Adam) with one and with two BLAS threads, beside what bprop
    chooses for each (`system.blas.threads_for`): where a second thread starts to pay."""
    rows = []
    for sizes, batch in CROSSOVER:
        n = max(4096, 8 * batch)
        one, _ = loop_seconds_per_step(sizes, batch, "adam", n, reps, "numpy", threads=1)
        two, _ = loop_seconds_per_step(sizes, batch, "adam", n, reps, "numpy", threads=2)
        weights = sum(i * o for i, o in itertools.pairwise(sizes))
        rows.append({"case": f"{'-'.join(map(str, sizes))} batch {batch}",
                     "forward_macs": batch * weights, "one_ms": one * 1e3, "two_ms": two * 1e3,
                     "chosen": threads_of(sizes, batch)})  # fmt: skip
    return rows


def busy_digits(repeats: int) -> list[dict[str, Any]]:
    """`bprop train configs/digits.yaml` (its steps' seconds, metrics.json's train_seconds) on a
    quiet machine and beside one and two busy loops (each a Python process spinning)."""
    bprop = Path(sys.executable).with_name("bprop")
    base = [str(bprop)] if bprop.exists() else [sys.executable, "-m", "backprop_cli"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for loops in (0, 1, 2):
            spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                        for _ in range(loops)]  # fmt: skip
            try:
                seconds = []
                for rep in range(repeats):
                    out = Path(tmp) / f"busy{loops}-{rep}"
                    cmd = [*base, "train", str(ROOT / "configs/digits.yaml"), "--out", str(out)]
                    subprocess.run([*cmd, "--quiet"], capture_output=True, check=True)
                    metrics = json.loads((out / "metrics.json").read_text())
                    seconds.append(metrics["train_seconds"])
            finally:
                for process in spinning:
                    process.kill()
                    process.wait()
            rows.append({"busy_loops": loops, "train_s": statistics.median(seconds)})
    return rows


# --------------------------------------------------------------------- main
def blas_name() -> str:
    import numpy as np

    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name', '?')} {info.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        return "unknown"


def run(quick: bool, jax_python: str | None = None) -> dict[str, Any]:
    import numpy as np

    reps = 5 if quick else 15
    big = [784, 256, 128, 10]
    small = [64, 128, 64, 10]
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "numpy": np.__version__,
        "blas": blas_name(),
        "openblas_env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
        "openblas_env_unset_for_this_run": os.environ.get("BPROP_BENCH_UNSET") == "1",
        "throughput": [],
        "batch1": [],
    }
    from backprop_cli import kernels

    paths = ["numpy", "fused", "auto"] if kernels.available() else ["numpy", "auto"]
    results["paths"] = paths
    results["auto_takes"] = {f"batch {b}": auto_path(big if b > 1 else small, b)
                             for b in (128, 1024, 1)}  # fmt: skip
    if "fused" in paths:
        results["fused_start"] = fused_start_seconds()
    torch_times = torch_seconds(big, small, reps)
    results["torch"] = torch_times
    results["jax"] = jax_seconds(jax_python, reps)
    for path, batch in itertools.product(paths, (128, 1024)):
        n = 16 * 1024
        actual, fraction = loop_seconds_per_step(big, batch, "adam", n, reps, path)
        row = {
            "path": path, "batch": batch, "samples_per_s": batch / actual,
            "step_ms": actual * 1e3, "ideal_ms": fraction * actual * 1e3,
            "fraction_of_ideal": fraction, "threads": threads_of(big, batch),
        }  # fmt: skip
        if torch_times:
            row["vs_torch"] = torch_times[f"adam-{batch}"] / actual
        results["throughput"].append(row)
    for path, optimizer in itertools.product(paths, ("sgd", "adam")):
        per_step, _ = loop_seconds_per_step(small, 1, optimizer, 2000, reps, path)
        results["batch1"].append(
            {"path": path, "optimizer": optimizer, "us_per_step": per_step * 1e6}
        )
    results["profile"] = [
        {"case": f"{path} {'-'.join(map(str, sizes))} batch {batch} {opt}", **step_profile(
            sizes, batch, opt, n, steps=100 if quick else 300, kernels=path
        )}
        for path in paths
        if path != "auto"
        for sizes, batch, opt, n in (
            (big, 128, "adam", 16 * 1024), (big, 1024, "adam", 16 * 1024),
            (small, 1, "sgd", 2000), (small, 1, "adam", 2000),
        )
    ]  # fmt: skip
    results["crossover"] = thread_crossover(3 if quick else 5)  # before the busy loops run
    results["busy"] = busy_digits(3 if quick else 5)
    if "fused" in paths:
        results["make_train"] = make_train_seconds(3 if quick else 5)
    results["help_ms"] = help_seconds(reps) * 1e3  # a fresh process each time
    results["memory"] = train_memory()
    results["loading"] = data_bench.run(repeats=2 if quick else 3)
    results["categorical"] = data_bench.categorical(repeats=2 if quick else 3)
    results["predicting"] = predict_bench.run(peak_rss_mib)
    results["logging"] = logging_bench.run(repeats=3 if quick else 9)
    return results


def report(r: dict[str, Any]) -> str:
    env = r["openblas_env"]
    lines = [
        f"bprop benchmarks: {r['machine']}, NumPy {r['numpy']}, BLAS {r['blas']}",
        "OpenBLAS settings: "
        + (
            "unset for this run (--unset-openblas-env)"
            if r["openblas_env_unset_for_this_run"]
            else ", ".join(f"{k}={v}" for k, v in env.items())
        ),
        "",
        "784-256-128-10 ReLU, float32, Adam: whole steps of the training loop; ideal: the",
        "step's eight matrix products, each timed on its own, summed (the products-alone floor)",
        f"{'path':>6} {'batch':>6} {'samples/s':>11} {'step ms':>9} {'ideal ms':>9} "
        f"{'ideal/actual':>13} {'× PyTorch':>10}",
    ]
    for t in r["throughput"]:
        vs = f"{t['vs_torch']:>9.2f}×" if "vs_torch" in t else f"{'–':>10}"
        lines.append(
            f"{t['path']:>6} {t['batch']:>6} {t['samples_per_s']:>11,.0f} {t['step_ms']:>9.3f} "
            f"{t['ideal_ms']:>9.3f} {t['fraction_of_ideal']:>12.0%} {vs}"
        )
    torch_note = (
        "PyTorch timed in this run: " + ", ".join(
            f"{k} {v * 1e3:.3f} ms" for k, v in r["torch"].items())
        if r["torch"] else "PyTorch not importable here: run benchmarks/torch_baseline.py beside"
    )  # fmt: skip
    lines += [torch_note]
    lines += ["", *peers_report(r)]
    lines += ["", "64-128-64-10 at batch 1 (the sgd batch strategy): µs per whole step"]
    lines += [
        f"{b['path']:>6} {b['optimizer']:>6} {b['us_per_step']:>8.1f} µs" for b in r["batch1"]
    ]
    if "fused_start" in r:
        f = r["fused_start"]
        lines += [
            f"fused path start: import numba {f['import_s'] * 1e3:.0f} ms; Adam's kernel "
            f"{f['adam_compiling_s']:.2f} s compiling, {f['adam_cached_s']:.2f} s from the "
            f"cache; 64-128-64-10's layer, loss and whole-step kernels "
            f"{f['network_compiling_s']:.2f} s compiling, {f['network_cached_s']:.2f} s from "
            "the cache (compiled when a run is built, before its first step)"
        ]
    if "make_train" in r:
        t = r["make_train"]
        lines += [
            f"make train (bprop train configs/mnist5k.yaml, fresh processes): kernels auto "
            f"{t['auto']:.2f} s (took {t['auto_took']}), numpy {t['numpy']:.2f} s, fused "
            f"{t['fused']:.2f} s with numba's cache warm, {t['fused_first']:.2f} s on a first "
            f"run (compiling: +{t['fused_first'] - t['fused']:.2f} s)"
        ]
    lines += [
        "",
        "Where a step's time goes: µs per phase, medians, phases timed one by one; 'products' is",
        "the step's matrix products timed alone, 'beyond' what forward + backward take beyond them",
        f"{'case':>38} " + " ".join(f"{p:>8}" for p in PHASES) + f" {'products':>8} {'beyond':>8}",
    ]
    for p in r["profile"]:
        cols = [*PHASES, "products", "beyond_products"]
        shown = [
            f"{'–':>8}"
            if p["whole_step"] and c in ("loss", "backward", "norm")
            else f"{p[c]:>8.1f}"
            for c in cols
        ]
        lines.append(f"{p['case']:>38} " + " ".join(shown))
    if any(p["whole_step"] for p in r["profile"]):
        lines.append("(fused at batch 1: 'forward' is the compiled whole step, loss to norm)")
    lines += ["", *threads_report(r)]
    m = r["memory"]
    lines += [
        "",
        f"bprop --help: {r['help_ms']:.0f} ms",
        f"bprop train configs/mnist5k.yaml: peak {m['train_peak_mib']:.0f} MiB = bare interpreter "
        f"with the same imports {m['bare_peak_mib']:.0f} MiB + "
        f"{m['train_peak_mib'] - m['bare_peak_mib']:.0f} MiB for training (budget for the data, "
        f"parameters, optimizer state and batch buffers: {m['budget_mib']:.0f} MiB)",
        "",
        *data_bench.report(r["loading"]),
        *data_bench.categorical_report(r["categorical"]),
        "",
        *predict_bench.report(r["predicting"]),
        "",
        *logging_bench.report(r["logging"]),
    ]
    return "\n".join(lines)


def peers_report(r: dict[str, Any]) -> list[str]:
    """bprop (auto, fused) beside PyTorch and JAX (a jitted step; the epoch as one lax.scan),
    µs per step, timed in this run, and bprop auto's speed as a multiple of each peer's."""
    jax = r.get("jax", {}).get("seconds", {})
    bprop = {(t["path"], t["batch"]): t["step_ms"] * 1e3 for t in r["throughput"]}
    for b in r["batch1"]:
        if b["optimizer"] == "adam":
            bprop[(b["path"], 1)] = b["us_per_step"]
    version = r.get("jax", {}).get("version")
    lines = [
        "bprop beside PyTorch and JAX, Adam, float32, µs per step (784-256-128-10; 64-128-64-10",
        f"at batch 1); JAX {version or 'not installed here'}; auto: the path "
        f"training.kernels: auto takes for {AUTO_EPOCHS} epochs ({r.get('auto_takes', {})})",
        f"{'batch':>6} {'auto':>9} {'fused':>9} {'PyTorch':>9} {'JAX step':>9} {'JAX scan':>9} "
        f"{'÷PyTorch':>9} {'÷JAX scan':>10}",
    ]

    def us(x: float | None) -> str:
        return f"{x:>9,.1f}" if x is not None else f"{'–':>9}"

    for batch in (128, 1, 1024):
        auto = bprop.get(("auto", batch))
        torch = r["torch"].get(f"adam-{batch}")
        torch_us = torch * 1e6 if torch else None
        step, scan = jax.get(f"step-{batch}"), jax.get(f"scan-{batch}")
        step_us, scan_us = (step * 1e6 if step else None), (scan * 1e6 if scan else None)
        vs_torch = f"{torch_us / auto:>8.2f}×" if auto and torch_us else f"{'–':>9}"
        vs_scan = f"{scan_us / auto:>9.2f}×" if auto and scan_us else f"{'–':>10}"
        lines.append(f"{batch:>6} {us(auto)} {us(bprop.get(('fused', batch)))} {us(torch_us)} "
                     f"{us(step_us)} {us(scan_us)} {vs_torch} {vs_scan}")  # fmt: skip
    compiling = r.get("jax", {}).get("compiling", {})
    if compiling:
        lines.append("JAX's first epoch compiles: " + ", ".join(
            f"{k} {v:.2f} s" for k, v in compiling.items()))  # fmt: skip
    return lines


def threads_report(r: dict[str, Any]) -> list[str]:
    """Where a second BLAS thread pays, and configs/digits.yaml on a busy machine."""
    lines = [
        "BLAS threads: whole steps (NumPy path, Adam) with one and two threads; bprop takes two",
        "from 2²² multiply-adds per forward pass (system/blas.py)",
        f"{'case':>28} {'fwd MACs':>12} {'1 thread':>10} {'2 threads':>10} {'1 ÷ 2':>7} "
        f"{'bprop':>6}",
    ]
    for c in r["crossover"]:
        lines.append(f"{c['case']:>28} {c['forward_macs']:>12,} {c['one_ms']:>8.3f}ms "
                     f"{c['two_ms']:>8.3f}ms {c['one_ms'] / c['two_ms']:>7.2f} "
                     f"{c['chosen']:>6}")  # fmt: skip
    quiet = r["busy"][0]["train_s"]
    lines += ["", "configs/digits.yaml on a busy machine: seconds of steps (train_seconds)"]
    for b in r["busy"]:
        lines.append(f"  beside {b['busy_loops']} busy loop(s): {b['train_s']:.3f} s "
                     f"({b['train_s'] / quiet:.2f}× quiet)")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "latest.json")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--unset-openblas-env", action="store_true")
    parser.add_argument("--jax-python", help="the Python of an environment with jax and optax")
    args = parser.parse_args()
    if args.unset_openblas_env and os.environ.get("BPROP_BENCH_UNSET") != "1":
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        env["BPROP_BENCH_UNSET"] = "1"
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    results = run(args.quick, args.jax_python)
    print(report(results))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
