"""Small factories that turn a validated config into engine objects and training data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...config import ExperimentConfig
from ...core.batching import Batching
from ...core.diagnostics import Diagnostics
from ...core.history import EarlyStopping, monitor_problem
from ...core.losses import is_classification
from ...core.network import Network
from ...core.optim import ClipByGlobalNorm, ClipByValue, FuseChain, Optimizer, build_optimizer
from ...core.schedules import Schedule, build_schedule
from ...core.split import Split
from ...core.training import TrainingState
from ...data import Dataset, load_data, scale_targets
from ...errors import ConfigError, DataError
from ...kernels import (
    choose,
    compiled_epoch,
    fuse_chain,
    fuse_network,
    install_network,
    whole_step,
)
from ..trained.networks import network_of

if TYPE_CHECKING:
    from ...core.gradcheck import Fuse


def build_splits(cfg: ExperimentConfig, rng: np.random.Generator, memory: Any = None) -> Dataset:
    """The run's data: loaded (from ``memory`` when the data is held there), split, its
    features standardized and, for a regression, its targets too (`scales_target`)."""
    scale, dtype = cfg.data.standardize, np.dtype(cfg.dtype)
    data = load_data(cfg.data, cfg.task(), rng, scale, dtype, memory)
    scaled = scales_target(cfg) and not data.labelled
    return scale_targets(data) if scaled else data


def scales_target(cfg: ExperimentConfig) -> bool:
    """Whether the run trains on standardized targets: ``data.standardize_target``, by default
    every regression (of numbers: the whole-number labels of a classification data set trained
    with mse, as the notes' XOR, stay labels)."""
    if cfg.data.standardize_target is not None:
        return cfg.data.standardize_target
    return not is_classification(cfg.loss)


def build_network(
    cfg: ExperimentConfig,
    input_dim: int,
    rng: np.random.Generator,
    dtype: str | None = None,
    noise_rng: np.random.Generator | None = None,
    batch_rows: int = 1,
) -> Network:
    """The network of ``cfg``, once its size (with batches of ``batch_rows``) is known to fit in
    memory."""
    dtype = dtype or cfg.dtype
    return network_of(cfg.model, cfg.loss, dtype, input_dim, rng, noise_rng, batch_rows)


def build_optimizer_from(cfg: ExperimentConfig, fuse: FuseChain | None = None) -> Optimizer:
    """The optimizer of ``cfg`` with its hyperparameters (its chain fused by ``fuse``, the fused
    path's `fuse_chain`); its lr reaches each step through the schedule, not the optimizer."""
    params = cfg.optimizer.model_dump()
    del params["lr"]
    return build_optimizer(params.pop("type"), fuse, **params)


def build_clip(cfg: ExperimentConfig) -> ClipByGlobalNorm | ClipByValue | None:
    """``training.clip`` as the transform the loop applies before the optimizer (called on the
    gradient, it clips it and returns its norm before clipping)."""
    clip = cfg.training.clip
    if clip is None:
        return None
    return ClipByGlobalNorm(clip.max_norm) if clip.type == "norm" else ClipByValue(clip.max_value)


def build_schedule_from(cfg: ExperimentConfig) -> Schedule:
    params = cfg.schedule.model_dump()
    name, warmup = params.pop("type"), params.pop("warmup_epochs")
    return build_schedule(name, cfg.optimizer.lr, cfg.training.epochs, warmup, **params)


def build_batching(cfg: ExperimentConfig, n_train: int | None = None) -> Batching:
    """The batch strategy of ``cfg``; given the ``n_train`` training rows, a minibatch larger
    than them is refused (rather than silently cut to them).

    Raises:
        ConfigError: ``training.batching.size`` is more than ``n_train``.
    """
    b = cfg.training.batching
    size = getattr(b, "size", 1)
    if n_train is not None and b.type == "minibatch" and size > n_train:
        raise ConfigError(
            f"training.batching.size: {size} is more than the {n_train} training samples; "
            f"use at most {n_train}, or batching {{type: full}}"
        )
    return Batching(b.type, size)


def build_training_state(
    cfg: ExperimentConfig,
    net: Network,
    batching: Batching,
    shuffle_rng: np.random.Generator,
    has_validation: bool,
    n_train: int = 0,
    took: str | None = None,
) -> TrainingState:
    """The training, with ``batching`` (`build_batching`); ``has_validation`` says whether the
    data has a validation split, and ``n_train`` (its training rows) how long the run is, for
    ``training.kernels: auto``, which keeps a resumed run to the path it ``took``."""
    for key, watched in cfg.monitors().items():
        problem = monitor_problem(watched, has_validation)
        if problem:
            raise ConfigError(f"{key}: {problem}")
    stop = cfg.training.early_stopping
    monitor = (
        EarlyStopping(stop.monitor, stop.patience, stop.min_delta, stop.restore_best)
        if stop
        else EarlyStopping.tracker("val_loss" if has_validation else "train_loss")
    )
    updates = cfg.training.epochs * batching.steps_per_epoch(max(n_train, 1))
    units = sum(getattr(layer, "units", 0) for _, layer in net.walk())
    batch = batching.batch_size(max(n_train, 1))
    choice = choose(cfg.training.kernels, updates, net.n_params, batch, units, took)
    kernels = choice.path
    optimizer = build_optimizer_from(cfg, fuse_chain if kernels == "fused" else None)
    optimizer.init(net.n_params, net.n_decay, net.dtype)
    step, epoch, clip = None, None, build_clip(cfg)
    if kernels == "fused":
        fused_layers = install_network(net)  # the layers without a kernel keep NumPy
        if not cfg.training.diagnostics:
            epoch = compiled_epoch(net, optimizer, clip, batch)
        if epoch is None:
            step = whole_step(net, batch)
        if not optimizer.fused and not fused_layers and step is None and epoch is None:
            kernels = "numpy"  # nothing to fuse: the reference runs
    return TrainingState(
        net,
        optimizer,
        build_schedule_from(cfg),
        batching,
        cfg.training.epochs,
        cfg.training.shuffle,
        shuffle_rng,
        clip,
        monitor,
        diagnostics=Diagnostics(net) if cfg.training.diagnostics else None,
        kernels=kernels,
        step_kernel=step,
        epoch_kernel=epoch,
        path=choice.why,
    )


def fused_path() -> Fuse:
    """What puts a network on the fused path (its kernels installed, its whole step returned),
    for a gradient check of that path.

    Raises:
        ConfigError: numba is not installed (with the install hint).
    """
    choose("fused", 1, 1)
    return fuse_network


def _class_list(data: Dataset, n_classes: int, shown: int = 10) -> str:
    names = data.classes or [str(c) for c in range(n_classes)]
    more = f", … ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def class_weights(
    setting: str | dict[str, float] | None, names: list[str], labels: NDArray[Any]
) -> NDArray[np.float64] | None:
    """One weight per class: ``balanced`` gives w_c = n / (K·n_c) from the training split's
    labels (scikit-learn's rule), a mapping names classes (the others weigh 1)."""
    if setting is None:
        return None
    k = len(names)
    if setting == "balanced":
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k)
        empty = [names[c] for c in np.flatnonzero(counts == 0)]
        if empty:
            raise ConfigError(
                f"training.class_weight: balanced needs every class in the training split; "
                f"{', '.join(empty)} has no sample there"
            )
        return len(labels) / (k * counts.astype(np.float64))
    assert isinstance(setting, dict)
    unknown = [name for name in setting if name not in names]
    if unknown:
        raise ConfigError(
            f"training.class_weight: no class {', '.join(map(repr, unknown))}; the classes are "
            f"{', '.join(names)}"
        )
    weights = np.ones(k)
    for name, weight in setting.items():
        weights[names.index(name)] = weight
    return weights


