"""Checkpoints: one ``.npz`` (loadable with ``allow_pickle=False``) holding everything to resume.

Keys (`layout.Key` spells each):
    schema                            the format's version (`SCHEMA`); absent in the first
                                      format (0), which `Checkpoint.read` migrates
    layers.{i}.{name}                 the parameters of layer i of model.layers, as the layer
                                      names them: W and b (dense); gamma, beta, running_mean and
                                      running_var (batchnorm); layers.{j}.{name} for layer j of
                                      a residual block
    resume.layers.{i}.{name}          the last epoch's parameters, where they differ from the
                                      model's: a run that ended with its best epoch's weights
                                      (restore_best) resumes from where it stopped
    optimizer.{name}                  optimizer state arrays (e.g. optimizer.m, optimizer.v)
    optimizer.step_count              updates applied so far
    epoch, step                       epochs completed, updates applied
    params_epoch                      the epoch whose end the weights are from (best.npz: the
                                      best epoch)
    rng_state                         JSON of the shuffling generator's state
    noise_rng_state                   JSON of the dropout generator's state (with dropout)
    monitor_state                     JSON of the best-epoch / early-stopping tracker
    schedule_state                    JSON of an adaptive schedule's state (plateau: lr, best,
                                      wait, cooldown_counter); {} for the closed forms
    data.shape, data.digest           the sizes of the splits and the features, and a digest of
                                      their values (a resumed run must train on the same data)
    data.columns                      JSON {"features": [names], "target": name, "classes":
                                      [names]} (nulls where the data names none): inputs to
                                      predict and evaluate are matched to the features by name
    data.encoding                     JSON of a table's fitted encoding (`data.encoding`):
                                      feature kinds, categories, fill values, task and classes
    loss.class_weights                one weight per class (training.class_weight)
    preprocess.mean, preprocess.std   standardization fitted on the training split (if any)
    preprocess.target_mean,           a regression's target standardization (one value per
    preprocess.target_std             output), undone for predictions (data.standardize_target)
    config                            the resolved config as JSON text
    task                              JSON {"kind": "classification" | "regression",
                                      "outputs": units, "classes": [names] or null}
    kernels                           the code the run's steps ran: "numpy" or "fused" (a
                                      resume under training.kernels: auto keeps to it)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import shlex
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...core.losses import LOSSES
from ...core.task import Task
from ...data.standardizer import Standardizer
from ...errors import CheckpointError
from ...system.atomic import write_with
from ...system.reading import check_regular, check_zip_size
from .checkpoint_states import COUNTERS, counter_problem, state_problems
from .layout import BEST, Key

if TYPE_CHECKING:
    from ...core.training import TrainingState

#: The checkpoint format this version writes; `Checkpoint.read` migrates every earlier one.
SCHEMA = 1
#: The path of a checkpoint that was never read from a file.
IN_MEMORY = Path("<memory>")
Arrays = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class DataRecord:
    """What identifies the data a run trains on (a resumed run must train on the same data) and
    how new data is matched to the network's inputs."""

    #: Train, validation and test samples, then features.
    shape: tuple[int, int, int, int] | None = None
    #: A digest of every split's values, the standardization and the columns' names.
    digest: str | None = None
    #: {"features": [names], "target": name, "classes": [names]} (nulls where unnamed).
    columns: dict[str, Any] | None = None
    #: A table's fitted encoding (`data.Encoding.to_json`).
    encoding: str | None = None


