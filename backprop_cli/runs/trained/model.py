"""A trained model: its network with the preprocessing it was trained with and its task, loaded
from a checkpoint or taken from a run in memory.

Inputs get the preprocessing fitted at training time: the standardization statistics stored in
the checkpoint, never statistics of the new data. Loading a model validates only what using it
takes (its `ModelSpec`, preprocessing and task) and imports no training code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...config.model_spec import ModelSpec
from ...core.losses import is_classification
from ...core.network import Network
from ...core.task import Task, class_count
from ...core.types import Array
from ...data.standardizer import Standardizer
from ...data.table.encoding import Encoding
from ...errors import CheckpointError, ConfigError, DataError
from ..artifacts.checkpoints import Checkpoint, check_preprocess
from ..artifacts.layout import RUN_CHECKPOINT, Key
from .networks import network_of
from .seeding import generators

if TYPE_CHECKING:
    from ...config.models import ExperimentConfig
    from ...data.splits import Dataset

#: Predictions are computed a block of rows at a time, the blocks holding at most this many rows
#: and about this many bytes of float64 features, whoever asks (`bprop predict` or the Python
#: API): memory stays bounded, and the same rows give the same numbers, bit for bit.
BLOCK_ROWS = 65_536
BLOCK_BYTES = 16 << 20


@dataclass
class Model:
    """A network with its weights, the preprocessing it was trained with and its task."""

    #: What the model is (name, seed, dtype, layers, loss).
    spec: ModelSpec
    net: Network
    #: The features' standardization, fitted on the training split (None: not standardized).
    scaler: Standardizer | None
    source: Path
    #: The training file's feature and target column names (None without a header).
    feature_names: list[str] | None = None
    target_name: str | None = None
    #: A table's fitted encoding: how a file's columns become the inputs.
    encoding: Encoding | None = None
    #: The epoch whose end the weights are from (None for a model never saved).
    epoch: int | None = None
    #: A regression's target standardization: outputs are mapped back to the target's units.
    target_scale: Standardizer | None = None
    #: What the outputs mean (classes and their names, or numbers).
    task: Task = field(default_factory=lambda: Task("regression", 1))
    #: The resolved config of the run that trained it, as plain data (read only when asked
    #: for: `experiment`).
    config: dict[str, Any] = field(default_factory=dict, repr=False)

    def experiment(self) -> ExperimentConfig:
        """The whole experiment the model was trained in, validated now (to draw its data's
        splits again); ConfigError when this version of bprop cannot read it."""
        from ...config.loading import validate

        return validate(self.config, f"{self.source} (config)")

    @property
    def data_target(self) -> str | None:
        """The target column its config named (None: the last column)."""
        data = self.config.get("data")
        target = data.get("target") if isinstance(data, dict) else None
        return target if isinstance(target, str) else None

    def class_names(self) -> list[str]:
        """The name of each output class: the data's names, or 0, 1, ..."""
        return list(self.task.classes)

    @property
    def classes(self) -> list[str] | None:
        """The data's names of the classes in label order (None: it named none), as the
        task holds them."""
        return self.task.class_names

    def table_encoding(self) -> Encoding | None:
        """How a table's columns become this model's inputs: its own encoding, or numeric
        columns by name for a model trained on named numeric columns; None when the model
        knows no names (columns are taken in order)."""
        if self.encoding is not None:
            return self.encoding
        if self.feature_names is None:
            return None
        task = "classification" if self.classification else "regression"
        encoding = Encoding.plain(self.feature_names, self.target_name, task, 0)
        encoding.classes = self.classes
        return encoding

    @property
    def n_features(self) -> int:
        return self.net.input_dim

    @property
    def classification(self) -> bool:
        return self.task.classification

    @property
    def block_rows(self) -> int:
        """How many rows `outputs` computes at a time (see `BLOCK_ROWS`)."""
        width = max(self.n_features, self.net.output_dim)
        return max(1, min(BLOCK_ROWS, BLOCK_BYTES // (8 * width)))

    def inputs(self, X: NDArray[Any], source: str, before: int = 0) -> Array:
        """Raw features, `checked`, standardized with the training statistics as training
        standardized: in the statistics' dtype (a table's were fitted on its values read into
        the network's dtype, an .npz's on float64), after the values are cast to it. So a
        column that dtype cannot tell apart (64-bit ids near 1e18 in float32, all one value
        there) is the constant column the network was trained on, not a spread of 1e10s."""
        X = self.checked(X, source, before)
        scaler = self.scaler
        with np.errstate(over="ignore", invalid="ignore"):
            if scaler is None:
                inputs = np.ascontiguousarray(X, dtype=self.net.dtype)
            else:
                inputs = scaler.transform(X, self.net.dtype)
        if not np.all(np.isfinite(inputs)):
            r, c = np.argwhere(~np.isfinite(inputs))[0]
            shown = X[r, c]
            if scaler is not None:
                shown = (X[r, c] - float(scaler.mean[c])) / float(scaler.std[c])
            raise DataError(
                f"{source}: row {before + r + 1}, column {c + 1}: {X[r, c]:.4g} (standardized: "
                f"{shown:.4g}) is beyond the range of {inputs.dtype}, in which the network "
                "computes; check the value"
            )
        return inputs

    def checked(self, X: NDArray[Any], source: str, before: int = 0) -> NDArray[np.float64]:
        """Raw features as float64, checked: rows of the model's width, every value finite.
        ``before``: rows of ``source`` before these (messages number rows as ``source`` does)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2 and len(X) == 0:
            raise DataError(f"{source}: no rows to use")
        if X.ndim != 2 or X.shape[1] != self.n_features:
            width = X.shape[1] if X.ndim == 2 else X.shape
            raise DataError(
                f"{source}: the model takes {self.n_features} feature columns; this input has "
                f"{width}. Give the same columns as at training time (without the target)"
            )
        if not np.all(np.isfinite(X)):
            bad = np.argwhere(~np.isfinite(X))[0]
            raise DataError(
                f"{source}: row {before + bad[0] + 1}, column {bad[1] + 1} is not finite"
            )
        return X

    def outputs(self, X: NDArray[Any], source: str, before: int = 0) -> Array:
        """The model's outputs for raw features: probabilities under a fused loss, a
        regression's values in the target's units; computed `block_rows` rows at a time."""
        return self.outputs_of(self.inputs(X, source, before))

    def outputs_of(self, inputs: Array) -> Array:
        """`outputs` of inputs already standardized (`inputs`)."""
        rows = self.block_rows
        if len(inputs) <= rows:
            return self.in_target_units(self.net.predict(inputs))
        blocks = [self.net.predict(inputs[i : i + rows]) for i in range(0, len(inputs), rows)]
        return self.in_target_units(np.concatenate(blocks))

    def in_target_units(self, outputs: Array) -> Array:
        """The network's outputs with the target standardization undone (when there is one)."""
        if self.target_scale is None:
            return outputs
        return self.target_scale.unscale(outputs)


def model_of_data(
    cfg: ExperimentConfig, net: Network, data: Dataset, source: Path, task: Task
) -> Model:
    """The model a run has in memory: its network with the preprocessing of its data."""
    config = cfg.resolved()
    return Model(
        ModelSpec.of(config), net, data.scaler, source, data.feature_names, data.target_name,
        data.encoding, target_scale=data.target_scale, task=task, config=config,
    )  # fmt: skip


def checkpoint_path(path: Path) -> Path:
    """A checkpoint file, or the one a run directory stands for."""
    path = Path(path)
    if path.is_dir():
        found = path / RUN_CHECKPOINT
        if not found.exists():
            raise CheckpointError(f"{path}: a run directory needs {RUN_CHECKPOINT}; none found")
        return found
    return path


def load_model(path: Path) -> Model:
    """The network a checkpoint (or a run directory's last.npz) holds, ready to evaluate."""
    path = checkpoint_path(path)
    ckpt = Checkpoint.read(path)
    if ckpt.config is None:
        raise CheckpointError(f"{path}: holds no config; it was not written by bprop train")
    spec = _spec(ckpt)
    params = ckpt.params
    first = params.get("layers.0.W")
    if first is None:
        first = next(v for k, v in params.items() if k.endswith(".W"))
    noise = generators(spec.seed).noise
    net = network_of(spec.model, spec.loss, spec.dtype, int(first.shape[1]), None, noise)
    net.load_state_dict(params, source=str(path))
    check_preprocess(ckpt, net.input_dim)
    task = ckpt.task
    if task is not None and task.classification != is_classification(spec.loss):
        raise CheckpointError(
            f"{path}: its task says {task.kind}, but its loss {spec.loss} is "
            f"{'classification' if is_classification(spec.loss) else 'regression'}"
        )
    if task is None or task.outputs != net.output_dim:
        raise CheckpointError(
            f"{path}: its task does not match the network's {net.output_dim} outputs"
        )
    weights = ckpt.class_weights
    if weights is not None:
        if not task.classification or len(weights) != task.n_classes:
            raise CheckpointError(
                f"{path}: {Key.CLASS_WEIGHTS} holds {len(weights)} weights for a network of "
                f"{net.output_dim} outputs and loss {spec.loss}"
            )
        net.loss.set_class_weights(weights)
    features, target, classes = _columns(ckpt, net.input_dim)
    encoding = None
    if ckpt.data.encoding is not None:
        try:
            encoding = Encoding.from_json(ckpt.data.encoding, str(path))
        except ValueError as exc:
            raise CheckpointError(str(exc)) from None
        if encoding.width != net.input_dim:
            raise CheckpointError(
                f"{path}: {Key.DATA_ENCODING} makes {encoding.width} inputs, but the network "
                f"takes {net.input_dim}"
            )
        classes = encoding.classes
    if classes is not None and len(classes) != class_count(net.output_dim):
        raise CheckpointError(
            f"{path}: names {len(classes)} classes for a network of {net.output_dim} outputs"
        )
    scale = _target_scale(ckpt, net)
    return Model(
        spec, net, ckpt.scaler, path, features, target, encoding, ckpt.weights_epoch, scale,
        task, ckpt.config,
    )  # fmt: skip


def _spec(ckpt: Checkpoint) -> ModelSpec:
    """What the checkpoint's config says the model is, validated alone (a rule of training
    added later never refuses a model trained before it)."""
    from pydantic import ValidationError

    assert ckpt.config is not None
    try:
        return ModelSpec.of(ckpt.config)
    except ValidationError as exc:
        from ...config.loading import render_errors  # the messages of any config

        lines = render_errors(exc, ckpt.config, f"{ckpt.path} (config)")
        raise ConfigError("\n".join(lines)) from None


def _target_scale(ckpt: Checkpoint, net: Network) -> Standardizer | None:
    """The checkpoint's target standardization, checked against the network's outputs."""
    scale = ckpt.target_scale
    if scale is None:
        return None
    if scale.mean.shape != (net.output_dim,):
        raise CheckpointError(
            f"{ckpt.path}: {Key.TARGET_MEAN} holds {scale.mean.shape[0]} values for a network "
            f"of {net.output_dim} outputs"
        )
    return Standardizer(scale.mean.astype(np.float64), scale.std.astype(np.float64))


def _columns(ckpt: Checkpoint, width: int) -> tuple[list[str] | None, str | None, list[str] | None]:
    """The feature, target and class names the checkpoint records (None where it has none)."""
    columns = ckpt.data.columns
    if columns is None:
        return None, None, None
    try:
        features, target = columns["features"], columns["target"]
        classes = columns.get("classes")
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{ckpt.path}: data.columns is not readable ({exc})") from None
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, str) for c in classes)
    ):
        raise CheckpointError(f"{ckpt.path}: data.columns: classes must be a list of names")
    if features is None:
        return None, None, classes
    plain = isinstance(features, list) and all(isinstance(f, str) for f in features)
    if not plain or len(features) != width or not isinstance(target, str | None):
        raise CheckpointError(
            f"{ckpt.path}: data.columns must name the network's {width} features and its target"
        )
    return features, target, classes
