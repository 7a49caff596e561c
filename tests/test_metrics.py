"""The scores of `bprop evaluate`, metrics.json's test section and `bprop cv` against
scikit-learn's metrics on the same predictions: hand-made cases (a class absent, one sigmoid
unit, clipped probabilities), a golden case derived by hand, a Hypothesis property over random
labels and probabilities, and trained runs end to end."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import exceptions as sk_warnings
from sklearn import metrics as sk

from backprop_cli.core.metrics import (
    binary_roc_auc,
    classification_scores,
    regression_scores,
)
from backprop_cli.core.task import Task
from backprop_cli.runs.trained.evaluation import scores, split_of
from backprop_cli.runs.trained.model import load_model

from helpers import CONFIG_DIR, cli

TOLERANCE = 1e-9


def reference(labels: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    """scikit-learn's figures for the same predictions (each sample's most probable class);
    a figure it gives as NaN (with a warning) is None."""
    k = proba.shape[1]
    predicted = proba.argmax(axis=1)
    figures: dict[str, float | None] = {
        "accuracy": sk.accuracy_score(labels, predicted),
        "log_loss": sk.log_loss(labels, proba, labels=list(range(k))),
    }
    with warnings.catch_warnings():
        # a class predicted that has no sample (balanced accuracy leaves it out), a ROC AUC
        # that is not defined (NaN): scikit-learn warns
        warnings.simplefilter("ignore", UserWarning)
        figures["balanced_accuracy"] = sk.balanced_accuracy_score(labels, predicted)
        if k == 2:
            auc = sk.roc_auc_score(labels, proba[:, 1])
        elif len(np.unique(labels)) < 2:
            auc = math.nan  # scikit-learn's multi-class check refuses one class outright
        else:
            auc = sk.roc_auc_score(labels, proba, multi_class="ovr", labels=list(range(k)))
    figures["roc_auc"] = None if math.isnan(auc) else auc
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = sk.precision_recall_fscore_support(
            labels, predicted, average=average, zero_division=0
        )
        figures |= {f"precision_{average}": precision, f"recall_{average}": recall}
        figures[f"f1_{average}"] = f1
    return figures


def assert_same(found: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if value is None:
            assert found[key] is None, key
        else:
            assert found[key] == pytest.approx(value, rel=TOLERANCE, abs=TOLERANCE), key


def normalized(weights: np.ndarray) -> np.ndarray:
    rows = weights.astype(np.float64)
    rows[rows.sum(axis=1) == 0] = 1.0
    return rows / rows.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ by hand
def test_golden_two_classes_from_one_sigmoid_unit() -> None:
    """Four samples, one sigmoid output P(class 1) = 0.1, 0.6, 0.3, 0.8; true classes 0, 0, 0, 1.

    Predicted (P > 0.5): 0, 1, 0, 1, so the confusion matrix is [[2, 1], [0, 1]]:
      class 0: precision 2/2 = 1, recall 2/3, F1 = 2·1·(2/3)/(1 + 2/3) = 4/5
      class 1: precision 1/2, recall 1/1 = 1, F1 = 2·(1/2)·1/(1/2 + 1) = 2/3
      accuracy 3/4; balanced accuracy (2/3 + 1)/2 = 5/6
      macro F1 (4/5 + 2/3)/2 = 11/15; weighted F1 (3·4/5 + 1·2/3)/4 = 23/30
      log loss −(ln 0.9 + ln 0.4 + ln 0.7 + ln 0.8)/4; ROC AUC 1 (0.8 tops every negative)
    """
    outputs = np.array([[0.1], [0.6], [0.3], [0.8]])
    labels = np.array([0, 0, 0, 1])
    task = Task.of(True, 1)  # binary_cross_entropy on one sigmoid unit
    found = scores(task, outputs, labels)
    golden = {
        "accuracy": 3 / 4,
        "balanced_accuracy": 5 / 6,
        "precision_macro": (1 + 1 / 2) / 2,
        "recall_macro": (2 / 3 + 1) / 2,
        "f1_macro": 11 / 15,
        "f1_weighted": 23 / 30,
        "log_loss": -(math.log(0.9) + math.log(0.4) + math.log(0.7) + math.log(0.8)) / 4,
        "roc_auc": 1.0,
    }
    assert_same(found, golden)
    assert_same(found, reference(labels, task.probabilities(outputs)))
    assert "rmse" not in found  # cross-entropy outputs are probabilities, not regressions


def test_a_class_without_samples_and_one_never_seen() -> None:
    """Class 2 is predicted but has no sample; class 3 neither: the averages run over the
    classes scikit-learn sees (true or predicted), precision of a class never predicted is 0."""
    labels = np.array([0, 0, 1, 1, 1, 0])
    proba = np.array(
        [
            [0.7, 0.1, 0.2, 0.0],
            [0.2, 0.1, 0.7, 0.0],  # predicted 2: a class without samples
            [0.1, 0.8, 0.1, 0.0],
            [0.5, 0.3, 0.2, 0.0],
            [0.3, 0.3, 0.4, 0.0],
            [0.6, 0.2, 0.2, 0.0],
        ]
    )
    found = classification_scores(labels, proba)
    assert_same(found, reference(labels, proba))
    assert found["roc_auc"] is None  # classes 2 and 3 have no sample: their AUC is not defined
    # predicted 0, 2, 1, 0, 2, 0: precision 2/3, 1/1 and 0/2 for classes 0, 1, 2; class 3,
    # neither true nor predicted, is left out of the mean
    assert found["precision_macro"] == pytest.approx((2 / 3 + 1 + 0) / 3, rel=TOLERANCE)


def test_figures_that_are_not_defined_for_one_class() -> None:
    """ROC AUC needs a sample of each side: None (null in JSON, – in the table), where
    scikit-learn gives NaN with a warning. The other figures stand."""
    labels = np.array([1, 1, 1])
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    found = classification_scores(labels, proba)
    assert found["roc_auc"] is None and found["accuracy"] == 2 / 3
    assert_same(found, reference(labels, proba))
    with pytest.warns(sk_warnings.UndefinedMetricWarning, match="one class"):
        assert math.isnan(sk.roc_auc_score(labels, proba[:, 1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_clips_at_the_probabilities_epsilon(dtype: type) -> None:
    """A true class given probability 0 (or its rival 1) costs −ln eps, eps that of the
    probabilities' dtype, as scikit-learn clips; not infinity."""
    labels = np.array([0, 1, 1])
    proba = np.array([[0.0, 1.0], [0.3, 0.7], [1.0, 0.0]], dtype=dtype)
    found = classification_scores(labels, proba)["log_loss"]
    eps = float(np.finfo(dtype).eps)
    assert found == pytest.approx(-(2 * math.log(eps) + math.log(np.float64(dtype(0.7)))) / 3)
    assert found == pytest.approx(
        sk.log_loss(labels, proba), rel=1e-6 if dtype == np.float32 else 1e-12
    )