def build_train_data(
    cfg: ExperimentConfig, net: Network, data: Dataset
) -> tuple[Split, Split | None]:
    """The training and validation splits with their targets in the loss's form; label/output
    mismatches become config errors naming the key."""
    last = f"model.layers.{len(cfg.model.layers) - 1}"
    classify = data.labelled
    if classify:
        n_classes = int(data.labels().max()) + 1
        if data.classes is not None:
            n_classes = max(n_classes, len(data.classes))
        found = _class_list(data, n_classes)
        binary = net.output_dim == 1
        if binary and n_classes > 2:
            raise ConfigError(
                f"{last}.units: 1 output unit cannot separate {n_classes} classes ({found}); "
                f"set units to {n_classes} (with softmax and cross_entropy)"
            )
        if not binary and net.output_dim != n_classes:
            raise ConfigError(
                f"{last}.units: the data has {n_classes} classes ({found}) but the output layer "
                f"has {net.output_dim} units; set units to {n_classes}"
            )
    else:
        if cfg.loss == "cross_entropy":
            raise ConfigError(
                "loss: cross_entropy needs integer class labels, but the targets are real "
                "numbers; use loss mse for regression"
            )
        width = 1 if data.train.y.ndim == 1 else data.train.y.shape[1]
        if width != net.output_dim:
            raise ConfigError(
                f"{last}.units: the targets have {width} column(s) but the output layer has "
                f"{net.output_dim} units; set units to {width}"
            )

    if classify:
        names = data.classes or [str(c) for c in range(max(n_classes, 2))]
        weights = class_weights(cfg.training.class_weight, names, data.train.y)
        net.loss.set_class_weights(weights)
    elif cfg.training.class_weight is not None:
        raise ConfigError("training.class_weight: the targets are not classes; remove it")

    source = cfg.data.path or f"dataset {cfg.data.dataset}"
    held = {"training": data.train, "validation": data.val}
    prepared = {}
    for name, split in held.items():
        try:
            prepared[name] = None if split is None else split.for_loss(net, classify)
        except DataError as exc:  # the targets do not fit the loss: say whose they are
            raise DataError(f"{source}: the {name} split's targets: {exc}") from None
    train = prepared["training"]
    assert train is not None
    return train, prepared["validation"]
