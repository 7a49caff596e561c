"""Trained networks for other tools: ONNX, a PyTorch ``state_dict`` and plain weights.

- ``onnx``: the whole inference path as one ONNX graph (opset 17, float32): the stored input
  preprocessing (missing numeric cells filled, standardization), every layer in evaluation mode
  (dense, batchnorm with its running statistics, residual blocks, dropout as the identity, every
  activation) and the output activation (softmax or sigmoid under a fused loss). Input
  ``features`` (batch, n_features), output ``probabilities`` (classification) or ``predictions``
  (regression); the class, feature and target names are in the model's metadata. Categorical
  columns cannot be one-hot encoded inside the graph from their texts, so the input then takes
  the encoded columns (named in the metadata) and `input_notes` says how to make them.
- ``torch``: the parameters under ``torch.nn`` names in a safetensors file (tensors only, no
  pickled code) and the code of the matching module (`torch_snippet`).
- ``npz``: the weights and the preprocessing, without optimizer state or counters.

onnx and safetensors are imported only here, when an export asks for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...core.layers import BatchNorm, Dense, Dropout, Layer, Residual
from ...errors import BpropError, argument
from ...system.atomic import write_with
from ..artifacts.layout import Key
from .model import Model

FORMATS = ("onnx", "torch", "npz")
OPSET = 17
INSTALL = {
    "onnx": "bprop's onnx extra: pip install '.[onnx]' in bprop's folder (the onnx and "
    "onnxruntime packages)",
    "torch": "bprop's torch extra: pip install '.[torch]' in bprop's folder (the safetensors "
    "package)",
}

#: bprop's activations as ONNX operators (prelu's slopes and the α's are added as needed).
ONNX_OPS = {
    "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "leaky_relu": "LeakyRelu",
    "elu": "Elu", "prelu": "PRelu", "softmax": "Softmax", "linear": "Identity",
}  # fmt: skip


def _require(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise BpropError(f"{argument('fmt')} {what} needs {INSTALL[what]}") from None


def input_columns(model: Model) -> list[str]:
    """The names of the columns the exported model takes, in order."""
    encoding = model.table_encoding()
    if encoding is not None:
        return encoding.columns
    return model.feature_names or [f"x{i + 1}" for i in range(model.n_features)]


def input_notes(model: Model) -> list[str]:
    """What a caller must do to a table's columns before the exported model can take them."""
    encoding = model.table_encoding()
    if encoding is None:
        return []
    notes = []
    for feature in encoding.features:
        if feature.kind == "categorical":
            notes.append(
                f"{feature.name}: one column per category, "
                f"{', '.join(feature.columns)}: 1 where the cell is that category, else 0 "
                "(the graph cannot one-hot encode texts)"
            )
        elif feature.fill is None:
            notes.append(f"{feature.name}: a missing cell gives NaN outputs (none was filled)")
    return notes


