"""Reading experiment configs: YAML (safe_load only), ``--set`` overrides, and error rendering.

Every problem becomes one line ``file: key.path: message`` inside a single `ConfigError`.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .models import ExperimentConfig

#: Keys whose values are file paths, resolved against the config file's folder.
PATH_KEYS = (("data", "path"), ("model", "init_from"))


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with ``yaml.safe_load``; syntax errors name the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: YAML syntax error: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from None


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str], source: str) -> None:
    """Apply ``key.path=value`` strings in place; values are parsed as YAML scalars."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source}: --set {item!r}: expected key.path=value")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        parts = key.strip().split(".")
        node: Any = raw
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                node = _list_item(node, part, here, source)
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ConfigError(f"{source}: --set {key}: {here} is not a section")
        last = parts[-1]
        if isinstance(node, list):
            index = int(_list_index(node, last, key, source))
            node[index] = value
        else:
            node[last] = value


def _list_index(node: list[Any], part: str, where: str, source: str) -> int:
    try:
        index = int(part)
        node[index]
    except (ValueError, IndexError):
        raise ConfigError(f"{source}: --set {where}: no list item {part!r}") from None
    return index


def _list_item(node: list[Any], part: str, where: str, source: str) -> Any:
    return node[_list_index(node, part, where, source)]


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for section, key in PATH_KEYS:
        block = raw.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            path = Path(block[key]).expanduser()
            block[key] = str(path if path.is_absolute() else (base / path).resolve())


def validate(raw: Any, source: str) -> ExperimentConfig:
    """Validate plain data as an experiment config, rendering every problem on its own line."""
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else type(raw).__name__
        raise ConfigError(f"{source}: the config must be a mapping of keys, not {kind}")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(render_errors(exc, raw, source))) from None


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, override and validate the experiment at ``path``."""
    path = Path(path)
    raw = read_yaml(path)
    if isinstance(raw, dict):
        apply_overrides(raw, overrides, str(path))
        _resolve_paths(raw, path.resolve().parent)
    return validate(raw, str(path))


def with_optimizer(
    cfg: ExperimentConfig, optimizer: dict[str, Any], source: str
) -> ExperimentConfig:
    """``cfg`` with its optimizer replaced and no compare section, validated again."""
    raw = cfg.model_dump(mode="json") | {"optimizer": optimizer, "compare": None}
    return validate(raw, source)


# --------------------------------------------------------------- rendering
def render_errors(exc: ValidationError, raw: Any, source: str) -> list[str]:
    lines = []
    for error in exc.errors():
        key, model = _key_path(error["loc"], raw)
        message = error["msg"]
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown key" + _did_you_mean(str(error["loc"][-1]), model)
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            key = f"{key}.type" if key else "type"
            tags = ", ".join(repr(t) for t in _tags_at(error["loc"]))
            found = (error.get("ctx") or {}).get("tag")
            message = (f"unknown type {found!r}" if found else "required key is missing") + (
                f"; choose one of: {tags}" if tags else ""
            )
        elif "input" in error and kind != "value_error" and not isinstance(error["input"], dict):
            message += f" (received: {error['input']!r})"
        if error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
            named = re.match(r"^([A-Za-z_][\w.]*): (.*)$", message)
            if named and not key:
                key, message = named.group(1), named.group(2)
        lines.append(f"{source}: {key or '(top level)'}: {message}")
    return lines


def _key_path(loc: tuple[Any, ...], raw: Any) -> tuple[str, type[BaseModel] | None]:
    """Turn a Pydantic location into the user's key path, dropping union tags."""
    parts: list[str] = []
    node = raw
    tagged: Any = None  # the mapping whose union tag has been skipped
    for depth, item in enumerate(loc):
        in_list = depth > 0 and isinstance(loc[depth - 1], int)
        tag = node.get("type", "dense" if in_list else None) if isinstance(node, dict) else None
        if tag is not None and item == tag and tagged is not node:
            tagged = node  # the tag Pydantic inserts for a tagged union (layers default to dense)
            continue
        if isinstance(node, dict) and item in node:
            parts.append(_show(item))
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int):
            parts.append(str(item))
            node = node[item] if item < len(node) else None
        else:
            parts.append(_show(item))
            node = None
    return ".".join(parts), _model_at(loc)


def _show(key: Any) -> str:
    """A key as typed when it looks like one, else quoted (empty, spaces, line breaks...)."""
    text = str(key)
    return text if re.fullmatch(r"[\w-]+", text) else repr(text)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the last key of ``loc``, for did-you-mean suggestions."""
    models: list[type[BaseModel]] = [ExperimentConfig]
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        holder = next((m for m in models if item in m.model_fields), None)
        if holder is not None:
            models = _models_in(holder.model_fields[item].annotation)
        else:  # a union tag: keep the member whose `type` literal is this tag
            models = [m for m in models if item in _type_tags(m)]
    return models[0] if len(models) == 1 else None


def _tags_at(loc: tuple[Any, ...]) -> list[Any]:
    """The ``type`` tags a tagged union at ``loc`` accepts."""
    path = loc[:-1] if loc and isinstance(loc[-1], int) else loc
    holder = _model_at(path) if path else None
    if holder is None or not path or path[-1] not in holder.model_fields:
        return []
    members = _models_in(holder.model_fields[path[-1]].annotation)
    return [tag for m in members for tag in _type_tags(m)]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel reachable through Optional, list, Annotated and unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _type_tags(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("type")
    return typing.get_args(field.annotation) if field is not None else ()


def _did_you_mean(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    known = sorted(model.model_fields)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (allowed: {', '.join(known)})"


def to_yaml(data: dict[str, Any]) -> str:
    """YAML text of a resolved config (key order kept)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
