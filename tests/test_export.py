"""bprop export: the ONNX graph matches bprop predict on every shipped config's test split, the
PyTorch state_dict has nn's names and shapes, and npz keeps weights and preprocessing only."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.runs.trained.evaluation import split_of
from backprop_cli.runs.trained.export import input_columns, input_notes, torch_state
from backprop_cli.runs.trained.model import load_model

from helpers import CONFIG_DIR, cli

CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


@cache
def trained(config: Path) -> Path:
    """``config`` trained for 2 epochs (a cached run directory)."""
    import tempfile

    out = Path(tempfile.mkdtemp()) / config.stem
    result = cli(["train", str(config), "--out", str(out), "--quiet",
                  "--set", "training.epochs=2", "--set", "output.checkpoint_every=0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


#: The configs the quick suite exports: a table with categories and names (penguins), a
#: regression (sine), images (digits), a classifier of points (moons); `make test-slow` exports
#: every other shipped config too.
QUICK_EXPORTS = ("penguins", "sine", "digits", "moons")


@pytest.mark.parametrize(
    "config",
    [c if c.stem in QUICK_EXPORTS else pytest.param(c, marks=pytest.mark.slow) for c in CONFIGS],
    ids=lambda c: c.stem,
)
def test_the_onnx_model_matches_bprop_predict_on_every_shipped_config(
    config: Path, tmp_path: Path
) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    run = trained(config)
    path = tmp_path / f"{config.stem}.onnx"
    result = cli(["export", str(run), "--format", "onnx", "--out", str(path)])
    assert result.exit_code == 0, (config.stem, result.output)
    model = load_model(run)
    split = "test" if model.experiment().data.test_split > 0 else "train"
    X, _ = split_of(model.experiment(), split)
    expected = model.outputs(X, "test")  # a regression's in the target's units
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [output] = session.get_outputs()
    assert [i.name for i in session.get_inputs()] == ["features"]
    assert output.name == ("probabilities" if model.classification else "predictions")
    got = session.run(None, {"features": X.astype(np.float32)})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=config.stem)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["input_columns"]) == input_columns(model)
    if model.classification:
        assert json.loads(meta["class_names"]) == model.class_names()


def test_onnx_layers_beyond_dense_and_every_activation(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    layers = (
        "model.layers=[{units: 8, activation: prelu}, {type: batchnorm, activation: elu},"
        " {type: residual, layers: [{units: 6, activation: leaky_relu, alpha: 0.2},"
        " {units: 8, activation: tanh}, {type: dropout, rate: 0.3}]},"
        " {units: 5, activation: relu}, {units: 4, activation: sigmoid},"
        " {units: 5, activation: softmax}]"
    )
    run = tmp_path / "run"
    result = cli(["train", str(CONFIG_DIR / "blobs.yaml"), "--out", str(run), "--quiet",
                  "--set", layers, "--set", "training.epochs=3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert cli(["export", str(run), "--out", str(tmp_path / "m.onnx")]).exit_code == 0
    model = load_model(run)
    X, _ = split_of(model.experiment(), "test")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    got = session.run(None, {"features": X.astype(np.float32)})[0]
    np.testing.assert_allclose(got, model.net.predict(model.inputs(X, "x")), rtol=1e-5, atol=1e-6)
    big = np.repeat(X, 50, axis=0).astype(np.float32)  # any batch size
    assert session.run(None, {"features": big})[0].shape == (len(big), 5)
    import onnx

    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    [features] = proto.graph.input
    assert features.type.tensor_type.shape.dim[0].dim_param == "batch"  # a dynamic batch axis


def test_a_table_with_categories_and_gaps_says_what_the_caller_must_do(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    run = trained(CONFIG_DIR / "penguins.yaml")
    model = load_model(run)
    notes = input_notes(model)
    assert any(n.startswith("island: one column per category, island=") for n in notes)
    result = cli(["export", str(run), "--out", str(tmp_path / "p.onnx")])
    assert result.exit_code == 0 and "island: one column per category" in result.output
    # A numeric gap (NaN) is filled inside the graph with the training fill, as predict does.
    X, _ = split_of(model.experiment(), "test")
    numeric = [i for i, c in enumerate(input_columns(model)) if "=" not in c]
    gapped = X.astype(np.float32).copy()
    gapped[0, numeric[0]] = np.nan
    filled = X.copy()
    encoding = model.table_encoding()
    assert encoding is not None
    filled[0, numeric[0]] = next(f.fill for f in encoding.features if f.kind == "numeric")
    session = onnxruntime.InferenceSession(str(tmp_path / "p.onnx"))
    got = session.run(None, {"features": gapped})[0]
    np.testing.assert_allclose(got, model.net.predict(model.inputs(filled, "x")), atol=1e-5)


def test_the_torch_state_dict_has_nns_names_and_shapes() -> None:
    run = trained(CONFIG_DIR / "iris.yaml")
    model = load_model(run)
    state, lines = torch_state(model)
    W0 = model.net.param("layers.0.W")
    # Linear(4 → 16), Tanh, Linear(16 → 3), Softmax: nn.Linear keeps weight as (out, in), as
    # bprop does, so the tensors go over unchanged.
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert state["0.weight"].shape == (16, 4) and np.array_equal(state["0.weight"], W0)
    assert state["2.bias"].shape == (3,)
    assert [line.strip() for line in lines] == [
        "nn.Linear(4, 16),", "nn.Tanh(),", "nn.Linear(16, 3),", "nn.Softmax(dim=-1),",
    ]  # fmt: skip


def test_torch_export_writes_safetensors_and_matches_torch_when_present(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.numpy")
    run = trained(CONFIG_DIR / "spirals.yaml")
    out = tmp_path / "m.safetensors"
    result = cli(["export", str(run), "--format", "torch", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "model = nn.Sequential(" in result.output and "load_state_dict" in result.output
    loaded = safetensors.load_file(str(out))
    state, _ = torch_state(load_model(run))
    assert set(loaded) == set(state)
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key], value)
    torch = pytest.importorskip("torch")
    code = result.output[result.output.index("import torch") :]
    scope: dict[str, object] = {}
    exec(code, scope)  # the printed snippet, as a user would paste it
    model = load_model(run)
    X, _ = split_of(model.experiment(), "test")
    inputs = model.inputs(X, "x")
    with torch.no_grad():
        got = scope["model"](torch.from_numpy(inputs.astype(np.float32))).numpy()  # type: ignore[operator]
    np.testing.assert_allclose(got, model.net.predict(inputs), rtol=1e-5, atol=1e-6)


def test_npz_export_keeps_weights_and_preprocessing_only(tmp_path: Path) -> None:
    run = trained(CONFIG_DIR / "iris.yaml")
    out = tmp_path / "w.npz"
    assert cli(["export", str(run), "--format", "npz", "--out", str(out)]).exit_code == 0
    with np.load(out, allow_pickle=False) as archive:
        keys = set(archive.files)
        assert not any(k.startswith("optimizer.") for k in keys) and "rng_state" not in keys
        assert {"layers.0.W", "layers.0.b", "preprocess.mean", "preprocess.std"} <= keys
        assert json.loads(str(archive["class_names"])) == load_model(run).class_names()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "keras"], "--format: choose from onnx, torch, npz"),
        (["--out", "{tmp}/exists.onnx"], "exists; choose another name or pass --overwrite"),
    ],
)
def test_export_refuses_bad_requests(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "exists.onnx").write_text("mine")
    run = trained(CONFIG_DIR / "xor-seed.yaml")
    result = cli(["export", str(run), *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2 and message in result.output, result.output
    assert (tmp_path / "exists.onnx").read_text() == "mine"


@pytest.mark.parametrize(("fmt", "module", "hint"), [
    ("onnx", "onnx", "pip install '.[onnx]' in bprop's folder"),
    ("torch", "safetensors.numpy", "pip install '.[torch]' in bprop's folder"),
])  # fmt: skip
def test_without_the_extra_the_export_exits_2_with_the_install_hint(
    fmt: str, module: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    out = tmp_path / "m.out"
    result = cli(["export", str(trained(CONFIG_DIR / "xor-seed.yaml")), "--format", fmt,
                  "--out", str(out)])  # fmt: skip
    assert result.exit_code == 2 and hint in result.output, result.output
    assert not out.exists()
