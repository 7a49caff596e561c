"""A dense network's training steps as one compiled call: a chunk of an epoch, or all of it.

A step of the reference (`backprop_cli.core.training`) is gather, forward, loss, backward,
gradient norm, clipping and the optimizer's update, some thirty NumPy calls with Python between
each. `dense_steps` runs many steps in one call, with no Python between them:

    for each step k:  rows = order[k·b : (k+1)·b]
        gather     a_0 = X[rows],  y = labels[rows] (or targets[rows])
        forward    z_l = a_{l−1} W_lᵀ + b_l,  a_l = σ_l(z_l)
        loss       ℓ_k = Σ_r ℓ(z_L[r], y_r) / n_k;  δ_L as `backprop_cli.kernels.step` says
        backward   ∂L/∂W_l = δ_lᵀ a_{l−1},  ∂L/∂b_l = Σ_r δ_l[r],  δ_{l−1} = (δ_l W_l) ⊙ σ′(z_{l−1})
        norm       ‖∂L/∂θ‖ (before clipping), then clip (by the global norm, or by value)
        update     the optimizer's rule (`backprop_cli.kernels.optim`, the same loops)

and leaves each step's mean loss, gradient norm and predicted classes in arrays, which the
training loop turns into its events after the call. The products go through BLAS (numba's
``np.dot`` calls it) where they are big enough for it to pay, and through loops where they are
not (a batch of one); the rest is loops. A step whose loss or gradient is not finite ends the
call before its update, leaving its gradient in ``grads``, as the reference leaves it.

It takes what `backprop_cli.kernels.step` takes (dense layers; linear, relu, leaky_relu, tanh or
sigmoid units; softmax cross-entropy on labels, mse or sigmoid binary cross-entropy; no class
weights), and an optimizer whose whole chain is one fused kernel (sgd, momentum, nesterov,
rmsprop, adam; no weight decay). The results equal the reference's to rounding, as the whole
step's do, and do not depend on how an epoch is cut into calls.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..core.layers.base import layer_key
from ..core.network import Network
from ..core.optim import ClipByGlobalNorm, ClipByValue, Optimizer
from ..core.types import Array
from .compile import kernel
from .losses import softmax_row
from .optim import Fused, adam, momentum, nesterov, rmsprop, sgd
from .step import dense_layers, loss_kind_of
from .units import UNITS, activate, slope

#: Multiply-adds of one product from which BLAS beats the kernel's own loops (measured on the
#: products of 64-128-64-10 and 784-256-128-10 at batches 1 to 128: see `make bench`).
BLAS_FROM = 2**13
#: The optimizers' rules by the code `dense_steps` branches on.
RULES = {"sgd": 0, "momentum": 1, "nesterov": 2, "rmsprop": 3, "adam": 4}
#: The clippings, by the code `dense_steps` branches on.
CLIPS: dict[type | None, int] = {type(None): 0, ClipByGlobalNorm: 1, ClipByValue: 2}

# Columns of a layer's row in the table the kernel reads.
FAN_IN, WIDTH, W_AT, B_AT, IN_AT, OUT_AT, KIND = range(7)
# Entries of the hyperparameters' array.
MU, RHO, EPS, BETA1, BETA2, AMSGRAD, CLIP = range(7)


@kernel(inline="always")
def _product(left, right_t, out, blas, zero):  # type: ignore[no-untyped-def]
    """out = left · right_tᵀ (right_t: rows × inner, C order), through BLAS or loops."""
    if blas:
        np.dot(left, right_t.T, out)
        return
    rows, inner = left.shape
    for r in range(rows):
        for u in range(right_t.shape[0]):
            s = zero
            for i in range(inner):
                s += left[r, i] * right_t[u, i]
            out[r, u] = s


@kernel(fastmath={"reassoc"})
def dense_steps(  # type: ignore[no-untyped-def]
    X, labels, targets, order, size, first, last, params, grads, zs, acts, deltas, table, alphas,
    loss_kind, rule, state, hyper, lr, count, clip_kind, losses, norms, predicted, cast,
):  # fmt: skip
    """Steps ``first`` to ``last − 1`` of the epoch that visits X's rows in ``order`` in batches
    of ``size``; returns how many steps were applied (fewer than asked when a step's loss or
    gradient is not finite: that step is not applied, and its figures are in ``losses`` and
    ``norms`` at its place).

    ``zs``, ``acts`` and ``deltas`` are flat buffers holding each layer's z, a and δ for a batch
    (``acts`` the input first, the others from the first layer's), at the offsets in ``table``
    (a row per layer: fan-in, units, where W and b start in ``params``, where its input and its
    own outputs start in ``acts``, its unit kind). ``state`` holds the optimizer's arrays (m,
    v, v_max; or the velocity; or the cache), ``hyper`` its hyperparameters and the clip,
    ``count`` the updates applied before this call. ``predicted`` receives each row's class at
    its place in the epoch. ``cast`` is a one-entry buffer of the parameters' dtype, through
    which float64 scalars are rounded to it as NumPy rounds a Python float.
    """
    n_all = order.size
    layers = table.shape[0]
    base = size * X.shape[1]  # where the layers' outputs start in ``acts`` (z and δ start at 0)
    zero, one = cast.dtype.type(0), cast.dtype.type(1)
    last_layer = layers - 1
    k_out = table[last_layer, WIDTH]
    for step in range(first, last):
        lo = step * size
        n = min(size, n_all - lo)
        cast[0] = n
        n_ = cast[0]
        # gather: a_0 = X[rows]
        d = X.shape[1]
        a0 = acts[: n * d].reshape((n, d))
        for r in range(n):
            row, into = X[order[lo + r]], a0[r]
            for i in range(d):
                into[i] = row[i]
        # forward: z = a_in Wᵀ + b;  a = σ(z)
        for layer in range(layers):
            fan_in, units = table[layer, FAN_IN], table[layer, WIDTH]
            w_at, b_at = table[layer, W_AT], table[layer, B_AT]
            kind, alpha = table[layer, KIND], alphas[layer]
            a_in = acts[table[layer, IN_AT] : table[layer, IN_AT] + n * fan_in].reshape((n, fan_in))
            at = table[layer, OUT_AT]
            z = zs[at - base : at - base + n * units].reshape((n, units))
            a = acts[at : at + n * units].reshape((n, units))
            w = params[w_at : w_at + units * fan_in].reshape((units, fan_in))
            _product(a_in, w, z, n * fan_in * units >= BLAS_FROM, zero)
            for r in range(n):
                for u in range(units):
                    s = z[r, u] + params[b_at + u]
                    z[r, u] = s
                    a[r, u] = activate(s, kind, alpha, zero, one)
        # the loss and δ_L
        at, kind, alpha = table[last_layer, OUT_AT], table[last_layer, KIND], alphas[last_layer]
        z = zs[at - base : at - base + n * k_out].reshape((n, k_out))
        a = acts[at : at + n * k_out].reshape((n, k_out))
        delta = deltas[at - base : at - base + n * k_out].reshape((n, k_out))
        total = 0.0
        for r in range(n):
            if loss_kind == 0:
                total += softmax_row(z, delta, r, 0, k_out, labels[order[lo + r]], zero, one, n_)
            elif loss_kind == 1:  # mse: ½ Σ (ŷ − y)²;  δ = (ŷ − y)/N ⊙ σ′(z)
                for j in range(k_out):
                    diff = a[r, j] - targets[order[lo + r], j]
                    total += 0.5 * (diff * diff)
                    delta[r, j] = diff / n_ * slope(z[r, j], a[r, j], kind, alpha, zero, one)
            else:  # sigmoid cross-entropy on the logit
                for j in range(k_out):
                    v, t = z[r, j], targets[order[lo + r], j]
                    total += max(v, zero) - t * v + math.log1p(math.exp(-abs(v)))
                    delta[r, j] = (activate(v, 4, zero, zero, one) - t) / n_
        # each row's class, from the outputs the reference hands its accuracy (z_L under a
        # fused loss, else a_L): the argmax (the first NaN wins, as np.argmax), or one unit's
        # threshold
        logits = loss_kind != 1  # softmax and sigmoid cross-entropy take z_L; mse takes a_L
        out = z if logits else a
        for r in range(n):
            if k_out == 1:  # p > ½, or its logit > 0
                threshold = zero if logits else one / (one + one)
                predicted[lo + r] = 1 if out[r, 0] > threshold else 0
                continue
            best, at_best = out[r, 0], 0
            if best == best:
                for j in range(1, k_out):
                    if out[r, j] > best or out[r, j] != out[r, j]:
                        best, at_best = out[r, j], j
                        if best != best:
                            break
            predicted[lo + r] = at_best
        # backward: ∂L/∂W = δᵀ a_in;  ∂L/∂b = Σ_r δ;  δ_in = (δ W) ⊙ σ′(z_in)
        for layer in range(layers - 1, -1, -1):
            fan_in, units = table[layer, FAN_IN], table[layer, WIDTH]
            w_at, b_at, at = table[layer, W_AT], table[layer, B_AT], table[layer, OUT_AT]
            in_at = table[layer, IN_AT]
            a_in = acts[in_at : in_at + n * fan_in].reshape((n, fan_in))
            delta = deltas[at - base : at - base + n * units].reshape((n, units))
            g_w = grads[w_at : w_at + units * fan_in].reshape((units, fan_in))
            blas = n * fan_in * units >= BLAS_FROM
            if blas:
                np.dot(delta.T, a_in, g_w)
            else:
                g_w[:, :] = zero
                for r in range(n):
                    for u in range(units):
                        du = delta[r, u]
                        for i in range(fan_in):
                            g_w[u, i] += du * a_in[r, i]
            g_b = grads[b_at : b_at + units]
            g_b[:] = zero
            for r in range(n):
                for u in range(units):
                    g_b[u] += delta[r, u]
            if layer == 0:
                break
            w = params[w_at : w_at + units * fan_in].reshape((units, fan_in))
            d_in = deltas[in_at - base : in_at - base + n * fan_in].reshape((n, fan_in))
            if blas:
                np.dot(delta, w, d_in)
            else:
                d_in[:, :] = zero
                for r in range(n):
                    for u in range(units):
                        du = delta[r, u]
                        for i in range(fan_in):
                            d_in[r, i] += du * w[u, i]
            below, below_alpha = table[layer - 1, KIND], alphas[layer - 1]
            z_in = zs[in_at - base : in_at - base + n * fan_in].reshape((n, fan_in))
            a_below = acts[in_at : in_at + n * fan_in].reshape((n, fan_in))
            for r in range(n):
                for i in range(fan_in):
                    d_in[r, i] = d_in[r, i] * slope(
                        z_in[r, i], a_below[r, i], below, below_alpha, zero, one
                    )
        # the gradient's norm, in float64 (a float32 square sum could overflow)
        squares = 0.0
        for i in range(grads.size):
            g = np.float64(grads[i])  # float() would keep float32, whose squares overflow
            squares += g * g
        norm = math.sqrt(squares)
        loss = total / n
        losses[step], norms[step] = loss, norm
        if not (math.isfinite(loss) and math.isfinite(norm)):
            return step - first
        if clip_kind == 1 and norm > hyper[CLIP]:  # g ← g · c/‖g‖
            cast[0] = hyper[CLIP] / norm
            scale = cast[0]
            for i in range(grads.size):
                grads[i] *= scale
        elif clip_kind == 2:  # g ← min(max(g, −c), c)
            cast[0] = hyper[CLIP]
            c = cast[0]
            for i in range(grads.size):
                grads[i] = min(max(grads[i], -c), c)
        _update(params, grads, state, hyper, lr, count + step - first + 1, rule, cast)
    return last - first


@kernel(inline="always")
def _update(params, grads, state, hyper, lr, t, rule, cast):  # type: ignore[no-untyped-def]
    """The optimizer's update number ``t`` (1-based), its scalars rounded to the buffer's dtype
    as `backprop_cli.kernels.optim`'s callers round them."""
    cast[0] = lr
    lr_ = cast[0]
    if rule == 0:
        sgd(params, grads, lr_)
    elif rule == 1 or rule == 2:
        cast[0] = hyper[MU]
        mu = cast[0]
        if rule == 1:
            momentum(params, grads, state[0], mu, lr_)
        else:
            nesterov(params, grads, state[0], mu, lr_)
    elif rule == 3:
        rho = hyper[RHO]
        cast[0] = rho
        rho_ = cast[0]
        cast[0] = 1.0 - rho
        keep = cast[0]
        cast[0] = hyper[EPS]
        rmsprop(params, grads, state[0], rho_, keep, cast[0], lr_)
    else:
        b1, b2 = hyper[BETA1], hyper[BETA2]
        lr_t = lr / (1.0 - b1 ** float(t))
        cast[0] = b1 / (1.0 - b1)
        k1 = cast[0]
        cast[0] = 1.0 - b1
        q1 = cast[0]
        cast[0] = 1.0 - b2
        q2 = cast[0]
        cast[0] = 1.0 / (lr_t * math.sqrt(1.0 - b2 ** float(t)))
        c = cast[0]
        cast[0] = hyper[EPS] / lr_t
        adam(params, grads, state[0], state[1], state[2], k1, q1, q2, c, cast[0],
             hyper[AMSGRAD] != 0.0)  # fmt: skip


