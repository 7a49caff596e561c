"""The fused kernels (bprop[fast]) against their NumPy reference: every optimizer, both dtypes,
100 steps; how a run picks its path; and that commands that do not train never import numba."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backprop_cli import kernels
from backprop_cli.core.optim import OPTIMIZERS, build_optimizer
from backprop_cli.errors import ConfigError
from backprop_cli.kernels import fuse_chain

from helpers import CONFIG_DIR, assert_within_scale, cli, history_of, strip_seconds

numba = pytest.importorskip("numba")

#: The optimizers whose chain a kernel covers (a new optimizer may come without one).
FUSED = [name for name in OPTIMIZERS if build_optimizer(name, fuse_chain).fused]
VARIANTS = [(name, {}) for name in FUSED] + [
    ("adam", {"amsgrad": True}), ("sgd", {"weight_decay": 0.01}), ("adamw", {"weight_decay": 0.01}),
]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "hyper"), VARIANTS, ids=lambda v: str(v))
def test_each_kernel_follows_its_numpy_reference_for_100_steps(
    name: str, hyper: dict, dtype: str
) -> None:
    rng = np.random.default_rng(0)
    n, n_decay = 1000, 700
    reference, fused = build_optimizer(name, **hyper), build_optimizer(name, fuse_chain, **hyper)
    for opt in (reference, fused):
        opt.init(n, n_decay, np.dtype(dtype))
    assert fused.fused and not reference.fused
    w_ref = rng.standard_normal(n).astype(dtype)
    w_fused = w_ref.copy()
    for step in range(100):
        g = (rng.standard_normal(n) * (1 + step % 7)).astype(dtype)
        reference.step(w_ref, g.copy(), 0.01 * (1 + step % 3))
        fused.step(w_fused, g.copy(), 0.01 * (1 + step % 3))
    tolerance = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(w_fused, w_ref, rtol=tolerance, atol=0)
    for key, state in reference.state.items():
        np.testing.assert_allclose(fused.state[key], state, rtol=tolerance, atol=0)
    assert w_fused.dtype == np.dtype(dtype)


def test_every_shipped_optimizer_has_a_kernel_and_a_new_rule_gets_none() -> None:
    assert set(FUSED) == {"sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"}
    from backprop_cli.core.optim import Momentum, Trace

    class Heavy(Trace):  # its own rule: Trace's kernel must not stand in for it
        def update(self, updates, state, params, scratch, lr, count):  # type: ignore[no-untyped-def]
            return np.multiply(updates, 2.0, out=updates)

    class Heavier(Momentum):
        trace = Heavy

    opt = Heavier(fuse_chain)
    opt.init(3, 0, np.dtype("float64"))
    assert not opt.fused
    w = np.ones(3)
    opt.step(w, np.full(3, 0.5), 0.1)
    np.testing.assert_array_equal(w, [0.9, 0.9, 0.9])  # its own rule ran: w − 2·lr·g


def test_the_fused_kernels_are_chosen_when_the_chain_is_built() -> None:
    """Building with ``fuse_chain`` replaces the chain's tail (rule, −lr and the final w + u)
    by one `Fused` stage, before any step and without touching the optimizer's methods; the
    stages before it (weight decay) stay NumPy, and the state keeps its names."""
    from backprop_cli.core.optim import AddDecayedWeights, DecoupledWeightDecay, Optimizer
    from backprop_cli.kernels.optim import Fused

    cases = {
        ("sgd", 0.1): (AddDecayedWeights, "scale_by_learning_rate"),
        ("momentum", 0.1): (AddDecayedWeights, "scale_by_learning_rate → trace"),
        ("nesterov", 0.1): (AddDecayedWeights, "scale_by_learning_rate → nesterov_trace"),
        ("rmsprop", 0.1): (AddDecayedWeights, "scale_by_rms → scale_by_learning_rate"),
        ("adam", 0.1): (AddDecayedWeights, "scale_by_adam"),
        ("adamw", 0.1): (DecoupledWeightDecay, "scale_by_adam"),
    }
    for (name, decay), (first, fused_names) in cases.items():
        plain = build_optimizer(name, weight_decay=decay)
        opt = build_optimizer(name, fuse_chain, weight_decay=decay)
        assert type(opt.transforms[0]) is first
        assert isinstance(opt.transforms[-1], Fused) and len(opt.transforms) == 2
        tail = opt.transforms[-1]
        assert " → ".join(stage.name for stage in tail.parts) == fused_names  # type: ignore[attr-defined]
        assert opt.state_names == plain.state_names
        assert "step" not in vars(opt) and type(opt).step is Optimizer.step
        assert repr(opt).endswith(f"fused[{' → '.join(map(repr, tail.parts))}])")  # type: ignore[attr-defined]


def test_amsgrad_keeps_a_nan_as_numpy_maximum_does() -> None:
    for fused in (False, True):
        opt = build_optimizer("adam", fuse_chain if fused else None, amsgrad=True)
        opt.init(2, 0, np.dtype("float64"))
        opt.state["v_max"][0] = np.nan
        w = np.ones(2)
        opt.step(w, np.array([1.0, np.nan]), 0.1)
        assert np.isnan(opt.state["v_max"]).tolist() == [True, True], fused


def test_a_fused_run_builds_its_optimizer_with_the_kernels() -> None:
    """The run's build step asks for the fused chain when the run takes the fused path, and
    for the NumPy chain otherwise."""
    import backprop_cli as bp
    from backprop_cli.kernels.optim import Fused
    from backprop_cli.runs.train.build import build_batching, build_network, build_training_state

    for path in ("numpy", "fused"):
        cfg = bp.load_config(CONFIG_DIR / "moons.yaml", overrides=[f"training.kernels={path}"])
        net = build_network(cfg, 2, np.random.default_rng(0))
        batching = build_batching(cfg, 200)
        training = build_training_state(cfg, net, batching, np.random.default_rng(1), True, 200)
        stages = training.optimizer.transforms
        assert isinstance(stages[-1], Fused) == (path == "fused"), stages
        assert training.kernels == path


def without_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if numba were not installed (its import problem looked up afresh, not cached)."""
    monkeypatch.setattr(kernels, "available", lambda: False)
    monkeypatch.setattr(kernels, "import_problem", kernels.import_problem.__wrapped__)