@dataclass
class Checkpoint:
    """Everything a run saves: the weights, and what it takes to use them (the task, the
    preprocessing, the data's columns, the config) and to go on training exactly (counters,
    optimizer state, the generators' and trackers' states)."""

    #: The network's parameters (`Network.state_dict`): the model evaluate and predict use.
    params: Arrays
    path: Path = IN_MEMORY
    schema: int = SCHEMA
    #: Epochs completed, updates applied, and the epoch whose end ``params`` are from.
    epoch: int | None = None
    step: int | None = None
    params_epoch: int | None = None
    #: The last epoch's parameters, where ``params`` are another epoch's (restore_best).
    resume: Arrays = field(default_factory=dict)
    #: The optimizer's state arrays and update count (``step_count``).
    optimizer: Arrays = field(default_factory=dict)
    rng_state: dict[str, Any] | None = None
    noise_rng_state: dict[str, Any] | None = None
    monitor_state: dict[str, Any] | None = None
    schedule_state: dict[str, Any] | None = None
    #: The resolved config of the run.
    config: dict[str, Any] | None = None
    task: Task | None = None
    data: DataRecord = field(default_factory=DataRecord)
    class_weights: NDArray[np.float64] | None = None
    #: The features' standardization, fitted on the training split.
    scaler: Standardizer | None = None
    #: A regression's target standardization (`data.standardize_target`).
    target_scale: Standardizer | None = None
    #: The code the run's steps ran ("numpy" or "fused"; `TrainingState.kernels`).
    kernels: str | None = None

    @property
    def weights_epoch(self) -> int | None:
        """The epoch whose end the weights are from (None for weights of no epoch)."""
        return self.params_epoch if self.params_epoch is not None else self.epoch

    def resume_params(self) -> Arrays:
        """The parameters training goes on from: the last epoch's, which are the model's unless
        the run ended with its best epoch's weights."""
        if self.resume:
            return self.resume
        if self.epoch is not None and self.weights_epoch != self.epoch:
            raise CheckpointError(
                f"{self.path}: holds epoch {self.weights_epoch}'s weights with epoch "
                f"{self.epoch}'s training state, so training cannot go on from it exactly; "
                "resume from the run's checkpoints/last.npz"
            )
        return self.params

    def resumable_from(self, last: Checkpoint) -> Checkpoint:
        """This checkpoint (with the best epoch's weights) carrying ``last``'s parameters (the
        last epoch's) for resuming, unless they are the same epoch's."""
        if last.params_epoch is None or self.params_epoch == last.params_epoch:
            return self
        return dataclasses.replace(self, resume=dict(last.params))

    # ------------------------------------------------------------------ the file
    @classmethod
    def read(cls, path: Path) -> Checkpoint:
        """Read a checkpoint of any format bprop has written, migrated to this one; never
        unpickles. Raises `CheckpointError` naming the file when it is not a bprop checkpoint or
        holds values no run could have written (non-finite weights included)."""
        path = Path(path)
        return cls.from_arrays(_read_arrays(path), path)

    def write(self, path: Path) -> None:
        """Write the checkpoint atomically to ``path``, in this version's format."""
        arrays: dict[str, Any] = self.arrays()
        write_with(Path(path), lambda fh: np.savez(fh, **arrays))

    def arrays(self) -> dict[str, NDArray[Any]]:
        """The checkpoint's members, keyed as the file holds them (`layout.Key`)."""
        out: dict[str, NDArray[Any]] = {Key.SCHEMA: _count(self.schema)}
        out |= self.params
        out |= {Key.RESUME + k: v for k, v in self.resume.items()}
        out |= {Key.OPTIMIZER + k: v for k, v in self.optimizer.items()}
        for key, count in ((Key.EPOCH, self.epoch), (Key.STEP, self.step),
                           (Key.PARAMS_EPOCH, self.params_epoch)):  # fmt: skip
            if count is not None:
                out[key] = _count(count)
        texts = {
            Key.RNG: self.rng_state, Key.NOISE_RNG: self.noise_rng_state,
            Key.MONITOR: self.monitor_state, Key.SCHEDULE: self.schedule_state,
            Key.CONFIG: self.config, Key.DATA_COLUMNS: self.data.columns,
        }  # fmt: skip
        out |= {key: np.array(json.dumps(v)) for key, v in texts.items() if v is not None}
        if self.task is not None:
            out[Key.TASK] = np.array(self.task.to_json())
        if self.kernels is not None:
            out[Key.KERNELS] = np.array(self.kernels)
        if self.data.shape is not None:
            out[Key.DATA_SHAPE] = np.array(self.data.shape, dtype=np.int64)
        if self.data.digest is not None:
            out[Key.DATA_DIGEST] = np.array(self.data.digest)
        if self.data.encoding is not None:
            out[Key.DATA_ENCODING] = np.array(self.data.encoding)
        if self.class_weights is not None:
            out[Key.CLASS_WEIGHTS] = self.class_weights
        if self.scaler is not None:
            out[Key.MEAN], out[Key.STD] = self.scaler.mean, self.scaler.std
        if self.target_scale is not None:
            out[Key.TARGET_MEAN] = self.target_scale.mean
            out[Key.TARGET_STD] = self.target_scale.std
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], path: Path = IN_MEMORY) -> Checkpoint:
        """The checkpoint ``arrays`` (as read from a file) hold, checked and migrated."""
        if not any(k.startswith(Key.LAYERS) for k in arrays):
            raise CheckpointError(f"{path}: holds no layers.* parameters; not a bprop checkpoint")
        a = _migrated(arrays, path)  # first, so that what it adds is checked too
        problems = [f"{path}: {problem}" for problem in _problems(a)]
        if problems:
            raise CheckpointError("\n".join(problems))

        def prefixed(prefix: str) -> Arrays:
            return {k.removeprefix(prefix): v for k, v in a.items() if k.startswith(prefix)}

        def text(key: str) -> Any:
            return json.loads(str(a[key])) if key in a else None

        def count(key: str) -> int | None:
            return int(a[key]) if key in a else None

        try:
            config = text(Key.CONFIG)
        except ValueError as exc:
            raise CheckpointError(f"{path}: its config is not valid JSON ({exc})") from None
        shape = a.get(Key.DATA_SHAPE)
        target = None
        if Key.TARGET_MEAN in a:
            target = Standardizer(a[Key.TARGET_MEAN], a[Key.TARGET_STD])
        return cls(
            params={k: v for k, v in a.items() if k.startswith(Key.LAYERS)},
            path=path,
            schema=SCHEMA,
            epoch=count(Key.EPOCH),
            step=count(Key.STEP),
            params_epoch=count(Key.PARAMS_EPOCH),
            resume=prefixed(Key.RESUME),
            optimizer=prefixed(Key.OPTIMIZER),
            rng_state=text(Key.RNG),
            noise_rng_state=text(Key.NOISE_RNG),
            monitor_state=text(Key.MONITOR),
            schedule_state=text(Key.SCHEDULE),
            config=config,
            task=Task.from_json(str(a[Key.TASK])) if Key.TASK in a else None,
            kernels=str(a[Key.KERNELS]) if Key.KERNELS in a else None,
            data=DataRecord(
                shape=None if shape is None else tuple(int(n) for n in shape),  # type: ignore[arg-type]
                digest=str(a[Key.DATA_DIGEST]) if Key.DATA_DIGEST in a else None,
                columns=_columns(a, path),
                encoding=str(a[Key.DATA_ENCODING]) if Key.DATA_ENCODING in a else None,
            ),
            class_weights=a.get(Key.CLASS_WEIGHTS),
            scaler=Standardizer(a[Key.MEAN], a[Key.STD]) if Key.MEAN in a else None,
            target_scale=target,
        )


