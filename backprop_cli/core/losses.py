"""Losses, each the mean over the batch of a per-sample loss, with the gradient that starts δ_L.

Three losses, each tied to the output activations it accepts:

- `MeanSquaredError` works on the output activations ŷ = σ(z_L) of any activation and returns
  ∂L/∂ŷ; the output layer then applies σ′ (the seed's δ_L = (ŷ − y) ⊙ σ′(z_L)).
- `SoftmaxCrossEntropy` and `SigmoidBinaryCrossEntropy` are fused pairs: they take the logits z_L,
  compute the loss stably from them and return δ_L = ∂L/∂z_L = (ŷ − y)/N directly.

`build_loss` pairs a loss with an output activation and rejects pairs that would give a silently
wrong gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError, DataError
from .activations import Activation, Sigmoid, Softmax
from .scratch import Buffer, Scratch, forward_first
from .types import Array


class Loss:
    """Base class. ``forward`` returns the mean loss and keeps what ``backward`` needs."""

    name: ClassVar[str] = ""
    #: True when the loss takes the output layer's logits z_L instead of its activations.
    takes_logits: ClassVar[bool] = False
    #: The output activation the loss is fused with (None: any output).
    output_activation: ClassVar[str | None] = None
    #: The loss decides the task: True for classification (targets are classes), False for
    #: regression (targets are numbers).
    classification: ClassVar[bool] = True
    #: One weight per class (see `set_class_weights`); None: every sample counts alike.
    class_weights: NDArray[np.float64] | None = None
    #: The total weight of the last ``forward``'s batch (its size when unweighted), so that
    #: chunks of a split combine into its weighted mean.
    weight_sum: float = 0.0

    def set_class_weights(self, weights: NDArray[np.floating] | None) -> None:
        """Weight each sample's loss by its class's weight w_c: the batch loss becomes the
        weighted mean Σ w_i ℓ_i / Σ w_i (PyTorch's ``CrossEntropyLoss(weight=…)``)."""
        if weights is not None and not self.classification:
            raise ConfigError("class weights apply to classification losses, not mse")
        self.class_weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def prepare_targets(self, y: NDArray[np.generic], n_outputs: int, dtype: np.dtype) -> NDArray:
        """Checks and converts targets once per data set, not once per step."""
        raise NotImplementedError

    def forward(self, out: Array, y: NDArray) -> float:
        raise NotImplementedError

    def backward(self) -> Array:
        """∂L/∂out for the last ``forward``, with the 1/N of the batch mean included."""
        raise NotImplementedError

    def predict(self, out: Array) -> Array:
        """ŷ from what ``forward`` receives (identity unless the loss takes logits)."""
        return out


class _ScratchFor:
    """A loss's `Scratch`, made by ``make(k)`` for outputs of k columns (known at the first
    forward pass, and the same for every batch of a network)."""

    def __init__(self, make: Callable[[int], Scratch]) -> None:
        self.make = make
        self.k = -1
        self.scratch: Scratch | None = None

    def __call__(self, k: int) -> Scratch:
        if k != self.k or self.scratch is None:
            self.k, self.scratch = k, self.make(k)
        return self.scratch

    def backward(self, who: str) -> Any:
        return forward_first(self.scratch, who).backward(who)


def _row_max(x: Array, out: Array) -> Array:
    """max over each row of x into out (n, 1). For many narrow rows a loop over the columns is
    several times faster than NumPy's per-row reduction."""
    n, k = x.shape
    if k <= 32 and n >= 8 * k:
        np.copyto(out[:, 0], x[:, 0])
        for j in range(1, k):
            np.maximum(out[:, 0], x[:, j], out=out[:, 0])
        return out
    return x.max(axis=1, keepdims=True, out=out)


def _as_matrix_targets(y: NDArray[np.generic], n_outputs: int, dtype: np.dtype, who: str) -> Array:
    """(N, n_outputs) targets in ``dtype``. Integer class labels become one-hot rows when there
    are several output units, and 0/1 values for a single unit."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer) and y.ndim == 1 and n_outputs > 1:
        if y.size and (y.min() < 0 or y.max() >= n_outputs):
            raise DataError(
                f"{who} labels must lie in [0, {n_outputs - 1}] for {n_outputs} output units; "
                f"received labels from {y.min()} to {y.max()}"
            )
        return np.eye(n_outputs, dtype=dtype)[y]
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise DataError(
            f"{who} needs targets of shape (N, {n_outputs}) to match the output layer; "
            f"received shape {tuple(np.asarray(y).shape)}"
        )
    return np.ascontiguousarray(y, dtype=dtype)


class MeanSquaredError(Loss):
    """Mean squared error with the seed's ½.

    Math:
        L = (1/N) Σ_n ½ Σ_k (ŷ_nk − y_nk)²
        ∂L/∂ŷ = (ŷ − y) / N
    """

    name = "mse"
    classification = False

    def __init__(self) -> None:
        self._scratch = _ScratchFor(lambda k: Scratch(diff=Buffer((k,)), grad=Buffer((k,))))

    def prepare_targets(self, y: NDArray[np.generic], n_outputs: int, dtype: np.dtype) -> Array:
        return _as_matrix_targets(y, n_outputs, dtype, "mse")

    def forward(self, out: Array, y: NDArray) -> float:
        n, k = out.shape
        v = self._scratch(k).forward(n, out.dtype)
        self.weight_sum = float(n)
        diff = np.subtract(out, y, out=v.diff)
        squares = np.multiply(diff, diff, out=v.grad)
        return 0.5 * float(squares.sum(dtype=np.float64)) / n

    def backward(self) -> Array:
        v = self._scratch.backward("mse")
        return np.divide(v.diff, len(v.diff), out=v.grad)


class SoftmaxCrossEntropy(Loss):
    """Softmax output and categorical cross-entropy, fused and computed from the logits.

    Math:
        ŷ = softmax(z),  log ŷ_k = z_k − m − log Σ_j e^(z_j − m),  m = max_j z_j
        L = −(1/N) Σ_n Σ_k y_nk log ŷ_nk
        ∂L/∂z = (ŷ − y) / N
    With class weights w, sample n weighs ω_n = w_{y_n} (Σ_k y_nk w_k for rows of
    probabilities), and
        L = Σ_n ω_n ℓ_n / Σ_n ω_n,   ∂L/∂z_n = ω_n (ŷ_n − y_n) / Σ_m ω_m
    Targets are integer class labels (one-hot y) or rows of class probabilities.
    """

    name = "cross_entropy"
    takes_logits = True
    output_activation = "softmax"

    def __init__(self) -> None:
        self._y: NDArray = np.empty(0)  # the targets of the last forward pass
        self._scale: Array = np.zeros(0)  # ω_i / Σω of the last weighted batch
        self._scratch = _ScratchFor(self._buffers)
        #: Optional compiled loss and gradient in one pass, (z, labels, grad) → Σ losses, for
        #: unweighted labels (installed by `backprop_cli.kernels`).
        self.fused: Callable[[Array, NDArray, Array], float] | None = None
        self._grad_done = False  # the last forward left ∂L/∂z in the grad buffer

    @staticmethod
    def _buffers(k: int) -> Scratch:
        """The buffers of a batch of rows of k logits."""
        row = Buffer((k,))
        return Scratch(
            shifted=row, probs=row, col=Buffer((1,)), grad=row,
            offsets=Buffer(make=lambda n, dtype: np.arange(0, n * k, k, dtype=np.intp)),
            flat=Buffer(dtype="intp"),  # the flat index of each sample's label
            picked=Buffer(),  # the logit picked there
            ones=Buffer(make=lambda n, dtype: np.ones(k, dtype=dtype)),  # row sums by BLAS
        )  # fmt: skip

    def prepare_targets(self, y: NDArray[np.generic], n_outputs: int, dtype: np.dtype) -> NDArray:
        y = np.asarray(y)
        if np.issubdtype(y.dtype, np.integer):
            if y.ndim != 1:
                raise DataError(f"cross_entropy labels must be 1-D; received shape {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= n_outputs):
                raise DataError(
                    f"cross_entropy labels must lie in [0, {n_outputs - 1}] for a softmax of "
                    f"{n_outputs} units; received labels from {y.min()} to {y.max()}"
                )
            return np.ascontiguousarray(y, dtype=np.intp)
        return _as_matrix_targets(y, n_outputs, dtype, "cross_entropy")

    def forward(self, out: Array, y: NDArray) -> float:
        n, k = out.shape
        v = self._scratch(k).forward(n, out.dtype)
        shifted, probs, col, flat, picked = v.shifted, v.probs, v.col, v.flat, v.picked
        self._y = y
        self._grad_done = self.fused is not None and y.ndim == 1 and self.class_weights is None
        if self._grad_done:
            assert self.fused is not None
            self.weight_sum = float(n)
            return self.fused(out, y, v.grad) / n
        np.subtract(out, _row_max(out, col), out=shifted)  # z − m ≤ 0
        np.exp(shifted, out=probs)
        np.dot(probs, v.ones, out=col[:, 0])  # row sums through BLAS
        probs /= col
        log_sums = np.log(col, out=col)
        if y.ndim == 1:
            # −log ŷ_y = log Σ e^(z − m) − (z_y − m): both terms ≥ 0. z_y is picked from the
            # flattened batch at n·k + y_n.
            np.add(v.offsets, y, out=flat)
            shifted.reshape(-1).take(flat, out=picked, mode="clip")  # in range by construction
            losses = np.subtract(log_sums[:, 0], picked, out=picked)
            if self.class_weights is not None:
                return self._weighted(losses, self.class_weights[y])
            self.weight_sum = float(n)
            return float(np.add.reduce(losses, dtype=np.float64)) / n
        np.subtract(log_sums, shifted, out=shifted)  # −log ŷ
        shifted *= y
        if self.class_weights is not None:
            return self._weighted(shifted.sum(axis=1), y @ self.class_weights)
        self.weight_sum = float(n)
        return float(np.add.reduce(shifted, axis=None, dtype=np.float64)) / n

    def _weighted(self, losses: Array, omega: NDArray[Any]) -> float:
        """Σ ω_i ℓ_i / Σ ω_i, keeping ω_i / Σ ω for ``backward`` (0 for a batch of weight 0)."""
        total = float(np.sum(omega, dtype=np.float64))
        self.weight_sum = total
        self._scale = (omega / total if total > 0 else np.zeros_like(omega)).astype(losses.dtype)
        return float(np.dot(self._scale.astype(np.float64), losses)) if total > 0 else 0.0

    def backward(self) -> Array:
        v = self._scratch.backward("cross_entropy")
        probs, y, grad, flat = v.probs, self._y, v.grad, v.flat
        if self._grad_done:
            return grad
        n = len(probs)
        if self.class_weights is not None:
            # ∂L/∂z_i = (ω_i / Σω)(ŷ_i − y_i)
            scale = self._scale[:, None]
            if y.ndim == 1:
                np.multiply(probs, scale, out=grad)
                grad.reshape(-1)[flat] -= self._scale
            else:
                np.subtract(probs, y, out=grad)
                grad *= scale
            return grad
        if y.ndim == 1:
            np.divide(probs, n, out=grad)
            grad.reshape(-1)[flat] -= 1.0 / n  # (ŷ − y)/N, y one-hot at the labels
        else:
            np.subtract(probs, y, out=grad)
            grad /= n
        return grad

    def predict(self, out: Array) -> Array:
        return Softmax().forward(out)


class SigmoidBinaryCrossEntropy(Loss):
    """Sigmoid outputs and binary cross-entropy, fused and computed from the logits.

    Math:
        ŷ = σ(z)
        L = −(1/N) Σ_n Σ_k [y log ŷ + (1 − y) log(1 − ŷ)]
          = (1/N) Σ_n Σ_k [max(z, 0) − y·z + log(1 + e^(−|z|))]   (stable form)
        ∂L/∂z = (ŷ − y) / N
    With class weights w (one unit: the weights of class 0 and class 1; several: one-hot rows),
    ω_n = w_0 + (w_1 − w_0) y_n (or Σ_k y_nk w_k) and
        L = Σ_n ω_n ℓ_n / Σ_n ω_n,   ∂L/∂z_n = ω_n (ŷ_n − y_n) / Σ_m ω_m
    Targets are 0/1 (or probabilities) of shape (N, k), or (N,) for one output unit.
    """

    name = "binary_cross_entropy"
    takes_logits = True
    output_activation = "sigmoid"

    def __init__(self) -> None:
        self._probs: Array | None = None
        self._y: Array = np.empty((0, 0))
        self._scale: Array = np.zeros(0)  # ω_i / Σω of the last weighted batch

    def prepare_targets(self, y: NDArray[np.generic], n_outputs: int, dtype: np.dtype) -> Array:
        targets = _as_matrix_targets(y, n_outputs, dtype, "binary_cross_entropy")
        if targets.size and (targets.min() < 0 or targets.max() > 1):
            raise DataError(
                "binary_cross_entropy targets must lie in [0, 1]; received values from "
                f"{targets.min()} to {targets.max()}"
            )
        return targets

    def forward(self, out: Array, y: NDArray) -> float:
        self._probs = Sigmoid().forward(out)
        self._y = y
        per_entry = np.maximum(out, 0) - y * out + np.log1p(np.exp(-np.abs(out)))
        w = self.class_weights
        if w is not None:
            # One unit: class 1 where y = 1 (ω = w_0 + (w_1 − w_0) y); several: one-hot rows.
            omega = w[0] + (w[1] - w[0]) * y[:, 0] if y.shape[1] == 1 else y @ w[: y.shape[1]]
            total = float(np.sum(omega, dtype=np.float64))
            self.weight_sum = total
            scale = omega / total if total > 0 else np.zeros_like(omega)
            self._scale = scale.astype(out.dtype)[:, None]
            return float(np.sum(per_entry * self._scale, dtype=np.float64))
        self.weight_sum = float(out.shape[0])
        return float(np.sum(per_entry, dtype=np.float64)) / out.shape[0]

    def backward(self) -> Array:
        probs = forward_first(self._probs, "binary_cross_entropy")
        if self.class_weights is not None:
            return (probs - self._y) * self._scale
        return (probs - self._y) / probs.shape[0]

    def predict(self, out: Array) -> Array:
        return Sigmoid().forward(out)


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (MeanSquaredError, SoftmaxCrossEntropy, SigmoidBinaryCrossEntropy)
}

#: The output activation each fused loss requires.
REQUIRED_OUTPUT = {
    name: cls.output_activation for name, cls in LOSSES.items() if cls.output_activation
}


def is_classification(loss: str) -> bool:
    """The one answer to "is this classification?": the loss decides."""
    return LOSSES[loss].classification


def pairing_error(loss: str, activation: str) -> str | None:
    """Why the loss ``loss`` cannot follow an output layer with ``activation``, or None."""
    required = REQUIRED_OUTPUT.get(loss)
    if required is None or activation == required:
        return None
    return (
        f"loss {loss} needs a {required} output layer, received {activation}; set it to "
        f"{required}, or use loss mse"
    )


def build_loss(name: str, output_activation: Activation) -> Loss:
    """The loss ``name`` for a network whose last layer uses ``output_activation``.

    Raises:
        ConfigError: for an unknown loss, or a fused loss paired with the wrong output.
    """
    if name not in LOSSES:
        known = ", ".join(sorted(LOSSES))
        raise ConfigError(f"unknown loss {name!r}; choose one of: {known}")
    problem = pairing_error(name, output_activation.name)
    if problem is not None:
        raise ConfigError(f"the last layer's activation: {problem}")
    return LOSSES[name]()
