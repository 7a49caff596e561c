"""Scores of a model's predictions on labelled samples, defined as scikit-learn's metrics define
them (`classification_report`, `balanced_accuracy_score`, `log_loss`, `roc_auc_score`,
`mean_squared_error`, `mean_absolute_error`, `r2_score`), in float64.

Classification takes the true class of each sample and one probability column per class;
regression takes the targets and the predictions in the same units. Each function returns
plain numbers: a figure that is not defined for the samples given is None (JSON's null).

A figure scikit-learn gives as NaN with a warning (ROC AUC when a class has no samples, or
every sample is of it) is None here. Where bprop differs from scikit-learn:
- R² is None when a target column is constant (0/0; scikit-learn's default ``force_finite``
  gives 1.0 or 0.0 instead, or a huge number when the column's mean is rounded off its value).
- Outputs that are scores rather than probabilities (an mse network of labelled data) give a
  ROC AUC (it needs only their order) and no log loss (`classification_scores`' argument
  ``log_loss_of_proba``); scikit-learn's ROC AUC of more than two classes refuses scores whose
  rows do not sum to 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError

#: The figures `classification_scores` returns, in the order reports show them.
CLASSIFICATION_FIGURES = (
    "accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro",
    "precision_weighted", "recall_weighted", "f1_weighted", "log_loss", "roc_auc",
)  # fmt: skip
#: The figures `regression_scores` returns, in the order reports show them.
REGRESSION_FIGURES = ("rmse", "mse", "mae", "r2")


def confusion_matrix(
    labels: NDArray[np.integer], predicted: NDArray[np.integer], n_classes: int
) -> NDArray[np.int64]:
    """Counts of (true class, predicted class) pairs.

    Math:
        C[i, j] = #{n : labels_n = i and predicted_n = j},  C of shape (n_classes, n_classes)
    """
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return confusion


def per_class(confusion: NDArray[np.integer]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class, from the confusion matrix; a ratio
    whose denominator is 0 is 0 (scikit-learn's ``zero_division=0``).

    Math:
        precision_c = C[c, c] / Σ_i C[i, c]      (of the samples predicted c, those that are c)
        recall_c    = C[c, c] / Σ_j C[c, j]      (of the samples of class c, those found)
        f1_c        = 2 · precision_c · recall_c / (precision_c + recall_c)
        support_c   = Σ_j C[c, j]
    """
    rows = []
    for c in range(len(confusion)):
        tp = int(confusion[c, c])
        support, claimed = int(confusion[c].sum()), int(confusion[:, c].sum())
        precision = tp / claimed if claimed else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"precision": precision, "recall": recall, "f1": f1, "support": support})
    return rows


def log_loss(labels: NDArray[np.integer], proba: NDArray[np.floating]) -> float:
    """The mean negative log-probability of each sample's true class, the probabilities clipped
    to [eps, 1 − eps] with eps the machine epsilon of their dtype (as scikit-learn clips).

    Math:
        log_loss = −(1/N) Σ_n log clip(proba[n, labels_n], eps, 1 − eps)
    """
    eps = float(np.finfo(proba.dtype).eps) if proba.dtype.kind == "f" else np.finfo(float).eps
    picked = np.asarray(proba[np.arange(len(labels)), labels], dtype=np.float64)
    return float(-np.mean(np.log(np.clip(picked, eps, 1 - eps))))


def binary_roc_auc(positive: NDArray[np.bool_], score: NDArray[np.floating]) -> float | None:
    """The area under the ROC curve: the chance that a random positive sample scores above a
    random negative one, ties counting one half (the Mann–Whitney U statistic). None when the
    samples are all positive or all negative.

    Math:
        r_n = the rank of score_n among all N scores, from 1, tied scores sharing their mean rank
        AUC = (Σ_{n positive} r_n − P (P + 1) / 2) / (P · Q),  P positives, Q = N − P negatives
    """
    p = int(np.count_nonzero(positive))
    q = len(positive) - p
    if p == 0 or q == 0:
        return None
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts, dtype=np.float64)
    midranks = ends - (counts - 1) / 2.0  # the mean of ranks ends − counts + 1 ... ends
    ranks = midranks[inverse.reshape(-1)]
    return float((ranks[positive].sum() - p * (p + 1) / 2.0) / (p * q))


def roc_auc(labels: NDArray[np.integer], proba: NDArray[np.floating]) -> float | None:
    """ROC AUC: of P(class 1) for two classes; for K > 2, the mean over the classes of the
    one-vs-rest AUC of P(class c) (scikit-learn's ``multi_class="ovr"``, ``average="macro"``).
    None when one of these AUCs is not defined: a class without samples, or only one class.

    Math:
        two classes:  AUC(labels = 1, proba[:, 1])
        K classes:    (1/K) Σ_c AUC(labels = c, proba[:, c])
    """
    if proba.shape[1] == 2:
        return binary_roc_auc(labels == 1, proba[:, 1])
    areas = [binary_roc_auc(labels == c, proba[:, c]) for c in range(proba.shape[1])]
    known = [a for a in areas if a is not None]
    return float(np.mean(known)) if len(known) == len(areas) else None