def _count(value: int) -> NDArray[np.int64]:
    return np.array(value, dtype=np.int64)


def _read_arrays(path: Path) -> dict[str, Any]:
    """The members of the .npz at ``path``, never unpickled."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    check_regular(path, CheckpointError, "checkpoint")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc})") from None
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        if path.suffix.lower() in (".yaml", ".yml"):
            raise CheckpointError(
                f"{path}: is an experiment config, not a trained model; train it first (bprop "
                f"train {shlex.quote(str(path))}), then give its run directory"
            )
        raise CheckpointError(f"{path}: not a readable .npz checkpoint (not a zip archive)")
    check_zip_size(path, CheckpointError, "checkpoint")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except ValueError as exc:
        raise CheckpointError(
            f"{path}: refused to load ({exc}); bprop never loads pickles"
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({exc})") from None


def _migrated(arrays: dict[str, Any], path: Path) -> dict[str, Any]:
    """``arrays`` in this version's format (`SCHEMA`).

    Format 0 (no ``schema`` member) had no ``task``: it is the one its config's loss and its
    data's class names make. A best.npz written before ``params_epoch`` existed holds the
    weights of its tracker's best epoch."""
    schema = int(arrays.get(Key.SCHEMA, 0))
    if schema > SCHEMA:
        raise CheckpointError(
            f"{path}: is a checkpoint of format {schema}, written by a newer bprop (this one "
            f"reads formats up to {SCHEMA}); upgrade bprop to use it"
        )
    a = dict(arrays)
    if schema == 0:
        if Key.PARAMS_EPOCH not in a and path.name == BEST and Key.MONITOR in a:
            with contextlib.suppress(ValueError, TypeError, KeyError):  # (refused by _problems)
                best = json.loads(str(a[Key.MONITOR]))["best_epoch"]
                a[Key.PARAMS_EPOCH] = _count(int(best))
        task = _task_of_format_0(a)
        if task is not None:
            a[Key.TASK] = np.array(task.to_json())
    a[Key.SCHEMA] = _count(SCHEMA)
    return a