# ------------------------------------------------------------------------ ONNX
class _Graph:
    """The nodes and initializers of an ONNX graph under construction."""

    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: Any) -> str:
        name = self.name(stem)
        array = float32(value, stem)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        out = self.name(stem or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def activation(self, x: str, act: Any) -> str:
        name = act.name
        if name == "linear":
            return x
        if name in ("leaky_relu", "elu"):
            return self.op(ONNX_OPS[name], [x], alpha=float(act.alpha))
        if name == "prelu":
            return self.op("PRelu", [x, self.constant("slope", act.alpha)])
        if name == "softmax":
            return self.op("Softmax", [x], axis=-1)
        return self.op(ONNX_OPS[name], [x])

    def layer(self, x: str, layer: Layer) -> str:
        if isinstance(layer, Dense):
            W, b = self.constant("W", layer.W), self.constant("b", layer.b)
            z = self.op("Gemm", [x, W, b], "dense", transB=1)
            if layer.fused_output:
                return z  # the loss's output activation follows
            return self.activation(z, layer.activation)
        if isinstance(layer, BatchNorm):
            inputs = [x] + [
                self.constant(k, getattr(layer, k))
                for k in ("gamma", "beta", "running_mean", "running_var")
            ]
            z = self.op("BatchNormalization", inputs, "batchnorm", epsilon=float(layer.eps))
            return self.activation(z, layer.activation)
        if isinstance(layer, Dropout):
            return x  # the identity in evaluation mode
        if isinstance(layer, Residual):
            h = x
            for inner in layer.layers:
                h = self.layer(h, inner)
            return self.op("Add", [x, h], "residual")
        raise BpropError(f"export: no ONNX form for a {layer.name} layer")


def float32(values: Any, what: str) -> np.ndarray:
    """``values`` in float32, in which the exported model computes; a `BpropError` for a value
    beyond its range (a target of scale 1e300), never an infinite constant."""
    wide = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        narrow = wide.astype(np.float32)
    if np.any(np.isfinite(wide) & ~np.isfinite(narrow)):
        raise BpropError(
            f"export: {what} holds {float(np.max(np.abs(wide))):.3g}, beyond float32 (3.4e38), "
            "in which the exported model computes; rescale the data and train again"
        )
    return narrow


def onnx_model(model: Model) -> Any:
    """The ONNX ModelProto of ``model``'s whole inference path."""
    onnx = _require("onnx", "onnx")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    g = _Graph(helper, numpy_helper)
    net, x = model.net, "features"
    encoding = model.table_encoding()
    if encoding is not None and any(
        f.kind == "numeric" and f.fill is not None for f in encoding.features
    ):
        fills = [
            (f.fill if f.kind == "numeric" and f.fill is not None else 0.0)
            for f in encoding.features
            for _ in f.columns
        ]
        x = g.op("Where", [g.op("IsNaN", [x]), g.constant("fill", fills), x], "filled")
    if model.scaler is not None:
        x = g.op("Sub", [x, g.constant("mean", model.scaler.mean)])
        x = g.op("Div", [x, g.constant("std", model.scaler.std)], "standardized")
    for layer in net.layers:
        x = g.layer(x, layer)
    last = net.layers[-1]
    if isinstance(last, Dense) and last.fused_output:  # the loss's output activation
        x = g.activation(x, last.activation)
    if model.target_scale is not None:  # back to the target's units: ŷ = ŷ'·σ + μ
        x = g.op("Mul", [x, g.constant("target_std", model.target_scale.std)])
        x = g.op("Add", [x, g.constant("target_mean", model.target_scale.mean)], "unscaled")
    out_name = "probabilities" if model.classification else "predictions"
    g.nodes.append(helper.make_node("Identity", [x], [out_name]))
    float32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        f"bprop {model.spec.name}",
        [helper.make_tensor_value_info("features", float32, ["batch", net.input_dim])],
        [helper.make_tensor_value_info(out_name, float32, ["batch", net.output_dim])],
        g.initializers,
    )
    proto = helper.make_model(
        graph,
        producer_name="bprop",
        opset_imports=[helper.make_operatorsetid("", OPSET)],
    )
    proto.ir_version = 8  # read by every onnxruntime that knows opset 17
    metadata = {
        "input_columns": json.dumps(input_columns(model)),
        "input_notes": json.dumps(input_notes(model)),
        "task": model.task.kind,
        "source": str(model.source),
    }
    if model.classification:
        metadata["class_names"] = json.dumps(model.class_names())
    if model.target_name is not None:
        metadata["target"] = model.target_name
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    return proto


# ---------------------------------------------------------------------- torch
def torch_state(model: Model) -> tuple[dict[str, np.ndarray], list[str]]:
    """The parameters under the names of the module `torch_snippet` builds, and its lines."""
    state: dict[str, np.ndarray] = {}
    lines: list[str] = []

    def add(prefix: str, layer: Layer, into: list[str], depth: int) -> None:
        pad = "    " * depth
        if isinstance(layer, Dense):
            state[f"{prefix}{len(into)}.weight"] = layer.W  # (out, in), as nn.Linear keeps it
            state[f"{prefix}{len(into)}.bias"] = layer.b
            into.append(f"{pad}nn.Linear({layer.fan_in}, {layer.units}),")
            if not layer.fused_output:
                _torch_activation(prefix, layer.activation, layer.units, into, state, pad)
        elif isinstance(layer, BatchNorm):
            k = len(into)
            for ours, theirs in (
                ("gamma", "weight"),
                ("beta", "bias"),
                ("running_mean", "running_mean"),
                ("running_var", "running_var"),
            ):
                state[f"{prefix}{k}.{theirs}"] = getattr(layer, ours)  # fmt: skip
            state[f"{prefix}{k}.num_batches_tracked"] = np.array(0, dtype=np.int64)
            momentum = 1 - layer.momentum  # torch: new = (1 − m)·old + m·batch
            into.append(
                f"{pad}nn.BatchNorm1d({layer.width}, eps={layer.eps!r}, momentum={momentum:g}),"
            )
            _torch_activation(prefix, layer.activation, layer.width, into, state, pad)
        elif isinstance(layer, Dropout):
            into.append(f"{pad}nn.Dropout({layer.rate!r}),")
        elif isinstance(layer, Residual):
            inner: list[str] = []
            for child in layer.layers:
                add(f"{prefix}{len(into)}.block.", child, inner, depth + 1)
            into.append(f"{pad}Residual(\n" + "\n".join(inner) + f"\n{pad}),")
        else:
            raise BpropError(f"export: no PyTorch form for a {layer.name} layer")

    for layer in model.net.layers:
        add("", layer, lines, 1)
    last = model.net.layers[-1]
    if isinstance(last, Dense) and last.fused_output:  # the loss's output activation
        _torch_activation("", last.activation, last.units, lines, state, "    ")
    scale = model.target_scale
    if scale is not None:  # back to the target's units: ŷ = ŷ'·σ + μ
        k = len(lines)
        state[f"{k}.std"] = float32(scale.std, "target_std")
        state[f"{k}.mean"] = float32(scale.mean, "target_mean")
        lines.append(f"    TargetScale({len(scale.mean)}),")
    return {k: np.ascontiguousarray(v) for k, v in state.items()}, lines


