"""Config fields made from the engine's `Hyper` declarations: a range, a default or a description
is written once, beside the code that uses it, and every config model takes it from there."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model

from ..core.hyper import Hyper

FieldSpec = tuple[Any, Any]


def field_of(spec: Hyper, optional: str | None = None) -> FieldSpec:
    """A Pydantic field for ``spec``: its type, default, range and description. With
    ``optional`` the field defaults to None, meaning the declared default, and ``optional`` says
    where it applies (e.g. "leaky_relu")."""
    kind: Any = Literal[spec.choices] if spec.choices else spec.kind
    if spec.default is None or optional is not None:
        kind = kind | None
    description = spec.description
    if optional is not None:
        description = f"{description} Only for {optional} (default {spec.default}).".strip()
    default: Any = None if optional is not None else spec.default
    bounds: dict[str, Any] = spec.bounds()
    return kind, Field(default, description=description, **bounds)


def fields_of(hyper: Mapping[str, Hyper]) -> dict[str, FieldSpec]:
    """One field per hyperparameter of ``hyper``, in its order."""
    return {key: field_of(spec) for key, spec in hyper.items()}


def type_field(name: str, optional: bool = False) -> FieldSpec:
    """The ``type`` tag of a choice; ``optional`` lets a config leave it out."""
    return Literal[name], name if optional else ...


def make_model(class_name: str, base: type[BaseModel], **fields: FieldSpec) -> Any:
    """A config model with ``fields`` in their order, on ``base`` (its checks and methods).

    The model is published under ``class_name`` in the module of ``base``, so that pickle finds
    it there by name: a config sent to a worker process arrives as the same class."""
    module = sys.modules[base.__module__]
    model = create_model(class_name, __base__=base, __module__=module.__name__, **fields)  # type: ignore[call-overload]
    if getattr(module, class_name, model) is not model:
        raise RuntimeError(f"{module.__name__}.{class_name} is taken")
    setattr(module, class_name, model)
    return model


def shared_params(owners: Mapping[str, Mapping[str, Hyper]]) -> dict[str, FieldSpec]:
    """One optional field per hyperparameter any of ``owners`` declares (e.g. ``alpha`` of
    leaky_relu and elu among the activations), naming the owners it applies to. Where owners
    declare it differently, the field says how for each, and its range is each owner's own to
    check (``DenseFields`` checks ``alpha`` against the activation chosen)."""
    declared: dict[str, dict[str, Hyper]] = {}
    for owner, hyper in owners.items():
        for key, spec in hyper.items():
            declared.setdefault(key, {})[owner] = spec
    fields: dict[str, FieldSpec] = {}
    for key, by_owner in declared.items():
        specs = list(by_owner.values())
        if all(spec == specs[0] for spec in specs):
            fields[key] = field_of(specs[0], " and ".join(by_owner))
            continue
        description = "; ".join(
            f"{owner}: {spec.description} Default {spec.default}, in {spec.interval()}."
            for owner, spec in by_owner.items()
        )
        fields[key] = (specs[0].kind | None, Field(None, description=description))
    return fields


def misplaced(
    given: Mapping[str, Any], owners: Mapping[str, Mapping[str, Hyper]], chosen: str, what: str
) -> str | None:
    """The error for a hyperparameter set in ``given`` that the ``what`` ``chosen`` does not
    take (e.g. ``alpha`` with activation tanh), or None."""
    for key, value in given.items():
        if value is None or key in owners.get(chosen, {}):
            continue
        users = [owner for owner, hyper in owners.items() if key in hyper]
        if users:
            return f"`{key}` applies only to {what} {' and '.join(users)}"
    return None


def tagged_union(models: Iterable[type[BaseModel]]) -> Any:
    """The choice among ``models``, told apart by their ``type`` tag (built at run time from a
    registry, so type checkers see a plain base model instead)."""
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007