def test_how_a_run_picks_its_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """auto weighs the time the fused path should save (`expected_saving`) against what it
    costs to start: loading the kernels when numba's cache holds the compiled epoch, compiling
    them when it does not."""
    from backprop_cli.kernels import compile as compiling

    assert kernels.choose("numpy", 10**9, 10**9).path == "numpy"
    assert kernels.choose("fused", 1, 1).path == "fused"
    cache = tmp_path / "numba"
    monkeypatch.setattr(compiling, "cache_folder", lambda: cache)
    assert kernels.start_cost() == (kernels.START_COMPILING, "compile")
    (cache / "kernels_0").mkdir(parents=True)
    index = cache / "kernels_0" / "epoch.dense_steps-80.py311.nbi"
    index.write_bytes(b"")
    assert kernels.start_cost() == (kernels.START_COMPILING, "compile")  # an empty index
    index.write_bytes(b"an index")
    old = Path(kernels.__file__).with_name("epoch.py").stat().st_mtime - 10
    os.utime(index, (old, old))
    assert kernels.start_cost() == (kernels.START_COMPILING, "compile")  # of an older epoch.py
    os.utime(index)
    assert kernels.start_cost() == (kernels.START_CACHED, "load")
    # digits: 800 updates of 64 rows through 17,226 parameters and 202 units. Each saves
    # 40 µs + 17,226 × 0.6 ns + 64 × 202 × 0.5 ns = 56.7996 µs: 0.045 s in all, below 0.35 s.
    digits = kernels.choose("auto", 800, 17_226, 64, 202)
    assert digits.path == "numpy"
    assert kernels.expected_saving(800, 17_226, 64, 202) == pytest.approx(800 * 56.7996e-6)
    assert "save about 0.045 s over 800 updates, less than the 0.35 s its kernels take to load" in (
        digits.why
    )
    # 784-256-128-10 at batch 128, 10 epochs of 60,000 rows: 4,690 updates of 40 µs + 141 µs
    # + 25 µs, about 0.97 s: more than loading, less than compiling.
    mnist = kernels.choose("auto", 4_690, 235_146, 128, 394)
    assert mnist.path == "fused" and "more than the 0.35 s its kernels take to load" in mnist.why
    monkeypatch.setattr(compiling, "cache_folder", lambda: tmp_path / "empty")
    first = kernels.choose("auto", 4_690, 235_146, 128, 394)
    assert first.path == "numpy" and "less than the 5 s its kernels take to compile" in first.why
    assert kernels.choose("auto", 40_000, 235_146, 128, 394).path == "fused"
    monkeypatch.setattr(compiling, "cache_folder", lambda: None)  # bprop's cache off
    assert kernels.start_cost() == (kernels.START_COMPILING, "compile")
    without_numba(monkeypatch)
    refused = kernels.choose("auto", 10**9, 10**9)
    assert refused.path == "numpy" and "numba is not installed" in refused.why
    with pytest.raises(
        ConfigError, match=r"not installed: bprop's fast extra: pip install '\.\[fast\]'"
    ):
        kernels.choose("fused", 1, 1)


