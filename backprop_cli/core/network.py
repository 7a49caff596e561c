"""The network: layers over one flat parameter buffer, a loss, and the backward recursion.

All parameters live in one contiguous array ``params`` and all gradients in ``grads`` of the same
layout, with per-layer views bound into each layer. Weights (the tensors that weight decay applies
to) come first, so ``params[:n_decay]`` is every ``W`` and ``params[n_decay:]`` every bias. Clipping
and optimizer updates are then a few vectorized in-place operations on whole buffers.

Parameter names follow the config: ``layers.{i}.W`` of shape (units, fan_in) and ``layers.{i}.b``
of shape (units,) for the dense layer at index ``i`` of ``model.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError, ConfigError
from .layers import Dense, Dropout, Layer
from .layers.base import layer_key
from .losses import Loss, build_loss
from .types import FLOAT_DTYPES, Array


@dataclass(frozen=True)
class ParamSlot:
    """Where one named parameter tensor sits in the flat buffer."""

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int
    decay: bool
    trainable: bool = True


def layout(layers: Sequence[Layer]) -> dict[str, ParamSlot]:
    """Where each parameter tensor of ``layers`` (already built) sits in the flat buffer: decayed
    tensors (weights) first, then the rest, each group in layer order. Allocates nothing."""
    specs = [
        (f"{layer_key(i)}.{spec.name}", spec)
        for i, layer in enumerate(layers)
        for spec in layer.param_specs()
    ]
    ordered = [s for s in specs if s[1].decay] + [s for s in specs if not s[1].decay]
    slots: dict[str, ParamSlot] = {}
    offset = 0
    for name, spec in ordered:
        size = math.prod(spec.shape)
        slots[name] = ParamSlot(name, spec.shape, offset, size, spec.decay, spec.trainable)
        offset += size
    return slots


def walk(layers: Sequence[Layer]) -> Iterator[tuple[str, Layer]]:
    """(name, layer) for every layer, residual blocks' inner layers included."""
    for i, layer in enumerate(layers):
        yield from layer.walk(layer_key(i))


def output_problem(layer_type: str) -> str | None:
    """Why a layer of ``layer_type`` cannot be a network's last layer, or None: the last layer
    gives the outputs, so it is dense."""
    if layer_type == "dense":
        return None
    return f"the last layer must be dense (it gives the outputs), received {layer_type}"


