"""The config's JSON Schema (for editors) and its Markdown reference, both generated from the
Pydantic models so that they cannot drift from what bprop accepts."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from . import model_spec, models
from .models import ExperimentConfig

SCHEMA_ID = "https://bprop.invalid/bprop.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an experiment config."""
    schema = ExperimentConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID} | schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- markdown
SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("top level", models.ExperimentConfig),
    ("data", models.DataConfig),
    ("model", model_spec.ModelConfig),
    *(
        (f"model.layers[]: type {name}{' (the default)' if name == 'dense' else ''}", model)
        for name, model in model_spec.LAYER_CONFIGS.items()
    ),
    *((f"optimizer: type {name}", model) for name, model in models.OPTIMIZER_CONFIGS.items()),
    *((f"schedule: type {name}", model) for name, model in models.SCHEDULE_CONFIGS.items()),
    ("training", models.TrainingConfig),
    ("training.batching: type full", models.FullBatch),
    ("training.batching: type sgd", models.SGDBatch),
    ("training.batching: type minibatch", models.MiniBatch),
    ("training.clip: type norm", models.NormClip),
    ("training.clip: type value", models.ValueClip),
    ("training.early_stopping", models.EarlyStoppingConfig),
    ("output", models.OutputConfig),
    ("output.tensorboard", models.TensorBoardConfig),
    ("output.mlflow", models.MlflowConfig),
    ("compare", models.CompareConfig),
    ("sweep", models.SweepConfig),
    ("sweep.search", models.SearchConfig),
    *((f"sweep.pruner: type {name}", model) for name, model in models.PRUNER_CONFIGS.items()),
]


def reference_markdown() -> str:
    """Every key of every section: type, default, allowed range and meaning."""
    covered = {model for _, model in SECTIONS}
    missing = [m.__name__ for m in _all_models(ExperimentConfig) if m not in covered]
    if missing:  # a new model must get its section here
        raise RuntimeError(f"config reference lacks sections for: {', '.join(missing)}")
    lines = [
        "# Config reference",
        "",
        "Generated from the config models by `make docs` (a test checks that it is current).",
        "Every key is optional unless its default says *required*. Editors can validate configs",
        "against `bprop schema` (see the README).",
    ]
    for title, model in SECTIONS:
        lines += ["", f"## {title}", "", "| key | type | default | allowed | meaning |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for name, info in model.model_fields.items():
            lines.append(
                f"| `{name}` | {_type(info.annotation)} | {_default(info)} | "
                f"{_allowed(info)} | {_escape(info.description or '')} |"
            )
    return "\n".join(lines) + "\n"


def _all_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for info in annotation.model_fields.values():
                    visit(info.annotation)
            return
        for arg in typing.get_args(annotation):
            visit(arg)

    visit(model)
    return found


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return text + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "*required*"
    if info.default_factory is not None:
        made = info.default_factory()  # type: ignore[call-arg]
        if isinstance(made, BaseModel):
            return f"`{json.dumps(made.model_dump(mode='json'))}`"
        return f"`{json.dumps(made)}`"
    if info.default is PydanticUndefined:
        return ""
    return f"`{json.dumps(info.default)}`"


def _allowed(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        if isinstance(item, Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, Lt):
            parts.append(f"< {item.lt}")
        elif isinstance(item, Le):
            parts.append(f"≤ {item.le}")
        if isinstance(item, MinLen):
            parts.append(f"length ≥ {item.min_length}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")
