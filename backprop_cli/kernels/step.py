"""A dense network's whole training step (forward, loss, backward, gradient norm) as one compiled
function, for small batches.

At batch 1 a step of NumPy is some thirty calls on vectors of a few dozen entries, and the cost
of each call, not its arithmetic, is the step's time. `DenseStep` does the same arithmetic in one
call. It replaces the reference's

    out = net.forward(X);  loss = net.loss.forward(out, y);  net.backward();  ‖net.grads‖

and leaves the same values in ``net.grads``, for networks of dense layers only, with linear,
relu, leaky_relu, tanh or sigmoid units, under softmax cross-entropy (class labels), mean squared
error or sigmoid binary cross-entropy, without class weights. Anything else runs the reference.

The recursion is the seed's (`backprop_cli.core.network.Network`), per sample row r:

    forward    z_l = a_{l−1} W_lᵀ + b_l,  a_l = σ_l(z_l)             (a_0 = x)
    loss       δ_L = (ŷ − y)/N  (fused losses; mse: (ŷ − y)/N ⊙ σ′(z_L))
    backward   ∂L/∂W_l = Σ_r δ_l[r]ᵀ a_{l−1}[r],  ∂L/∂b_l = Σ_r δ_l[r]
               δ_{l−1} = (δ_l W_l) ⊙ σ′_{l−1}(z_{l−1})

Sums run in the buffer's dtype in an order of their own (BLAS has its own too), so the results
equal the reference's to rounding, not bit for bit: after 100 steps the tests hold the weights
within 1e-12 relative, entry by entry, in float64, and within 1e-5 of each tensor's largest
weight in float32 (BLAS kernels differ: the largest difference measured under four OpenBLAS
kernels was 1.7e-6, in a gradient norm). Only the products' sums may be reassociated
(``fastmath={"reassoc"}``), which lets them use vector instructions; NaN and infinity keep IEEE
meaning, so a diverging run is still seen as one.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..core.layers import Dense
from ..core.layers.base import layer_key
from ..core.losses import MeanSquaredError, SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy
from ..core.network import Network
from ..core.types import Array
from .compile import kernel
from .losses import softmax_row
from .units import UNITS, activate, slope

#: The losses it computes: softmax cross-entropy on labels, mse, sigmoid binary cross-entropy.
LOSSES = {SoftmaxCrossEntropy: 0, MeanSquaredError: 1, SigmoidBinaryCrossEntropy: 2}
#: The largest batch × parameters for which one compiled step beats NumPy's calls; above it the
#: products are big enough for BLAS to win (measured: 64-128-64-10 at batch 1 takes 8.5 µs
#: against NumPy's 29, at batch 4 18 against 29, at batch 16 54 against 41).
MAX_WORK = 2**18

# Columns of a layer's row in the table the kernel reads.
FAN_IN, WIDTH, W_AT, B_AT, IN_COL, OUT_COL, KIND = range(7)


@kernel(fastmath={"reassoc"})
def dense_step(  # type: ignore[no-untyped-def]
    n, labels, targets, params, grads, z, a, delta, table, alphas, loss_kind, zero, one, n_
):
    """One step on the batch of ``n`` rows already in ``a`` (and ``labels`` or ``targets``);
    returns (Σ of the rows' losses in float64, Σ (∂L/∂θ)² in float64).

    ``a`` holds the input in its first columns and each layer's activations after them, ``z``
    and ``delta`` the same columns for z_l and δ_l; ``table`` a row per layer (fan-in, units,
    where W and b start in ``params``, its input's and its own first column, its unit kind);
    ``zero``, ``one`` and ``n_`` (the batch's rows) are in the buffers' dtype.
    """
    layers = table.shape[0]
    # forward: z = a_in Wᵀ + b;  a = σ(z)
    for layer in range(layers):
        fan_in, units = table[layer, FAN_IN], table[layer, WIDTH]
        w_at, b_at = table[layer, W_AT], table[layer, B_AT]
        src, dst = table[layer, IN_COL], table[layer, OUT_COL]
        kind, alpha = table[layer, KIND], alphas[layer]
        for r in range(n):
            x_r = a[r, src : src + fan_in]
            for u in range(units):
                w_u = params[w_at + u * fan_in : w_at + (u + 1) * fan_in]
                s = zero
                for i in range(fan_in):
                    s += x_r[i] * w_u[i]
                s = s + params[b_at + u]
                z[r, dst + u] = s
                a[r, dst + u] = activate(s, kind, alpha, zero, one)
    # the loss and δ_L, as `backprop_cli.core.losses` computes them
    last = layers - 1
    k, out = table[last, WIDTH], table[last, OUT_COL]
    kind, alpha = table[last, KIND], alphas[last]
    total = 0.0
    for r in range(n):
        if loss_kind == 0:  # softmax cross-entropy, as `kernels.losses` computes it
            total += softmax_row(z, delta, r, out, k, labels[r], zero, one, n_)
        elif loss_kind == 1:  # mse: ½ Σ (ŷ − y)²;  δ = (ŷ − y)/N ⊙ σ′(z)
            for j in range(k):
                diff = a[r, out + j] - targets[r, j]
                total += 0.5 * (diff * diff)
                gain = slope(z[r, out + j], a[r, out + j], kind, alpha, zero, one)
                delta[r, out + j] = diff / n_ * gain
        else:  # sigmoid cross-entropy: max(z, 0) − y·z + log(1 + e^−|z|);  δ = (σ(z) − y)/N
            for j in range(k):
                v, t = z[r, out + j], targets[r, j]
                total += max(v, zero) - t * v + math.log1p(math.exp(-abs(v)))
                delta[r, out + j] = (activate(v, 4, zero, zero, one) - t) / n_
    # backward: ∂L/∂W = Σ_r δᵀ a_in;  ∂L/∂b = Σ_r δ;  δ_in = (δ W) ⊙ σ′(z_in)
    for layer in range(layers - 1, -1, -1):
        fan_in, units = table[layer, FAN_IN], table[layer, WIDTH]
        w_at, b_at = table[layer, W_AT], table[layer, B_AT]
        src, dst = table[layer, IN_COL], table[layer, OUT_COL]
        grads[w_at : w_at + units * fan_in] = zero
        grads[b_at : b_at + units] = zero
        for r in range(n):
            x_r = a[r, src : src + fan_in]
            for u in range(units):
                d = delta[r, dst + u]
                grads[b_at + u] += d
                g_u = grads[w_at + u * fan_in : w_at + (u + 1) * fan_in]
                for i in range(fan_in):
                    g_u[i] += d * x_r[i]
        if layer == 0:
            break
        below, alpha = table[layer - 1, KIND], alphas[layer - 1]
        for r in range(n):
            d_r = delta[r, src : src + fan_in]
            z_r, a_r = z[r, src : src + fan_in], a[r, src : src + fan_in]
            d_r[:] = zero
            for u in range(units):
                d = delta[r, dst + u]
                w_u = params[w_at + u * fan_in : w_at + (u + 1) * fan_in]
                for i in range(fan_in):
                    d_r[i] += d * w_u[i]
            for i in range(fan_in):
                d_r[i] = d_r[i] * slope(z_r[i], a_r[i], below, alpha, zero, one)
    squares = 0.0
    for i in range(grads.size):
        g = np.float64(grads[i])  # float() would keep float32, whose squares overflow
        squares += g * g
    return total, squares


class DenseStep:
    """The compiled step of one network, with its buffers for batches of up to ``batch`` rows.

    Called with a batch (X, y), it returns (outputs, mean loss, gradient norm) as the reference
    step does, or None when this batch needs the reference (targets it does not take)."""

    def __init__(self, net: Network, batch: int, loss_kind: int) -> None:
        self.net, self.loss_kind = net, loss_kind
        layers = dense_layers(net)
        rows, alphas, col = [], [], net.input_dim
        src = 0
        for i, layer in enumerate(layers):
            w, b = net.slots[f"{layer_key(i)}.W"], net.slots[f"{layer_key(i)}.b"]
            kind = 0 if layer.fused_output else UNITS[layer.activation.name]
            rows.append((layer.fan_in, layer.units, w.offset, b.offset, src, col, kind))
            alphas.append(float(getattr(layer.activation, "alpha", 0.0)))
            src, col = col, col + layer.units
        self.table = np.array(rows, dtype=np.int64)
        self.alphas = np.array(alphas, dtype=net.dtype)
        self.z = np.zeros((batch, col), dtype=net.dtype)
        self.a = np.zeros_like(self.z)
        self.delta = np.zeros_like(self.z)
        last = layers[-1]
        self.out_cols = slice(col - last.units, col)
        self.logits = last.fused_output  # the outputs are z_L (a fused loss) or a_L
        # The batch is copied into these (and X into a's first columns): the kernel then
        # always sees the same array types, whatever the layout or flags of the data's arrays,
        # and is compiled once, here, on a batch of no rows.
        self.labels = np.zeros(batch, dtype=np.intp)
        self.targets = np.zeros((batch, last.units), dtype=net.dtype)
        self._run(0)

    def _run(self, n: int) -> tuple[float, float]:
        net, d = self.net, self.net.dtype.type
        total, squares = dense_step(n, self.labels, self.targets, net.params, net.grads, self.z,
                                    self.a, self.delta, self.table, self.alphas, self.loss_kind,
                                    d(0), d(1), d(n))  # fmt: skip
        return total, squares

    def __call__(self, X: Array, y: NDArray) -> tuple[Array, float, float] | None:
        if X.ndim != 2 or len(X) > len(self.z) or X.shape[1] != self.net.input_dim:
            return None  # the reference reports a wrong shape; a larger batch needs it
        if self.net.loss.class_weights is not None:
            return None
        n = len(X)
        if self.loss_kind == 0:
            if y.ndim != 1:  # rows of class probabilities: the reference
                return None
            self.labels[:n] = y
        else:
            self.targets[:n] = y
        self.a[:n, : X.shape[1]] = X
        total, squares = self._run(n)
        self.net.loss.weight_sum = float(n)
        out = (self.z if self.logits else self.a)[:n, self.out_cols]
        return out, total / n, math.sqrt(squares)


def dense_layers(net: Network) -> list[Dense]:
    """``net``'s layers, all dense (`dense_step_for` takes no other network)."""
    layers = [layer for layer in net.layers if isinstance(layer, Dense)]
    assert len(layers) == len(net.layers)
    return layers


def loss_kind_of(net: Network) -> int | None:
    """The code of ``net``'s loss (`LOSSES`) when the compiled steps compute the network (dense
    layers only, their units among `UNITS`, its loss among `LOSSES`); None otherwise."""
    loss_kind = LOSSES.get(type(net.loss))
    if loss_kind is None:
        return None
    for layer in net.layers:
        if type(layer) is not Dense or not isinstance(layer, Dense):  # not a subclass either
            return None
        if not layer.fused_output and layer.activation.name not in UNITS:
            return None
    return loss_kind


def dense_step_for(net: Network, batch: int) -> DenseStep | None:
    """The compiled step of ``net`` for batches of up to ``batch`` rows, or None when the network
    is not one it computes or the batches are big enough for BLAS to win."""
    loss_kind = loss_kind_of(net)
    if loss_kind is None or batch * net.n_params > MAX_WORK:
        return None
    return DenseStep(net, batch, loss_kind)
