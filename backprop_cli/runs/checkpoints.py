"""Checkpoints: one ``.npz`` (loadable with ``allow_pickle=False``) holding everything to resume.

Keys:
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
"""

from __future__ import annotations

import json
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.training import TrainingState
from ..errors import CheckpointError
from ..system.atomic import write_with
from ..system.reading import check_regular, check_zip_size
from .checkpoint_states import COUNTERS, counter_problem, state_problems


@dataclass
class Checkpoint:
    arrays: dict[str, NDArray[Any]]
    path: Path

    def params(self) -> dict[str, NDArray[Any]]:
        """The model's parameters (what evaluate, predict and export use)."""
        return {k: v for k, v in self.arrays.items() if k.startswith("layers.")}

    def resume_params(self) -> dict[str, NDArray[Any]]:
        """The parameters training goes on from: the last epoch's, which are the model's unless
        the run ended with its best epoch's weights."""
        a = self.arrays
        resume = {k.removeprefix(RESUME): v for k, v in a.items() if k.startswith(RESUME)}
        if resume:
            return resume
        if "params_epoch" in a and "epoch" in a and int(a["params_epoch"]) != int(a["epoch"]):
            raise CheckpointError(
                f"{self.path}: holds epoch {int(a['params_epoch'])}'s weights with epoch "
                f"{int(a['epoch'])}'s training state, so training cannot go on from it exactly; "
                "resume from the run's checkpoints/last.npz"
            )
        return self.params()


#: A regression's target standardization (`data.TargetScale`).
TARGET_MEAN, TARGET_STD = "preprocess.target_mean", "preprocess.target_std"
#: The prefix of the last epoch's parameters in a checkpoint that holds another epoch's.
RESUME = "resume."