def classification_scores(
    labels: NDArray[np.integer], proba: NDArray[np.floating], log_loss_of_proba: bool = True
) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, macro and weighted precision, recall and F1, log loss and
    ROC AUC of class probabilities ``proba`` (N, K) against the true classes ``labels`` (N,)
    in 0 … K − 1. Each sample's predicted class is its most probable one (the first on a tie).
    Without ``log_loss_of_proba`` (outputs that are scores, not probabilities) ``log_loss`` is
    left out.

    Math (per-class figures as in `per_class`; "present": with samples or predictions, the
    labels scikit-learn averages over):
        predicted_n        = argmax_k proba[n, k]
        accuracy           = (1/N) Σ_n [predicted_n = labels_n]
        balanced_accuracy  = mean of recall_c over the classes with support_c > 0
        X_macro            = mean of X_c over the present classes,  X ∈ {precision, recall, f1}
        X_weighted         = Σ_c support_c · X_c / N
        log_loss, roc_auc  as in `log_loss` and `roc_auc`
    """
    labels = np.asarray(labels).astype(np.int64, copy=False)
    proba = np.asarray(proba)
    if proba.ndim != 2 or len(proba) != len(labels) or not len(labels):
        raise DataError(
            f"scores need one row of class probabilities per label; received {len(labels)} "
            f"labels and probabilities of shape {proba.shape}"
        )
    if labels.min() < 0 or labels.max() >= proba.shape[1]:
        raise DataError(
            f"the labels must lie in [0, {proba.shape[1] - 1}] for {proba.shape[1]} classes; "
            f"received labels from {labels.min()} to {labels.max()}"
        )
    predicted = proba.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted, proba.shape[1])
    rows = per_class(confusion)
    support = confusion.sum(axis=1)
    present = (support > 0) | (confusion.sum(axis=0) > 0)
    n = len(labels)

    def macro(key: str) -> float:
        return float(np.mean([r[key] for r, seen in zip(rows, present, strict=True) if seen]))

    def weighted(key: str) -> float:
        return float(sum(r[key] * r["support"] for r in rows) / n)

    scores: dict[str, float | None] = {
        "accuracy": float(np.trace(confusion) / n),
        "balanced_accuracy": float(np.mean([r["recall"] for r in rows if r["support"]])),
        "precision_macro": macro("precision"),
        "recall_macro": macro("recall"),
        "f1_macro": macro("f1"),
        "precision_weighted": weighted("precision"),
        "recall_weighted": weighted("recall"),
        "f1_weighted": weighted("f1"),
        "log_loss": log_loss(labels, proba),
        "roc_auc": roc_auc(labels, proba),
    }
    if not log_loss_of_proba:
        del scores["log_loss"]
    return scores


def regression_scores(
    targets: NDArray[np.number], predictions: NDArray[np.number]
) -> dict[str, float | None]:
    """RMSE, MSE, MAE and R² of ``predictions`` against ``targets``, both (N,) or (N, K) in the
    same units. Several outputs are averaged with equal weights (scikit-learn's
    ``multioutput="uniform_average"``: the RMSE is the mean of each output's RMSE). The MSE here
    is the plain mean square; the mse loss carries ½ (loss = ½ · MSE for one output).

    Math (e = predictions − targets, ȳ_k the mean of target column k):
        mse  = (1/(N K)) Σ_n Σ_k e_nk²
        rmse = (1/K) Σ_k √((1/N) Σ_n e_nk²)
        mae  = (1/(N K)) Σ_n Σ_k |e_nk|
        r2   = (1/K) Σ_k (1 − Σ_n e_nk² / Σ_n (y_nk − ȳ_k)²),  None when a column is constant
    """
    truth = np.asarray(targets, dtype=np.float64)
    guess = np.asarray(predictions, dtype=np.float64)
    truth = truth.reshape(len(truth), -1)
    guess = guess.reshape(len(guess), -1)
    if truth.shape != guess.shape or not len(truth):
        raise DataError(
            f"scores need one prediction per target; received targets of shape {truth.shape} "
            f"and predictions of shape {guess.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float64: inf, then null
        error = guess - truth
        # squares of the values over each column's largest |value| (s): no overflow where the
        # figures themselves fit (targets near 1e300); RMSE = s·√(mean (e/s)²)
        s = np.maximum(np.max(np.abs(truth), axis=0), np.max(np.abs(error), axis=0))
        s = np.where((s > 0) & np.isfinite(s), s, 1.0)
        squares = np.mean((error / s) ** 2, axis=0)
        centred = (truth - truth.mean(axis=0)) / s
        total = np.sum(centred**2, axis=0)
        r2 = None
        if np.all(np.ptp(truth, axis=0) > 0) and np.all(total > 0):  # no constant column
            r2 = float(np.mean(1 - np.sum((error / s) ** 2, axis=0) / total))
        return {
            "rmse": float(np.mean(s * np.sqrt(squares))),
            "mse": float(np.mean(squares * s**2)),
            "mae": float(np.mean(np.abs(error))),
            "r2": r2,
        }