def test_a_numba_that_does_not_import_is_named_or_passed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numba installed beside a NumPy it does not support fails at import: auto takes NumPy,
    fused says why."""
    from backprop_cli.kernels import compile as compiling

    def refuse() -> None:
        raise ImportError("Numba needs NumPy 2.2 or less")

    monkeypatch.setattr(compiling, "numba", refuse)
    monkeypatch.setattr(kernels, "import_problem", kernels.import_problem.__wrapped__)
    assert kernels.choose("auto", 10**9, 10**9).path == "numpy"
    with pytest.raises(ConfigError, match=r"installed but does not import \(ImportError: Numba"):
        kernels.choose("fused", 1, 1)


def test_numba_without_scipy_refuses_fused_and_auto_takes_numpy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compiled epochs' products are numba's np.dot, which calls SciPy's BLAS: without it
    (numba installed on its own) fused says so and auto takes NumPy, before anything runs."""
    monkeypatch.setitem(sys.modules, "scipy.linalg.cython_blas", None)  # its import fails
    monkeypatch.setattr(kernels, "import_problem", kernels.import_problem.__wrapped__)
    with pytest.raises(ConfigError, match=r"numba's products need SciPy, which does not import"):
        kernels.choose("fused", 1, 1)
    assert kernels.choose("auto", 10**9, 10**9).path == "numpy"