def test_roc_auc_counts_ties_one_half() -> None:
    """Positives scored 0.5 and 0.9, negatives 0.5 and 0.1: of the 4 pairs, 3 ordered right
    and one tied, AUC = (3 + ½)/4."""
    positive = np.array([True, True, False, False])
    score = np.array([0.5, 0.9, 0.5, 0.1])
    assert binary_roc_auc(positive, score) == 3.5 / 4 == sk.roc_auc_score(positive, score)


def test_an_mse_network_of_classes_gets_rmse_and_no_log_loss() -> None:
    """The notes' XOR trains a sigmoid unit under mse: its outputs are scores, so there is a
    ROC AUC (it needs only their order) and no log loss; the RMSE is against the 0/1 labels."""
    outputs = np.array([[0.1], [0.7], [0.8], [0.45]])
    labels = np.array([0, 1, 1, 0])
    found = scores(Task.of(False, 1), outputs, labels)
    assert "log_loss" not in found
    assert found["roc_auc"] == 1.0 and found["accuracy"] == 1.0
    assert found["rmse"] == pytest.approx(sk.root_mean_squared_error(labels, outputs[:, 0]))


def test_regression_by_hand_and_with_several_outputs() -> None:
    """Errors 0.5, −0.5, 1, 0 against targets 1, 2, 3, 4: MSE = (¼ + ¼ + 1 + 0)/4 = 3/8,
    RMSE √(3/8), MAE 2/4, R² = 1 − 1.5/5 = 0.7 (Σ(y − ȳ)² = 2.25 + 0.25 + 0.25 + 2.25 = 5)."""
    targets = np.array([1.0, 2.0, 3.0, 4.0])
    predictions = np.array([1.5, 1.5, 4.0, 4.0])
    found = regression_scores(targets, predictions)
    assert_same(found, {"mse": 3 / 8, "rmse": math.sqrt(3 / 8), "mae": 0.5, "r2": 0.7})
    # two outputs: each averaged alike (the RMSE is the mean of the outputs' RMSEs)
    wide_t = np.stack([targets, targets**2], axis=1)
    wide_p = np.stack([predictions, targets**2 + np.array([3.0, -1.0, 0.0, 2.0])], axis=1)
    assert_same(regression_scores(wide_t, wide_p), regression_reference(wide_t, wide_p))


def test_r2_of_constant_targets_is_not_defined() -> None:
    found = regression_scores(np.array([0.5, 0.5, 0.5]), np.array([0.4, 0.5, 0.7]))
    assert found["r2"] is None and found["mse"] == pytest.approx(0.05 / 3)
    # a constant column whose mean rounds off its value: 0/0 still (scikit-learn 1.9 divides
    # by the rounding error and gives about −4e31)
    flat = np.full(23, 1.88843585e-20)
    assert regression_scores(flat, np.zeros(23))["r2"] is None


