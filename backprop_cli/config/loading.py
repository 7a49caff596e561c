"""Reading experiment configs: YAML (safe_load only), ``key.path=value`` overrides, and error
rendering.

Every problem becomes one line ``file: key.path: message`` inside a single `ConfigError`.
"""

from __future__ import annotations

import difflib
import re
import reprlib
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, argument
from ..system.reading import check_regular
from ..system.resources import size_text
from .models import ExperimentConfig

#: Keys whose values are file paths, resolved against the config file's folder.
PATH_KEYS = (("data", "path"), ("model", "init_from"))


#: A config file larger than this is refused unread (configs are a few kilobytes).
MAX_CONFIG_BYTES = 16 * 1024 * 1024
#: The most values (counting each use of a YAML alias again) and the deepest nesting a config
#: may expand to: a document of aliases within aliases would otherwise expand without end.
MAX_VALUES, MAX_DEPTH = 1_000_000, 64


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's parser where present): plain data only, never objects;
    a key given twice in one mapping is an error."""


def _mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable: the constructor reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (each key may appear once)", key_node.start_mark
            )
    return dict(loader.construct_mapping(node, deep=False))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
# YAML 1.1 reads 1e-3 and 1.0e5 as text (its floats need a dot and a signed exponent); read them
# as the numbers everyone means, as YAML 1.2 does.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """Plain data from YAML text: safe loading, duplicate keys refused."""
    return yaml.load(text, Loader=_Loader)


def parse_value(text: str) -> Any:
    """A value given on the command line, as YAML reads it (numbers, booleans, {mappings},
    [lists]); text that is not YAML stays text."""
    try:
        return parse_yaml(text)
    except (yaml.YAMLError, RecursionError):
        return text


def flow_yaml(value: Any) -> str:
    """``value`` as one line of YAML (the inverse of `parse_value`)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely; syntax errors name the line and column."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    check_regular(path, ConfigError, "config")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: {size_text(path.stat().st_size)} is too large for a config (at most "
                f"{size_text(MAX_CONFIG_BYTES)})"
            )
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        kind = (
            "YAML error"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else ("YAML syntax error")
        )
        raise ConfigError(f"{path}: {kind}: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply (more than {MAX_DEPTH} levels)") from None
    check_expansion(data, str(path))
    return data


def check_expansion(data: Any, source: str) -> None:
    """Refuse data that expands to more than MAX_VALUES values or MAX_DEPTH levels (a YAML
    alias bomb repeats a few nodes billions of times)."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(
                f"{source}: expands to more than {MAX_VALUES:,} values (YAML aliases repeated "
                "within aliases?); a config is far smaller"
            )
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node)
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str], source: str) -> None:
    """Apply ``key.path=value`` strings in place; values are parsed as YAML scalars."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"{source}: {argument('overrides')} {item!r}: expected key.path=value"
            )
        value = parse_value(text) if text.strip() else None
        check_expansion(value, f"{source}: {argument('overrides')} {key}")
        parts = key.strip().split(".")
        node: Any = raw
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                node = _list_item(node, part, here, source)
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ConfigError(
                    f"{source}: {argument('overrides')} {key}: {here} is not a section"
                )
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
        raise ConfigError(
            f"{source}: {argument('overrides')} {where}: no list item {part!r}"
        ) from None
    return index


def _list_item(node: list[Any], part: str, where: str, source: str) -> Any:
    return node[_list_index(node, part, where, source)]


def resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for section, key in PATH_KEYS:
        block = raw.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            path = Path(block[key]).expanduser()
            block[key] = str(path if path.is_absolute() else (base / path).resolve())


def validate(raw: Any, source: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Validate plain data as an experiment config, rendering every problem on its own line (a
    problem with a key that ``overrides`` set names the overrides instead of ``source``)."""
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else type(raw).__name__
        raise ConfigError(f"{source}: the config must be a mapping of keys, not {kind}")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(render_errors(exc, raw, source, overrides))) from None


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, override and validate the experiment at ``path``."""
    path = Path(path)
    raw = read_yaml(path)
    if isinstance(raw, dict):
        apply_overrides(raw, overrides, str(path))
        resolve_paths(raw, path.resolve().parent)
    return validate(raw, str(path), overrides)


def located(key: str, source: str, overrides: Sequence[str]) -> str:
    """``key`` (a key path) where its value came from: ``--set key`` when one of ``overrides``
    set it or a section above it, else ``source: key``."""
    for item in overrides:
        overridden = item.partition("=")[0].strip()
        if key == overridden or key.startswith(f"{overridden}."):
            return f"{argument('overrides')} {key}"
    return f"{source}: {key or '(top level)'}"


def with_optimizer(
    cfg: ExperimentConfig, optimizer: dict[str, Any], source: str
) -> ExperimentConfig:
    """``cfg`` with its optimizer replaced and no compare section, validated again."""
    raw = cfg.model_dump(mode="json") | {"optimizer": optimizer, "compare": None}
    return validate(raw, source)


# --------------------------------------------------------------- rendering
def render_errors(
    exc: ValidationError, raw: Any, source: str, overrides: Sequence[str] = ()
) -> list[str]:
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
        elif error.get("input", ...) is None and kind in _EMPTY:
            message = f"is empty; its {_EMPTY[kind]} must be indented under it"
        elif "input" in error and kind != "value_error" and not isinstance(error["input"], dict):
            message += f" (received: {_brief(error['input'])})" + _unquoting(kind, error["input"])
        if error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
            named = re.match(r"^([A-Za-z_][\w.]*): (.*)$", message)
            if named and (not key or named.group(1).startswith(f"{key}.")):
                key, message = named.group(1), named.group(2)
        lines.append(f"{located(key, source, overrides)}: {message}")
    return lines


#: The errors of a section given no value (a key whose settings lost their indentation reads as
#: empty), and what the section holds.
_EMPTY = {"model_type": "settings", "model_attributes_type": "settings", "dict_type": "settings",
          "list_type": "items"}  # fmt: skip
#: The errors of a value of the wrong type, and the types of value each accepts.
_TYPED = {"int_type": (int,), "int_parsing": (int,), "float_type": (int, float),
          "float_parsing": (int, float), "bool_type": (bool,), "bool_parsing": (bool,)}  # fmt: skip


def _unquoting(kind: str, value: Any) -> str:
    """The advice for a quoted value that would be right without its quotes ("1e-3")."""
    if kind in _TYPED and isinstance(value, str):
        unquoted = parse_value(value.strip())
        if type(unquoted) in _TYPED[kind]:  # exactly: True is not a number here
            return "; remove the quotes"
    return ""


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxdict, _BRIEF.maxlist, _BRIEF.maxtuple = 2, 4, 4, 4
_BRIEF.maxstring = _BRIEF.maxother = 60


def _brief(value: Any) -> str:
    """A short repr of a user's value (it may be huge or deeply nested)."""
    return _BRIEF.repr(value)


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
    """YAML text of a resolved config (key order kept; libyaml's emitter where present)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)