def test_numba_told_to_compile_nothing_refuses_fused_and_auto_takes_numpy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NUMBA_DISABLE_JIT=1 runs the kernels as plain Python: a run once crashed writing a numpy
    float32 loss to JSON. In a child process, as numba reads the variable at its import."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "backprop_cli", "train", str(CONFIG_DIR / "moons.yaml"),
               "--out", str(out), "--set", "training.kernels=fused"]  # fmt: skip
    env = os.environ | {"NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "training.kernels: fused needs numba, and NUMBA_DISABLE_JIT is set" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)  # what the variable sets at import
    monkeypatch.setattr(kernels, "import_problem", kernels.import_problem.__wrapped__)
    assert kernels.choose("auto", 10**9, 10**9).path == "numpy"


def test_fused_without_numba_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_numba(monkeypatch)
    out = tmp_path / "run"
    config = str(CONFIG_DIR / "moons.yaml")
    result = cli(["train", config, "--out", str(out), "--set", "training.kernels=fused"])
    assert result.exit_code == 2, result.output
    assert "training.kernels: fused needs numba" in result.output
    assert "pip install '.[fast]' in bprop's folder" in result.output
    assert not out.exists()


def test_gradcheck_checks_the_fused_path_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli(["gradcheck", "--kernels", "fused", "--failures-only"])
    assert result.exit_code == 0, result.output
    assert "passed: all" in result.output
    config = cli(["gradcheck", str(CONFIG_DIR / "moons.yaml"), "--kernels", "fused"])
    assert config.exit_code == 0, config.output
    bogus = cli(["gradcheck", "--kernels", "gpu"])
    assert bogus.exit_code == 2 and "--kernels: choose numpy or fused" in bogus.output
    without_numba(monkeypatch)
    missing = cli(["gradcheck", "--kernels", "fused"])
    assert missing.exit_code == 2 and "--kernels: fused needs numba" in missing.output


def test_a_fused_run_equals_the_reference_and_says_so(tmp_path: Path) -> None:
    runs = {}
    for path in ("numpy", "fused"):
        out = tmp_path / path
        sets = ["--set", "training.epochs=3", "--set", f"training.kernels={path}"]
        result = cli(["train", str(CONFIG_DIR / "digits.yaml"), "--out", str(out), *sets])
        assert result.exit_code == 0, result.output
        assert f"({path} updates)" in result.output
        assert json.loads((out / "metrics.json").read_text())["kernels"] == path
        runs[path] = out
    # The layers' and the update's kernels round exactly as NumPy does; the loss's exp and log
    # are the C library's, which may differ from NumPy's vectorised float32 ones in the last
    # place: the histories agree to rounding.
    fused = strip_seconds(history_of(runs["fused"]))
    reference = strip_seconds(history_of(runs["numpy"]))
    for got, ref in zip(fused, reference, strict=True):
        assert got.keys() == ref.keys()
        for key, value in ref.items():
            assert got[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize(
    ("name", "epochs"),
    [("moons", 6),  # 2-16-1 in batches of 32: the whole compiled step
     ("digits", 2)],  # 64-128-64-10 in batches of 64: the layers', loss's and Adam's kernels
)  # fmt: skip
def test_a_fused_run_resumes_exactly(tmp_path: Path, name: str, epochs: int) -> None:
    sets = ["--set", "training.kernels=fused", "--set", "output.checkpoint_every=0"]
    config = str(CONFIG_DIR / f"{name}.yaml")
    full, part = tmp_path / "full", tmp_path / "part"
    assert cli(["train", config, "--out", str(full), "--quiet", *sets,
                "--set", f"training.epochs={epochs}"]).exit_code == 0  # fmt: skip
    assert cli(["train", config, "--out", str(part), "--quiet", *sets,
                "--set", f"training.epochs={epochs // 2}"]).exit_code == 0  # fmt: skip
    resumed = cli(["train", config, "--resume", str(part / "checkpoints/last.npz"), "--quiet",
                   *sets, "--set", f"training.epochs={epochs}"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    a = np.load(full / "checkpoints/last.npz")
    b = np.load(part / "checkpoints/last.npz")
    assert all(
        np.array_equal(a[k], b[k]) for k in a.files if k.startswith(("layers.", "optimizer."))
    )


def test_compiled_kernels_are_kept_in_bprops_cache_folder_and_only_there(tmp_path: Path) -> None:
    code = (
        "import numpy as np\n"
        "from backprop_cli.core.optim import build_optimizer\n"
        "from backprop_cli.kernels import fuse_chain\n"
        "opt = build_optimizer('adam', fuse_chain); opt.init(4, 2, np.dtype('float32'))\n"
        "assert opt.fused\n"
        "w = np.ones(4, np.float32); opt.step(w, np.ones(4, np.float32), 0.1)\n"
        "assert np.all(w < 1)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "BPROP_NO_CACHE")}

    def run(**extra: str) -> None:
        subprocess.run([sys.executable, "-c", code], env={**env, **extra}, check=True,
                       capture_output=True)  # fmt: skip

    run(BPROP_CACHE_DIR=str(tmp_path / "cache"))
    assert list((tmp_path / "cache" / "numba").rglob("*.nbi"))  # numba's index files
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run(BPROP_CACHE_DIR=str(blocker / "cache"))  # no folder can be made there: no cache
    run(BPROP_CACHE_DIR=str(tmp_path / "off"), BPROP_NO_CACHE="1")
    assert not (tmp_path / "off").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "cache"]


def test_commands_that_do_not_train_import_no_numba() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from backprop_cli.cli.app import app\n"
        "for args in (['--help'], ['config', sys.argv[1]], ['demo', 'descent']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(CONFIG_DIR / "moons.yaml")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


def network(activation: str, dtype: str, fused: bool):  # type: ignore[no-untyped-def]
    from backprop_cli.core.activations import get_activation
    from backprop_cli.core.layers import BatchNorm, Dense, Residual
    from backprop_cli.core.network import Network

    act = get_activation
    layers = [
        Dense(12, act(activation)), BatchNorm(activation=act("relu")),
        Residual([Dense(8, act(activation)), Dense(12, act("tanh"))]),
        Dense(4, act("softmax")),
    ]  # fmt: skip
    net = Network(layers, 6, "cross_entropy", np.random.default_rng(0), dtype)
    if fused:
        from backprop_cli.kernels.layers import install_layers

        assert install_layers(net) == 2  # tanh and the fused output keep NumPy
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "linear"])
def test_fused_layers_give_numpys_losses_and_gradients(activation: str, dtype: str) -> None:
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((32, 6)).astype(dtype), rng.integers(0, 4, 32)
    reference, fused = network(activation, dtype, False), network(activation, dtype, True)
    for _ in range(3):  # a few steps, the weights moving
        assert fused.loss_and_grad(X, y) == reference.loss_and_grad(X, y)
        np.testing.assert_array_equal(fused.grads, reference.grads)
        for net in (reference, fused):
            net.params -= 0.1 * net.grads
    np.testing.assert_array_equal(fused.predict(X), reference.predict(X))


def test_the_gradient_check_passes_on_the_fused_path() -> None:
    from backprop_cli.core.gradcheck import check_network

    net = network("leaky_relu", "float64", True)
    rng = np.random.default_rng(2)
    for slot in net.slots.values():  # biases, scales and shifts away from their symmetric start
        if slot.trainable and not slot.decay:
            net.params[slot.offset : slot.offset + slot.size] += rng.normal(0.0, 0.1, slot.size)
    X, y = rng.standard_normal((6, 6)), net.prepare_targets(rng.integers(0, 4, 6))
    results = list(check_network(net, X, y, "fused", rng=rng))
    trainable = [s for s in net.slots.values() if s.trainable]  # not batchnorm's statistics
    assert len(results) == len(trainable) + 1 and all(r.passed for r in results)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_fused_loss_follows_its_reference_for_100_steps(dtype: str) -> None:
    """Softmax cross-entropy in one pass: loss and gradient as the reference's to rounding (its
    exp and log are the C library's); after 100 steps the weights are within 1e-12 relative
    in float64, and in float32 within 1e-6 of each tensor's largest weight."""
    from backprop_cli.core.activations import get_activation
    from backprop_cli.core.layers import Dense
    from backprop_cli.core.network import Network

    def make() -> Network:
        layers = [Dense(16, get_activation("tanh")), Dense(5, get_activation("softmax"))]
        return Network(layers, 6, "cross_entropy", np.random.default_rng(0), dtype)

    reference, fused = make(), make()
    assert kernels.install_network(fused) == 1  # the loss: tanh keeps NumPy
    rng = np.random.default_rng(4)
    tolerance = 1e-6 if dtype == "float32" else 1e-12
    for _ in range(100):
        X = (rng.standard_normal((32, 6)) * 3).astype(dtype)
        y = fused.prepare_targets(rng.integers(0, 5, 32))
        expected = reference.loss_and_grad(X, y)
        assert fused.loss_and_grad(X, y) == pytest.approx(expected, rel=tolerance)
        np.testing.assert_allclose(fused.grads, reference.grads, rtol=tolerance, atol=tolerance)
        for net in (reference, fused):
            net.params -= np.asarray(0.1, dtype) * net.grads
    if dtype == "float64":
        np.testing.assert_allclose(fused.params, reference.params, rtol=tolerance, atol=0)
    for name in reference.slots:  # float32: to rounding, relative to each tensor's scale
        assert_within_scale(fused.param(name), reference.param(name), tolerance)
    fused.params[...] = reference.params  # the same weights: the reference's own arithmetic
    soft = rng.dirichlet(np.ones(5), 32).astype(dtype)  # class probabilities: the reference
    assert fused.loss_and_grad(X, soft) == reference.loss_and_grad(X, soft)
    np.testing.assert_array_equal(fused.grads, reference.grads)
    for net in (reference, fused):  # class weights: the reference
        net.loss.set_class_weights(np.arange(1.0, 6.0))
    assert fused.loss_and_grad(X, y) == reference.loss_and_grad(X, y)
    np.testing.assert_array_equal(fused.grads, reference.grads)