def with_resume_params(final: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """``final`` (captured with the best epoch's weights) carrying ``last``'s parameters (the
    last epoch's) for resuming, unless they are the same epoch's."""
    if "params_epoch" not in last or int(final["params_epoch"]) == int(last["params_epoch"]):
        return final
    return final | {RESUME + k: v for k, v in last.items() if k.startswith("layers.")}


def write(path: Path, arrays: dict[str, Any]) -> None:
    """Write arrays from `capture` atomically to ``path``."""
    write_with(path, lambda fh: np.savez(fh, **arrays))


def capture(
    training: TrainingState,
    config: dict[str, Any],
    mean: NDArray[Any] | None = None,
    std: NDArray[Any] | None = None,
    params: NDArray[Any] | None = None,
    params_epoch: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Copies of everything a checkpoint holds, as of now (to be written later if need be).

    ``params`` (a flat buffer) replaces the live weights, which are then those of the best epoch
    unless ``params_epoch`` says otherwise; ``extra`` adds entries that hold for the whole run
    (the data's signature)."""
    arrays: dict[str, Any] = dict(training.net.state_dict(params))
    params_epoch = weights_epoch_of(training, params, params_epoch)
    for key, value in training.optimizer.state_dict().items():
        arrays[f"optimizer.{key}"] = value
    arrays["epoch"] = np.array(training.epoch, dtype=np.int64)
    arrays["step"] = np.array(training.step, dtype=np.int64)
    arrays["params_epoch"] = np.array(params_epoch, dtype=np.int64)
    arrays["rng_state"] = np.array(json.dumps(training.shuffle_rng.bit_generator.state))
    if training.net.noise_rng is not None and training.net.has_noise:
        arrays["noise_rng_state"] = np.array(json.dumps(training.net.noise_rng.bit_generator.state))
    arrays["monitor_state"] = np.array(json.dumps(training.monitor.state()))
    arrays["schedule_state"] = np.array(json.dumps(training.schedule.state()))
    arrays["config"] = np.array(json.dumps(config))
    if mean is not None and std is not None:
        arrays["preprocess.mean"], arrays["preprocess.std"] = mean, std
    arrays.update(extra or {})
    return arrays


def weights_epoch_of(
    training: TrainingState, params: NDArray[Any] | None, params_epoch: int | None
) -> int:
    """The epoch whose end a capture's weights are from: ``params_epoch`` when given, else the
    best epoch for ``params`` (the best weights), else the last completed epoch."""
    if params_epoch is not None:
        return params_epoch
    return training.monitor.best_epoch if params is not None else training.epoch


def load(path: Path) -> Checkpoint:
    """Read a checkpoint; never unpickles. Raises `CheckpointError` naming the file when it is not
    a bprop checkpoint or holds values no run could have written (non-finite weights included)."""
    path = Path(path)
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
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as exc:
        raise CheckpointError(
            f"{path}: refused to load ({exc}); bprop never loads pickles"
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({exc})") from None
    if not any(k.startswith("layers.") for k in arrays):
        raise CheckpointError(f"{path}: holds no layers.* parameters; not a bprop checkpoint")
    problems = [f"{path}: {problem}" for problem in _problems(arrays)]
    if problems:
        raise CheckpointError("\n".join(problems))
    return Checkpoint(arrays, path)


#: The JSON texts a checkpoint may hold (its counters: `checkpoint_states.COUNTERS`).
TEXTS = ("rng_state", "noise_rng_state", "monitor_state", "schedule_state", "config",
         "data.digest", "data.columns", "data.encoding")  # fmt: skip


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
        elif key == "data.shape":
            if value.shape != (4,) or value.dtype.kind not in "iu" or np.any(value < 0):
                problems.append(f"data.shape must be 4 whole numbers ≥ 0; received {_show(value)}")
        elif key == "loss.class_weights":
            if value.dtype.kind != "f" or value.ndim != 1 or not np.all(np.isfinite(value)):
                problems.append(f"{key} must be a vector of finite floats; received {_show(value)}")
            elif np.any(value < 0) or not np.any(value > 0):
                problems.append(f"{key} must be ≥ 0 with one positive; received {value.tolist()}")
        elif key.startswith(("layers.", "optimizer.", "preprocess.", RESUME + "layers.")):
            if value.dtype.kind != "f" or value.ndim == 0:
                problems.append(f"{key} must be an array of floats; received {_show(value)}")
            elif key.startswith("layers.") and key.endswith(".W") and value.ndim != 2:
                problems.append(f"{key} must be 2-D (units, fan_in); received shape {value.shape}")
            elif not np.all(np.isfinite(value)):
                problems.append(f"{key} holds NaN or Inf; no run saves non-finite values")
    if not problems:  # each counter a whole number and each state a text: their values
        problems += state_problems(arrays)
    for (mean_key, std_key), of in (
        (("preprocess.mean", "preprocess.std"), "feature"),
        ((TARGET_MEAN, TARGET_STD), "output"),
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
    mean = checkpoint.arrays.get("preprocess.mean")
    if mean is not None and mean.shape != (n_features,):
        raise CheckpointError(
            f"{checkpoint.path}: preprocess.mean and preprocess.std hold the standardization of "
            f"{mean.shape[0]} features, but the network takes {n_features}"
        )


def weights_epoch(checkpoint: Checkpoint) -> int:
    """The epoch whose end the checkpoint's weights are from."""
    a = checkpoint.arrays
    if "params_epoch" in a:
        return int(a["params_epoch"])
    if checkpoint.path.name == "best.npz" and "monitor_state" in a:  # written before the key
        return int(json.loads(str(a["monitor_state"]))["best_epoch"])
    return int(a["epoch"])


def restore(checkpoint: Checkpoint, training: TrainingState) -> None:
    """Put the network, optimizer, counters, shuffling generator and tracker back exactly."""
    source = str(checkpoint.path)
    a = checkpoint.arrays
    resumed = any(k.startswith(RESUME) for k in a)
    where = f"{source} (the last epoch's parameters, resume.*)" if resumed else source
    training.net.load_state_dict(checkpoint.resume_params(), source=where)
    check_preprocess(checkpoint, training.net.input_dim)
    missing = [k for k in ("epoch", "step", "rng_state", "monitor_state") if k not in a]
    if missing:
        raise CheckpointError(f"{source}: cannot resume, missing {', '.join(missing)}")
    opt_state = {
        k.removeprefix("optimizer."): v for k, v in a.items() if k.startswith("optimizer.")
    }
    training.optimizer.load_state_dict(opt_state, source=source)
    training.epoch, training.step = int(a["epoch"]), int(a["step"])
    try:
        training.shuffle_rng.bit_generator.state = json.loads(str(a["rng_state"]))
        noise = training.net.noise_rng
        if "noise_rng_state" in a and noise is not None:
            noise.bit_generator.state = json.loads(str(a["noise_rng_state"]))
        training.monitor.load(json.loads(str(a["monitor_state"])))
        if training.schedule.monitor is not None:  # an adaptive schedule's rate and counters
            if "schedule_state" not in a:
                raise CheckpointError(f"{source}: cannot resume, missing schedule_state")
            training.schedule.load(json.loads(str(a["schedule_state"])))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{source}: corrupt resume state ({exc})") from None