class DenseEpoch:
    """The compiled steps of one network and optimizer, with buffers for batches of ``size``
    rows of the training split (X, y); see `dense_epoch_for`."""

    def __init__(
        self, net: Network, optimizer: Optimizer, clip: object, size: int, loss_kind: int
    ) -> None:
        self.net, self.optimizer, self.size, self.loss_kind = net, optimizer, size, loss_kind
        layers = dense_layers(net)
        rows, alphas, start = [], [], 0
        at = size * net.input_dim
        for i, layer in enumerate(layers):
            w, b = net.slots[f"{layer_key(i)}.W"], net.slots[f"{layer_key(i)}.b"]
            kind = 0 if layer.fused_output else UNITS[layer.activation.name]
            rows.append((layer.fan_in, layer.units, w.offset, b.offset, start, at, kind))
            alphas.append(float(getattr(layer.activation, "alpha", 0.0)))
            start, at = at, at + size * layer.units
        self.table = np.array(rows, dtype=np.int64)
        self.alphas = np.array(alphas, dtype=net.dtype)
        # z and δ have no input region: the layers' own start at ``size × inputs`` in ``acts``
        self.acts = np.zeros(at, dtype=net.dtype)
        self.zs = np.zeros(at - size * net.input_dim, dtype=net.dtype)
        self.deltas = np.zeros_like(self.zs)
        fused = optimizer.transforms[0]
        assert isinstance(fused, Fused)
        self.rule = RULES[fused.rule]
        names = {"velocity": 0, "cache": 0, "m": 0, "v": 1, "v_max": 2}
        arrays = [np.empty(0, dtype=net.dtype)] * 3
        for name, array in optimizer.state.items():
            arrays[names[name]] = array
        self.state = tuple(arrays)
        self.hyper = _hyper(fused, clip)
        self.clip_kind = CLIPS[type(clip)]
        self.cast = np.zeros(1, dtype=net.dtype)
        self.losses = np.zeros(0)
        self.norms = np.zeros(0)
        self.predicted = np.zeros(0, dtype=np.intp)
        self.no_labels = np.zeros(0, dtype=np.intp)
        self.no_targets = np.zeros((0, net.output_dim), dtype=net.dtype)

    def start(self, steps: int, n: int) -> None:
        """Room for an epoch of ``steps`` steps over ``n`` rows."""
        if self.losses.size != steps:
            self.losses, self.norms = np.zeros(steps), np.zeros(steps)
        if self.predicted.size != n:
            self.predicted = np.zeros(n, dtype=np.intp)

    def takes(self, X: Array, y: NDArray) -> bool:
        """Whether the split's arrays are what the kernel reads (X C-ordered in the network's
        dtype; class labels for softmax cross-entropy, else C-ordered targets in that dtype),
        running it on them for no steps when they are, so that any compiling they need is not
        a training step."""
        net = self.net
        if X.ndim != 2 or X.shape[1] != net.input_dim or X.dtype != net.dtype:
            return False
        if not X.flags.c_contiguous:
            return False
        if self.loss_kind == 0:
            if y.ndim != 1 or y.dtype != np.intp:
                return False
        elif y.ndim != 2 or y.dtype != net.dtype or not y.flags.c_contiguous:
            return False
        self.run(X, y, np.zeros(0, dtype=np.intp), 0, 0, 0.0)
        return True

    def run(
        self, X: Array, y: NDArray, order: NDArray[np.intp], first: int, last: int, lr: float
    ) -> int:
        """Steps ``first`` to ``last − 1`` of the epoch visiting the rows in ``order``; how
        many were applied (see `dense_steps`)."""
        net, opt = self.net, self.optimizer
        # Read-only views: the kernel only reads them, and data from bprop's cache of tables
        # (memory-mapped, read-only) then runs the same compiled code as any other.
        X, y, order = _read_only(X), _read_only(y), _read_only(order)
        labels = y if self.loss_kind == 0 else _read_only(self.no_labels)
        targets = y if self.loss_kind != 0 else _read_only(self.no_targets)
        done: int = dense_steps(X, labels, targets, order, self.size, first, last, net.params,
                                net.grads, self.zs, self.acts, self.deltas, self.table,
                                self.alphas, self.loss_kind, self.rule, self.state, self.hyper,
                                float(lr), opt.step_count, self.clip_kind, self.losses,
                                self.norms, self.predicted, self.cast)  # fmt: skip
        opt.step_count += done
        return done

    def compile(self) -> None:
        """Compile now, on an epoch of no steps, so that compiling is not a training step."""
        X = np.zeros((0, self.net.input_dim), dtype=self.net.dtype)
        y = self.no_labels if self.loss_kind == 0 else self.no_targets
        self.run(X, y, np.zeros(0, dtype=np.intp), 0, 0, 0.0)