def _task_of_format_0(a: dict[str, Any]) -> Task | None:
    """The task of a format-0 checkpoint: classification when its config's loss is a
    classifier's, its classes named as its data named them. None when its config does not say
    (a checkpoint no run wrote, refused where a task is needed)."""
    try:
        loss = json.loads(str(a[Key.CONFIG]))["loss"]
        classification = LOSSES[loss].classification
    except (KeyError, ValueError, TypeError):
        return None
    weights = sorted(k for k in a if k.startswith(Key.LAYERS) and k.endswith(".W"))
    outputs = _last_layer_units(a)
    if outputs is None or not weights:
        return None
    names = None
    for key, member in ((Key.DATA_ENCODING, "classes"), (Key.DATA_COLUMNS, "classes")):
        try:
            names = json.loads(str(a[key])).get(member)
        except (KeyError, ValueError, AttributeError):
            continue
        if names is not None:
            break
    try:
        return Task.of(classification, outputs, names)
    except (ValueError, TypeError):
        return None


def _last_layer_units(a: dict[str, Any]) -> int | None:
    """The output units of the network a checkpoint holds: the rows of its last dense layer."""
    last = None
    for key in a:
        parts = key.split(".")
        if key.startswith(Key.LAYERS) and parts[-1] == "W" and len(parts) == 3:
            index = int(parts[1]) if parts[1].isdigit() else -1
            if last is None or index > last[0]:
                last = (index, key)
    return None if last is None else int(a[last[1]].shape[0])


def _columns(a: dict[str, Any], path: Path) -> dict[str, Any] | None:
    if Key.DATA_COLUMNS not in a:
        return None
    try:
        columns = json.loads(str(a[Key.DATA_COLUMNS]))
    except ValueError as exc:
        raise CheckpointError(f"{path}: data.columns is not readable ({exc})") from None
    if not isinstance(columns, dict):
        raise CheckpointError(f"{path}: data.columns is not readable (not a mapping)")
    return columns


