"""What a resumed run must share with the run that wrote its checkpoint.

Resuming continues a computation, so everything that shapes it must be as it was: the network,
the loss, the optimizer and its hyperparameters, the schedule, batching, the data (its splits and
values) and the dtype. Only the length of training may change: ``training.epochs``, and the
early-stopping ``patience``. Settings that never change a number (where files go, how often
checkpoints are written, the run's name) may change too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from ...config import ExperimentConfig
from ...core.split import NAMES
from ...data import Dataset
from ...errors import CheckpointError
from ..artifacts.checkpoints import Checkpoint, DataRecord

#: Keys that may differ between the checkpoint's config and the resumed one.
MAY_CHANGE = ("training.epochs", "training.early_stopping.patience", "name", "output.",
              "compare", "sweep", "model.init_from", "data.path")  # fmt: skip
#: At most this many differences are listed.
SHOWN = 8


def data_signature(data: Dataset) -> DataRecord:
    """What identifies the data a run trains on: the size of each split and the number of
    features, a digest of every split's values and of the standardization statistics, the
    columns' names and a table's encoding."""
    held = [data.split(name) for name in NAMES]
    parts = [a for split in held for a in ((split.X, split.y) if split else (None, None))]
    digest = hashlib.blake2b(digest_size=16)
    for part in (*parts, data.mean, data.std):
        if part is not None:
            digest.update(str((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).view(np.uint8).data)
    n = data.sizes()
    columns: dict[str, Any] = {"features": data.feature_names, "target": data.target_name}
    digest.update(json.dumps(columns).encode())
    columns["classes"] = data.classes  # named by the data set itself
    encoding = None
    if data.encoding is not None:
        encoding = data.encoding.to_json()
        digest.update(encoding.encode())
    return DataRecord(
        (n["train"], n["val"], n["test"], data.n_features), digest.hexdigest(), columns, encoding
    )


def check_same_config(checkpoint: Checkpoint, cfg: ExperimentConfig) -> None:
    """Raise CheckpointError listing what differs between the checkpoint's config and ``cfg``,
    beyond what `MAY_CHANGE`."""
    saved = checkpoint.config
    if saved is None:
        raise CheckpointError(
            f"{checkpoint.path}: holds no config, so what it resumes cannot be checked; it was not "
            "written by bprop train"
        )
    then, now = _flat(_with_defaults(saved)), _flat(cfg.resolved())
    changed = _changed(then, now, _may_change)
    if changed:
        lines = [
            f"  {key}: {_show(then.get(key, _ABSENT))} in the checkpoint, "
            f"{_show(now.get(key, _ABSENT))} now"
            for key in changed[:SHOWN]
        ]
        if len(changed) > SHOWN:
            lines.append(f"  … and {len(changed) - SHOWN} more")
        raise CheckpointError(
            f"{checkpoint.path}: cannot resume with a different config:\n"
            + "\n".join(lines)
            + "\nonly training.epochs and training.early_stopping.patience may change when "
            "resuming; train a new run for the rest"
        )


def _with_defaults(saved: Any) -> Any:
    """A checkpoint's config with every default filled in as this version of bprop fills it, so
    that keys added since it was written (at their defaults) are no difference."""
    from ...config import validate
    from ...errors import ConfigError

    try:
        return validate(saved, "checkpoint").resolved()
    except ConfigError:
        return saved  # compared as it is: its differences are reported key by key


def check_same_data(checkpoint: Checkpoint, signature: DataRecord) -> None:
    """Raise CheckpointError when the data differs from what the checkpoint was trained on
    (checkpoints written before ``data.shape`` existed are not checked)."""
    then, now = checkpoint.data, signature
    if then.shape is None or then.digest is None:
        return
    if then.shape != now.shape:
        words = "train, validation, test samples and features"
        raise CheckpointError(
            f"{checkpoint.path}: cannot resume on different data: {words} {list(then.shape)} in "
            f"the checkpoint, {list(now.shape or ())} now (the data file or its splits changed)"
        )
    if then.digest != now.digest:
        raise CheckpointError(
            f"{checkpoint.path}: cannot resume on different data: the values differ from those "
            "the checkpoint was trained on (the data file changed)"
        )


_ABSENT = object()


def differences(
    then: dict[str, Any],
    now: dict[str, Any],
    allowed: Callable[[str, dict[str, Any], dict[str, Any]], bool] | None = None,
) -> list[str]:
    """The key paths whose values differ between two resolved configs (in config order), but
    those ``allowed`` to."""
    return _changed(_flat(then), _flat(now), allowed)


def _changed(
    a: dict[str, Any],
    b: dict[str, Any],
    allowed: Callable[[str, dict[str, Any], dict[str, Any]], bool] | None,
) -> list[str]:
    """`differences` of two flattened configs."""
    return [
        key
        for key in sorted(a.keys() | b.keys(), key=_order(b, a))
        if a.get(key, _ABSENT) != b.get(key, _ABSENT)
        and not (allowed is not None and allowed(key, a, b))
    ]


def _may_change(key: str, then: dict[str, Any], now: dict[str, Any]) -> bool:
    if key == "training.early_stopping.patience":
        return (
            "training.early_stopping.monitor" in then and "training.early_stopping.monitor" in now
        )
    return any(key == m or key.startswith(m if m.endswith(".") else f"{m}.") for m in MAY_CHANGE)


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """{key.path: value} of nested mappings and lists (lists by index)."""
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out |= _flat(value, f"{prefix}{key}.")
        return out
    if isinstance(data, list) and data:
        out = {}
        for index, value in enumerate(data):
            out |= _flat(value, f"{prefix}{index}.")
        return out
    return {prefix.removesuffix("."): data}


def _order(*configs: dict[str, Any]) -> Any:
    """Keys in the order the configs list them."""
    position = {k: i for config in reversed(configs) for i, k in enumerate(config)}
    return lambda key: position.get(key, len(position))


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)