def regression_reference(targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    return {
        "mse": sk.mean_squared_error(targets, predictions),
        "rmse": sk.root_mean_squared_error(targets, predictions),
        "mae": sk.mean_absolute_error(targets, predictions),
        "r2": sk.r2_score(targets, predictions),
    }


# --------------------------------------------------------------- properties
@st.composite
def predictions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Labels of K classes and one probability row per label, with ties, zeros and absent
    classes (small integer weights normalized)."""
    k = draw(st.integers(2, 5))
    n = draw(st.integers(1, 40))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))
    weights = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 6)))
    return labels, normalized(weights)


@settings(max_examples=150)
@given(predictions())
def test_classification_scores_match_scikit_learn(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, proba = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows that sum to 1 within rounding
        expected = reference(labels, proba)
    assert_same(classification_scores(labels, proba), expected)


@settings(max_examples=100)
@given(
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            *[
                hnp.arrays(
                    np.float64,
                    (n, 2),
                    elements=st.integers(-(10**6), 10**6).map(lambda i: i / 1000),
                )
                for _ in range(2)
            ]
        )
    ),
    st.booleans(),
)
def test_regression_scores_match_scikit_learn(
    case: tuple[np.ndarray, np.ndarray], one_output: bool
) -> None:
    targets, predictions = (a[:, 0] for a in case) if one_output else case
    found = regression_scores(targets, predictions)
    expected = regression_reference(targets, predictions)
    columns = targets.reshape(len(targets), -1)
    if np.any(np.ptp(columns, axis=0) == 0):  # a constant column: R² is 0/0
        assert found["r2"] is None
        del expected["r2"]
    assert_same(found, expected)


# --------------------------------------------------------------- end to end
def trained(config: str, out: Path, *overrides: str) -> str:
    """Train ``config`` in float64 into ``out``; the summary it prints."""
    args = ["train", str(CONFIG_DIR / config), "--out", str(out), "--quiet"]
    for item in ("dtype=float64", *overrides):
        args += ["--set", item]
    result = cli(args)
    assert result.exit_code == 0, result.output
    return result.output


def evaluated(run: Path) -> dict[str, Any]:
    result = cli(["evaluate", str(run), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(
    ("config", "epochs"), [("iris.yaml", 30), ("circles.yaml", 15)], ids=["softmax", "sigmoid"]
)
def test_evaluate_and_metrics_json_match_scikit_learn(
    config: str, epochs: int, tmp_path: Path
) -> None:
    """Iris (three softmax classes) and circles (one sigmoid unit): every figure of `bprop
    evaluate --json` is scikit-learn's on the model's own probabilities, and metrics.json's
    test section holds the same figures."""
    run = tmp_path / "run"
    summary = trained(config, run, f"training.epochs={epochs}")
    assert "test balanced accuracy" in summary and "(½·MSE)" not in summary
    model = load_model(run)
    X, y = split_of(model.experiment(), "test")
    proba = model.task.probabilities(model.outputs(X, "test"))
    found = evaluated(run)
    assert_same(found, reference(y, proba))
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert metrics == {k: v for k, v in found.items() if k in metrics}
    assert set(metrics) == {"loss", *reference(y, proba)}
    shown = cli(["evaluate", str(run)]).output
    assert "balanced accuracy" in shown and "macro avg" in shown and "weighted avg" in shown


def test_regression_run_matches_scikit_learn(tmp_path: Path) -> None:
    """Sine (mse): RMSE, MSE, MAE and R² of the model's predictions as scikit-learn computes
    them; the loss is half the MSE and is labelled so."""
    run = tmp_path / "run"
    summary = trained("sine.yaml", run, "training.epochs=20")
    scaled = "(½·MSE, scaled target)"  # sine's target is standardized by default
    assert f"test loss {scaled}" in summary and f"final train_loss {scaled}" in summary
    assert "test RMSE" in summary
    model = load_model(run)
    X, y = split_of(model.experiment(), "test")
    found = evaluated(run)
    assert_same(found, regression_reference(y, model.outputs(X, "test")[:, 0]))
    # the loss is on the standardized target (σ its training split's spread), the MSE in its units
    assert model.target_scale is not None
    std = float(model.target_scale.std[0])
    assert found["loss"] == pytest.approx(found["mse"] / (2 * std**2), rel=TOLERANCE)
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert metrics.keys() == {"loss", "rmse", "mse", "mae", "r2"}
    # metrics.json's targets went to the standardized scale and back: equal but for rounding
    assert metrics == {k: pytest.approx(found[k], rel=1e-9) for k in metrics}
    shown = cli(["evaluate", str(run)]).output
    assert f"loss {scaled}" in shown and "RMSE" in shown and "R²" in shown