def capture(
    training: TrainingState,
    config: dict[str, Any],
    task: Task | None = None,
    scaler: Standardizer | None = None,
    params: NDArray[Any] | None = None,
    params_epoch: int | None = None,
    data: DataRecord | None = None,
    target_scale: Standardizer | None = None,
) -> Checkpoint:
    """A copy of everything a checkpoint holds, as of now (to be written later if need be).

    ``params`` (a flat buffer) replaces the live weights, which are then those of the best epoch
    unless ``params_epoch`` says otherwise; ``data`` and ``target_scale`` hold for the whole
    run."""
    net = training.net
    noise = net.noise_rng
    return Checkpoint(
        params=dict(net.state_dict(params)),
        epoch=training.epoch,
        step=training.step,
        params_epoch=weights_epoch_of(training, params, params_epoch),
        optimizer=dict(training.optimizer.state_dict()),
        rng_state=copy.deepcopy(dict(training.shuffle_rng.bit_generator.state)),
        noise_rng_state=(
            copy.deepcopy(dict(noise.bit_generator.state))
            if noise is not None and net.has_noise
            else None
        ),
        monitor_state=copy.deepcopy(training.monitor.state()),
        schedule_state=copy.deepcopy(training.schedule.state()),
        config=config,
        task=task,
        data=data or DataRecord(),
        class_weights=None if net.loss.class_weights is None else net.loss.class_weights.copy(),
        scaler=scaler,
        target_scale=target_scale,
        kernels=training.kernels,
    )


def weights_epoch_of(
    training: TrainingState, params: NDArray[Any] | None, params_epoch: int | None
) -> int:
    """The epoch whose end a capture's weights are from: ``params_epoch`` when given, else the
    best epoch for ``params`` (the best weights), else the last completed epoch."""
    if params_epoch is not None:
        return params_epoch
    return training.monitor.best_epoch if params is not None else training.epoch


#: The JSON texts a checkpoint may hold (its counters: `checkpoint_states.COUNTERS`).
TEXTS = (Key.RNG, Key.NOISE_RNG, Key.MONITOR, Key.SCHEDULE, Key.CONFIG, Key.DATA_DIGEST,
         Key.DATA_COLUMNS, Key.DATA_ENCODING, Key.TASK, Key.KERNELS)  # fmt: skip


#: The codes a run's steps may run (`Key.KERNELS`).
PATHS = ("numpy", "fused")


def _problems(arrays: dict[str, Any]) -> list[str]:
    """What makes these arrays something no bprop run wrote."""
    problems = []
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            problems.append(f"member {key!r} is not a .npy array")
        elif key in COUNTERS:
            problems += [problem for problem in [counter_problem(key, value)] if problem]
        elif key in TEXTS:
            if value.ndim != 0 or value.dtype.kind != "U":
                problems.append(f"{key} must be a text; received {_show(value)}")
        elif key == Key.DATA_SHAPE:
            if value.shape != (4,) or value.dtype.kind not in "iu" or np.any(value < 0):
                problems.append(f"{key} must be 4 whole numbers ≥ 0; received {_show(value)}")
        elif key == Key.CLASS_WEIGHTS:
            if value.dtype.kind != "f" or value.ndim != 1 or not np.all(np.isfinite(value)):
                problems.append(f"{key} must be a vector of finite floats; received {_show(value)}")
            elif np.any(value < 0) or not np.any(value > 0):
                problems.append(f"{key} must be ≥ 0 with one positive; received {value.tolist()}")
        elif key.startswith((Key.LAYERS, Key.OPTIMIZER, "preprocess.", Key.RESUME + Key.LAYERS)):
            if value.dtype.kind != "f" or value.ndim == 0:
                problems.append(f"{key} must be an array of floats; received {_show(value)}")
            elif key.startswith(Key.LAYERS) and key.endswith(".W") and value.ndim != 2:
                problems.append(f"{key} must be 2-D (units, fan_in); received shape {value.shape}")
            elif not np.all(np.isfinite(value)):
                problems.append(f"{key} holds NaN or Inf; no run saves non-finite values")
    if not problems:  # each counter a whole number and each state a text: their values
        problems += state_problems(arrays)
    if not problems and Key.KERNELS in arrays and str(arrays[Key.KERNELS]) not in PATHS:
        problems.append(f"{Key.KERNELS} must be one of {', '.join(PATHS)}; received "
                        f"{_show(arrays[Key.KERNELS])}")  # fmt: skip
    if not problems and Key.TASK in arrays:
        try:
            Task.from_json(str(arrays[Key.TASK]))
        except ValueError as exc:
            problems.append(f"task is not a task bprop writes: {exc}")
    for (mean_key, std_key), of in (
        ((Key.MEAN, Key.STD), "feature"),
        ((Key.TARGET_MEAN, Key.TARGET_STD), "output"),
    ):
        if not problems:
            problems += _scale_problems(arrays.get(mean_key), arrays.get(std_key), mean_key,
                                        std_key, of)  # fmt: skip
    return problems