def _read_only(array: NDArray) -> NDArray:
    """A view of ``array`` that cannot be written."""
    view = array.view()
    view.flags.writeable = False
    return view


def _hyper(fused: Fused, clip: object) -> NDArray[np.float64]:
    hyper = np.zeros(7)
    for part in fused.parts:
        hyper[MU] = getattr(part, "momentum", hyper[MU])
        hyper[RHO] = getattr(part, "rho", hyper[RHO])
        hyper[EPS] = getattr(part, "eps", hyper[EPS])
        hyper[BETA1] = getattr(part, "beta1", hyper[BETA1])
        hyper[BETA2] = getattr(part, "beta2", hyper[BETA2])
        hyper[AMSGRAD] = float(getattr(part, "amsgrad", False))
    hyper[CLIP] = getattr(clip, "max_norm", getattr(clip, "max_value", 0.0))
    return hyper


def dense_epoch_for(
    net: Network, optimizer: Optimizer, clip: object, size: int
) -> DenseEpoch | None:
    """The compiled steps of ``net`` trained by ``optimizer`` (with ``clip``, or None) in
    batches of up to ``size`` rows, or None when it does not take them: a layer or loss it does
    not compute, an optimizer chain that is not one fused kernel (weight decay), another
    clipping."""
    loss_kind = loss_kind_of(net)
    if loss_kind is None or net.loss.class_weights is not None or type(clip) not in CLIPS:
        return None
    chain = optimizer.transforms
    if len(chain) != 1 or type(chain[0]) is not Fused or chain[0].rule not in RULES:
        return None
    compiled = DenseEpoch(net, optimizer, clip, size, loss_kind)
    compiled.compile()
    return compiled