def _torch_activation(
    prefix: str, act: Any, units: int, into: list[str], state: dict[str, np.ndarray], pad: str
) -> None:
    name = act.name
    if name == "linear":
        return
    if name == "prelu":
        state[f"{prefix}{len(into)}.weight"] = np.asarray(act.alpha)
        into.append(f"{pad}nn.PReLU({units}),")
        return
    module = {
        "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()", "relu": "nn.ReLU()",
        "leaky_relu": f"nn.LeakyReLU({getattr(act, 'alpha', 0.01)!r})",
        "elu": f"nn.ELU({getattr(act, 'alpha', 1.0)!r})", "softmax": "nn.Softmax(dim=-1)",
    }[name]  # fmt: skip
    into.append(f"{pad}{module},")


def torch_snippet(model: Model, path: Path, lines: list[str]) -> str:
    """Python that builds the matching ``torch.nn`` module and loads the exported weights."""
    residual = any(isinstance(layer, Residual) for layer in model.net.layers)
    text = ["import torch", "from torch import nn", "from safetensors.torch import load_file", ""]
    if residual:
        text += [
            "class Residual(nn.Module):",
            "    def __init__(self, *block):",
            "        super().__init__()",
            "        self.block = nn.Sequential(*block)",
            "",
            "    def forward(self, x):",
            "        return x + self.block(x)",
            "",
        ]
    if model.target_scale is not None:
        text += [
            "class TargetScale(nn.Module):",
            "    # the target's standardization undone: y = output * std + mean",
            "    def __init__(self, n):",
            "        super().__init__()",
            "        self.register_buffer('std', torch.ones(n))",
            "        self.register_buffer('mean', torch.zeros(n))",
            "",
            "    def forward(self, x):",
            "        return x * self.std + self.mean",
            "",
        ]
    text += ["model = nn.Sequential(", *lines, ")"]
    text.append(f"model.load_state_dict(load_file({str(path)!r}))")
    text.append("model.eval()")
    if model.scaler is not None:
        text.append(
            "# standardize inputs first: x = (x - mean) / std, with mean and std from "
            f"the checkpoint's preprocess.mean and preprocess.std ({model.source})"
        )
    return "\n".join(text)


# -------------------------------------------------------------------- writing
def export(model: Model, fmt: str, out: Path, exclusive: bool) -> str:
    """Write ``model`` to ``out`` in ``fmt``; returns what the user should read (the torch code,
    the input notes), possibly empty."""
    writers: dict[str, Callable[[Model, Path, bool], str]] = {
        "onnx": _write_onnx, "torch": _write_torch, "npz": _write_npz,
    }  # fmt: skip
    return writers[fmt](model, out, exclusive)


def _write_onnx(model: Model, out: Path, exclusive: bool) -> str:
    proto = onnx_model(model)
    data = proto.SerializeToString()
    write_with(out, lambda fh: _put(fh, data), exclusive)
    return "\n".join(input_notes(model))


def _write_torch(model: Model, out: Path, exclusive: bool) -> str:
    st = _require("safetensors.numpy", "torch")
    state, lines = torch_state(model)
    data = st.save(state, metadata={"format": "pt", "source": str(model.source)})
    write_with(out, lambda fh: _put(fh, data), exclusive)
    return torch_snippet(model, out, lines)


def _write_npz(model: Model, out: Path, exclusive: bool) -> str:
    arrays: dict[str, np.ndarray] = dict(model.net.state_dict())
    if model.scaler is not None:
        arrays[Key.MEAN], arrays[Key.STD] = model.scaler.mean, model.scaler.std
    if model.target_scale is not None:
        arrays[Key.TARGET_MEAN] = model.target_scale.mean
        arrays[Key.TARGET_STD] = model.target_scale.std
    arrays["input_columns"] = np.array(json.dumps(input_columns(model)))
    if model.classification:
        arrays["class_names"] = np.array(json.dumps(model.class_names()))
    write_with(out, lambda fh: np.savez(fh, **arrays), exclusive)  # type: ignore[arg-type]
    return ""


def _put(fh: Any, data: bytes) -> None:
    fh.write(data)