def _scale_problems(mean: Any, std: Any, mean_key: str, std_key: str, of: str) -> list[str]:
    """What is wrong with a stored standardization (the pair of ``mean_key``, ``std_key``)."""
    if (mean is None) != (std is None):
        return [f"{mean_key} and {std_key} must come together"]
    if mean is None:
        return []
    if mean.shape != std.shape or mean.ndim != 1:
        return [
            f"{mean_key} {mean.shape} and {std_key} {std.shape} must be vectors of one value "
            f"per {of}"
        ]
    if not np.all(std > 0):
        return [f"{std_key} must be positive (a {of}'s scale)"]
    return []


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"dtype {value.dtype}, shape {value.shape}"
    return type(value).__name__


def check_preprocess(checkpoint: Checkpoint, n_features: int) -> None:
    """The stored standardization must have one value per input feature of the network."""
    mean = None if checkpoint.scaler is None else checkpoint.scaler.mean
    if mean is not None and mean.shape != (n_features,):
        raise CheckpointError(
            f"{checkpoint.path}: {Key.MEAN} and {Key.STD} hold the standardization of "
            f"{mean.shape[0]} features, but the network takes {n_features}"
        )


def restore(checkpoint: Checkpoint, training: TrainingState) -> None:
    """Put the network, optimizer, counters, shuffling generator and tracker back exactly."""
    source = str(checkpoint.path)
    where = f"{source} (the last epoch's parameters, resume.*)" if checkpoint.resume else source
    training.net.load_state_dict(checkpoint.resume_params(), source=where)
    check_preprocess(checkpoint, training.net.input_dim)
    needed = {Key.EPOCH: checkpoint.epoch, Key.STEP: checkpoint.step,
              Key.RNG: checkpoint.rng_state, Key.MONITOR: checkpoint.monitor_state}  # fmt: skip
    missing = [key for key, value in needed.items() if value is None]
    if missing:
        raise CheckpointError(f"{source}: cannot resume, missing {', '.join(missing)}")
    assert checkpoint.epoch is not None and checkpoint.step is not None
    assert checkpoint.rng_state is not None and checkpoint.monitor_state is not None
    training.optimizer.load_state_dict(checkpoint.optimizer, source=source)
    training.epoch, training.step = checkpoint.epoch, checkpoint.step
    try:
        training.shuffle_rng.bit_generator.state = checkpoint.rng_state
        noise = training.net.noise_rng
        if checkpoint.noise_rng_state is not None and noise is not None:
            noise.bit_generator.state = checkpoint.noise_rng_state
        training.monitor.load(checkpoint.monitor_state)
        if training.schedule.monitor is not None:  # an adaptive schedule's rate and counters
            if checkpoint.schedule_state is None:
                raise CheckpointError(f"{source}: cannot resume, missing {Key.SCHEDULE}")
            training.schedule.load(checkpoint.schedule_state)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{source}: corrupt resume state ({exc})") from None
