"""What a network's outputs mean: a `Task` says whether they are classes or numbers and, for
classes, how an output row becomes a class and what the classes are called.

One rule decides a class everywhere (training accuracy, evaluate, predict, the API, pictures,
export): the most probable class, or for one output unit, class 1 when its probability passes
one half (its logit passes 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .types import Array

Kind = Literal["classification", "regression"]


def decide(
    outputs: Array, logits: bool = False, out: NDArray[np.intp] | None = None
) -> NDArray[Any]:
    """The class of each row of outputs: the argmax, or for one unit class 1 when its
    probability passes ½ (its logit passes 0, with ``logits``). Written into ``out`` when given
    (the training loop's buffer), else a new int64 array.

    Math:
        k̂ = argmax_k o_k  (K ≥ 2 units);   k̂ = [p > ½] = [z > 0]  (one unit, p = σ(z))
    """
    if outputs.shape[1] == 1:
        threshold = 0.0 if logits else 0.5
        passed = outputs[:, 0] > threshold
        if out is None:
            return passed.astype(np.int64)
        out[...] = passed
        return out
    if out is None:
        return outputs.argmax(axis=1).astype(np.int64)
    return outputs.argmax(axis=1, out=out)


def class_count(outputs: int) -> int:
    """How many classes a network of ``outputs`` units tells apart (one sigmoid unit: two)."""
    return max(outputs, 2)


@dataclass(frozen=True)
class Task:
    """A classification over ``classes`` (their names, in label order) or a regression of
    ``outputs`` values."""

    kind: Kind
    #: The number of output units of the network.
    outputs: int
    #: The class names in label order (classification only; "0", "1", ... when the data names
    #: none): one per output unit, or two for a single sigmoid unit.
    classes: tuple[str, ...] = ()
    #: Whether the data named its classes (so that predictions and messages use the names).
    named: bool = False

    @classmethod
    def of(
        cls, classification: bool, outputs: int, names: list[str] | tuple[str, ...] | None = None
    ) -> Task:
        """The task of a network of ``outputs`` units: its classes ``names``, or numbered."""
        if not classification:
            return cls("regression", outputs)
        count = class_count(outputs)
        if names is not None and len(names) != count:
            raise ValueError(
                f"names {len(names)} classes for a network of {outputs} output"
                f"{'s' if outputs != 1 else ''}"
            )
        if names is not None and len(set(names)) != len(names):
            twice = next(name for name in names if list(names).count(name) > 1)
            raise ValueError(f"names the class {twice!r} twice; class names must differ")
        numbered = tuple(str(k) for k in range(count))
        return cls("classification", outputs, tuple(names) if names else numbered, bool(names))

    @property
    def classification(self) -> bool:
        return self.kind == "classification"

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def class_names(self) -> list[str] | None:
        """The data's names for the classes, or None where it named none."""
        return list(self.classes) if self.named else None

    def decide(self, outputs: Array, logits: bool = False) -> NDArray[np.int64]:
        """Class indices from outputs (see `decide`)."""
        return decide(outputs, logits)

    def labels(self, indices: NDArray[Any]) -> list[str]:
        """The class names of class indices."""
        return [self.classes[k] for k in np.asarray(indices).tolist()]

    def probabilities(self, outputs: Array) -> Array:
        """One column per class: a softmax's outputs as they are, or from one sigmoid unit
        P(class 0) = 1 − p and P(class 1) = p."""
        if outputs.shape[1] > 1:
            return outputs
        p = outputs[:, :1]
        return np.concatenate([1 - p, p], axis=1)

    def to_json(self) -> str:
        document: dict[str, Any] = {"kind": self.kind, "outputs": self.outputs}
        if self.classification:
            document["classes"] = list(self.classes) if self.named else None
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str) -> Task:
        """The task `to_json` wrote; ValueError naming what is wrong otherwise."""
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(document, dict) or document.get("kind") not in (
            "classification",
            "regression",
        ):
            raise ValueError("its kind must be classification or regression")
        outputs = document.get("outputs")
        if not isinstance(outputs, int) or isinstance(outputs, bool) or outputs < 1:
            raise ValueError("its outputs must be a whole number ≥ 1")
        names = document.get("classes")
        if names is not None and not (
            isinstance(names, list) and all(isinstance(n, str) for n in names)
        ):
            raise ValueError("its classes must be a list of names")
        if names and document["kind"] == "regression":
            raise ValueError("it names classes, but a regression has none")
        return cls.of(document["kind"] == "classification", outputs, names)
