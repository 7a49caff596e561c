"""core/task: one rule turns outputs into classes, and a task survives its JSON."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from backprop_cli.core.task import Task, decide


def test_decisions_and_probabilities_by_hand() -> None:
    """Golden values:
    - softmax rows (0.2, 0.5, 0.3) and (0.6, 0.3, 0.1): classes 1 and 0 (the argmax);
    - one sigmoid unit p = 0.7, 0.5, 0.2: classes 1, 0 (½ is not past the threshold), 0, and
      probabilities (1 − p, p) = (0.3, 0.7), (0.5, 0.5), (0.8, 0.2);
    - its logits 0.1 and −0.1 (p = σ(z)): classes 1 and 0 (a threshold of 0 on the logit)."""
    softmax = Task.of(True, 3, ["cat", "dog", "owl"])
    rows = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    assert softmax.decide(rows).tolist() == [1, 0]
    assert softmax.labels(softmax.decide(rows)) == ["dog", "cat"]
    assert softmax.probabilities(rows) is rows

    sigmoid = Task.of(True, 1)
    p = np.array([[0.7], [0.5], [0.2]])
    assert sigmoid.classes == ("0", "1") and not sigmoid.named
    assert sigmoid.decide(p).tolist() == [1, 0, 0]
    np.testing.assert_allclose(sigmoid.probabilities(p), [[0.3, 0.7], [0.5, 0.5], [0.8, 0.2]])
    assert sigmoid.decide(np.array([[0.1], [-0.1]]), logits=True).tolist() == [1, 0]


def test_a_regression_has_no_classes() -> None:
    task = Task.of(False, 2)
    assert (task.kind, task.outputs, task.classes, task.class_names) == ("regression", 2, (), None)
    assert not task.classification


def test_class_names_must_match_the_outputs() -> None:
    with pytest.raises(ValueError, match="names 2 classes for a network of 3 outputs"):
        Task.of(True, 3, ["a", "b"])
    assert Task.of(True, 1, ["no", "yes"]).classes == ("no", "yes")  # one unit, two classes


@pytest.mark.parametrize(
    "task",
    [Task.of(True, 3, ["a", "b", "c"]), Task.of(True, 1), Task.of(False, 1), Task.of(False, 4)],
)
def test_a_task_survives_its_json(task: Task) -> None:
    assert Task.from_json(task.to_json()) == task


@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.integers(2, 6)),
        elements=st.floats(0, 1, allow_nan=False),
    )
)
def test_the_decision_is_the_most_probable_class(outputs: np.ndarray) -> None:
    task = Task.of(True, outputs.shape[1])
    decided = task.decide(outputs)
    chosen = task.probabilities(outputs)[np.arange(len(outputs)), decided]
    assert np.all(chosen == outputs.max(axis=1))


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1, allow_nan=False)))
def test_one_units_probabilities_sum_to_one_and_decide_as_the_logit(p: np.ndarray) -> None:
    task = Task.of(True, 1)
    proba = task.probabilities(p[:, None])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    with np.errstate(divide="ignore"):
        logits = np.log(p) - np.log1p(-p)  # σ⁻¹(p), ±∞ at 0 and 1
    assert task.decide(p[:, None]).tolist() == task.decide(logits[:, None], logits=True).tolist()


@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.integers(1, 5)),
        elements=st.floats(-5, 5, allow_nan=False),
    )
)
def test_the_training_loops_buffer_gets_the_same_decisions(outputs: np.ndarray) -> None:
    """The rule writes into the training loop's buffer (no allocation per step) exactly what it
    returns otherwise, and a one-unit output decides on its logit at 0 as on σ(logit) at ½."""
    buffer = np.empty(len(outputs), dtype=np.intp)
    assert decide(outputs, out=buffer) is buffer
    assert buffer.tolist() == decide(outputs).tolist()
    if outputs.shape[1] == 1 and np.all(np.abs(outputs) > 1e-9):  # σ of a tinier one rounds to ½
        p = 1 / (1 + np.exp(-outputs))
        assert decide(outputs, logits=True).tolist() == decide(p).tolist()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[", "not JSON"),
        ("[1]", "its kind must be classification or regression"),
        ('{"outputs": 1}', "its kind must be classification or regression"),
        ('{"kind": "ranking", "outputs": 1}', "its kind must be classification or regression"),
        ('{"kind": "regression"}', "its outputs must be a whole number ≥ 1"),
        ('{"kind": "regression", "outputs": 0}', "its outputs must be a whole number ≥ 1"),
        ('{"kind": "regression", "outputs": 1.0}', "its outputs must be a whole number ≥ 1"),
        ('{"kind": "regression", "outputs": true}', "its outputs must be a whole number ≥ 1"),
        ('{"kind": "classification", "outputs": 2, "classes": "ab"}', "a list of names"),
        ('{"kind": "classification", "outputs": 2, "classes": ["a", 1]}', "a list of names"),
        ('{"kind": "regression", "outputs": 1, "classes": ["a", "b"]}', "a regression has none"),
        ('{"kind": "classification", "outputs": 2, "classes": ["a", "a"]}', "'a' twice"),
        ('{"kind": "classification", "outputs": 3, "classes": ["a", "b"]}', "names 2 classes"),
    ],
)
def test_a_task_no_run_wrote_is_refused_naming_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Task.from_json(text)


def test_a_task_read_back_keeps_its_kind_outputs_and_names() -> None:
    """Golden: what the file says, field by field (one sigmoid unit: two classes)."""
    named = Task.from_json('{"kind": "classification", "outputs": 1, "classes": ["no", "yes"]}')
    assert (named.kind, named.outputs, named.classes, named.named) == (
        "classification", 1, ("no", "yes"), True,
    )  # fmt: skip
    numbered = Task.from_json('{"kind": "classification", "outputs": 3, "classes": null}')
    assert (numbered.classes, numbered.named, numbered.class_names) == (
        ("0", "1", "2"),
        False,
        None,
    )
    numbers = Task.from_json('{"kind": "regression", "outputs": 2}')
    assert (numbers.kind, numbers.outputs, numbers.classes) == ("regression", 2, ())