class Network:
    """A stack of layers trained against one loss.

    Math (the seed's recursion, batched over the rows of X):
        forward:   a_0 = X;  z_l = a_{l−1} W_lᵀ + b_l;  a_l = σ_l(z_l);  L = loss(a_L or z_L, y)
        backward:  δ_L = ∂L/∂z_L;  δ_l = (δ_{l+1} W_{l+1}) ⊙ σ′_l(z_l)
                   ∂L/∂W_l = δ_lᵀ a_{l−1};  ∂L/∂b_l = Σ_n δ_l
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        input_dim: int,
        loss: str,
        rng: np.random.Generator | None,
        dtype: str | np.dtype,
        noise_rng: np.random.Generator | None = None,
    ) -> None:
        if not layers:
            raise ConfigError("a network needs at least one layer")
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in FLOAT_DTYPES:
            raise ConfigError(f"dtype must be one of {FLOAT_DTYPES}. Received: dtype={dtype}")
        if input_dim < 1:
            raise ConfigError(f"the input needs at least one feature. Received: {input_dim}")
        self.layers = list(layers)
        self.input_dim = input_dim
        width = input_dim
        for layer in self.layers:
            width = layer.build(width)
        self.output_dim = width
        last = self.layers[-1]
        problem = output_problem(last.name)
        if problem or not isinstance(last, Dense):
            raise ConfigError(problem)
        self.loss: Loss = build_loss(loss, last.activation)
        last.fused_output = self.loss.takes_logits
        self.layers[0].needs_input_grad = False
        #: Draws dropout masks; its state is saved with checkpoints. Without one given, it is
        #: spawned from the seed of ``rng`` (which leaves rng's own stream untouched).
        self.noise_rng = noise_rng
        if self.noise_rng is None and self.has_noise:
            seed_seq = getattr(rng.bit_generator, "seed_seq", None) if rng is not None else None
            self.noise_rng = np.random.default_rng(seed_seq.spawn(1)[0] if seed_seq else 0)
        for _, layer in self.walk():
            if isinstance(layer, Dropout):
                layer.noise = self.noise_rng

        self.slots = layout(self.layers)
        total = sum(slot.size for slot in self.slots.values())
        self.n_decay = sum(slot.size for slot in self.slots.values() if slot.decay)
        self.params: Array = np.zeros(total, dtype=self.dtype)
        self.grads: Array = np.zeros(total, dtype=self.dtype)
        self._bind()
        if rng is None:  # zeros, for weights about to be loaded
            return
        for i, layer in enumerate(self.layers):
            for local, value in layer.initial_values(rng, self.dtype).items():
                self.param(f"{layer_key(i)}.{local}")[...] = value

    # ----------------------------------------------------------------- layout
    def _view(self, buffer: Array, slot: ParamSlot) -> Array:
        return buffer[slot.offset : slot.offset + slot.size].reshape(slot.shape)

    def _bind(self) -> None:
        for i, layer in enumerate(self.layers):
            prefix = f"{layer_key(i)}."
            names = [s.name for s in layer.param_specs()]
            layer.bind(
                {n: self._view(self.params, self.slots[prefix + n]) for n in names},
                {n: self._view(self.grads, self.slots[prefix + n]) for n in names},
            )

    def param(self, name: str) -> Array:
        """A writable view of the parameter ``name`` (e.g. ``"layers.0.W"``) in ``params``."""
        return self._view(self.params, self.slots[name])

    def grad(self, name: str) -> Array:
        """A view of the gradient of ``name`` in ``grads``."""
        return self._view(self.grads, self.slots[name])

    @property
    def n_params(self) -> int:
        return int(self.params.size)

    def walk(self) -> Iterator[tuple[str, Layer]]:
        """(name, layer) for every layer, residual blocks' inner layers included."""
        return walk(self.layers)

    @property
    def has_noise(self) -> bool:
        """True when some layer draws random numbers while training (dropout)."""
        return any(isinstance(layer, Dropout) and layer.rate > 0 for _, layer in self.walk())

    def freeze_noise(self, frozen: bool = True) -> None:
        """Make dropout reuse its last masks (for gradient checks) or draw new ones again."""
        for _, layer in self.walk():
            if isinstance(layer, Dropout):
                layer.frozen = frozen

    # ---------------------------------------------------------------- compute
    def forward(self, X: NDArray, training: bool = True) -> Array:
        """The last layer's output: logits z_L under a fused loss, else activations a_L.

        The returned array is a reused buffer; copy it to keep it past the next call.
        """
        out = np.asarray(X, dtype=self.dtype)
        if out.ndim != 2 or out.shape[1] != self.input_dim:
            raise ValueError(
                f"expected inputs of shape (N, {self.input_dim}); received {np.shape(X)}"
            )
        for layer in self.layers:
            out = layer.forward(out, training)
        return out

    def loss_value(self, X: NDArray, y: NDArray) -> float:
        """Mean loss of the batch (X, y); y as returned by ``prepare_targets``."""
        return self.loss.forward(self.forward(X), y)

    def backward(self, input_grad: bool = False) -> Array | None:
        """Backpropagate the last ``loss_value``: fill ``grads``; return ∂L/∂X if asked."""
        self.layers[0].needs_input_grad = input_grad
        dout: Array | None = self.loss.backward()
        for layer in reversed(self.layers):
            assert dout is not None
            dout = layer.backward(dout)
        self.layers[0].needs_input_grad = False
        return dout

    def loss_and_grad(self, X: NDArray, y: NDArray) -> float:
        """One forward and backward pass: returns the loss, leaves ∂L/∂θ in ``grads``."""
        value = self.loss_value(X, y)
        self.backward()
        return value

    def prepare_targets(self, y: NDArray) -> NDArray:
        """Targets in the form the loss consumes (checked once, not per step)."""
        return self.loss.prepare_targets(y, self.output_dim, self.dtype)

    def predict(self, X: NDArray) -> Array:
        """ŷ for X in evaluation mode (probabilities under a fused loss), as a new array."""
        return np.array(self.loss.predict(self.forward(X, training=False)), copy=True)

    # ------------------------------------------------------------------ state
    def state_dict(self, params: Array | None = None) -> dict[str, Array]:
        """Copies of every parameter tensor, keyed ``layers.{i}.W`` / ``layers.{i}.b``; from
        ``params`` (a flat buffer of this network's layout) instead of the live one when given."""
        flat = self.params if params is None else params
        return {name: self._view(flat, slot).copy() for name, slot in self.slots.items()}

    def load_state_dict(self, state: Mapping[str, NDArray], source: str = "state") -> None:
        """Copy parameters in; every tensor must be present with its exact shape.

        Raises:
            CheckpointError: naming ``source`` and the missing or mismatched tensor.
        """
        self.params[...] = self.pack(state, source)

    def pack(self, state: Mapping[str, NDArray], source: str = "state") -> Array:
        """A new flat buffer in this network's layout from a state dict, checked tensor by tensor.

        Raises:
            CheckpointError: naming ``source`` and the missing, mismatched or unknown tensor
                (a tensor this network has no place for means the state is another model's).
        """
        problems = [
            f"{source}: parameter {name!r} is not one of this model's; the state is another model's"
            for name in sorted(set(state) - set(self.slots))
        ]
        for name, slot in self.slots.items():
            if name not in state:
                problems.append(f"{source}: missing parameter {name!r} of shape {slot.shape}")
                continue
            value = np.asarray(state[name])
            if value.shape != slot.shape:
                problems.append(
                    f"{source}: {name} has shape {value.shape}, the model needs {slot.shape}"
                )
            elif not np.issubdtype(value.dtype, np.floating):
                problems.append(f"{source}: {name} has dtype {value.dtype}, not a float")
        if problems:
            raise CheckpointError("\n".join(problems))
        flat = np.empty_like(self.params)
        for name, slot in self.slots.items():
            self._view(flat, slot)[...] = state[name]
        return flat
