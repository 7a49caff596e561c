"""The notes' worked 2-3-1 network, forward, backward and one update."""

from __future__ import annotations

import numpy as np

from ..core.activations import get_activation
from ..core.layers import Dense
from ..core.network import Network
from ..core.optim import SGD
from .base import Demo, Table


def backprop(lr: float = 0.1) -> Demo:
    """The notes' 2-3-1 sigmoid network on x = [1, 2], y = 1: every quantity of one step."""
    net = Network(
        [Dense(3, get_activation("sigmoid")), Dense(1, get_activation("sigmoid"))],
        2, "mse", np.random.default_rng(0), dtype="float64",
    )  # fmt: skip
    net.param("layers.0.W")[...] = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    net.param("layers.0.b")[...] = [0.1, 0.2, 0.3]
    net.param("layers.1.W")[...] = [[0.7, 0.8, 0.9]]
    net.param("layers.1.b")[...] = [0.4]
    X, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    loss = net.loss_value(X, y)
    net.backward()
    hidden, output = net.layers
    assert isinstance(hidden, Dense) and isinstance(output, Dense)

    def vec(a: np.ndarray) -> str:
        return "[" + ", ".join(f"{v:.6f}" for v in np.ravel(a)) + "]"

    forward: list[list[object]] = [
        ["z₁ = W₁x + b₁", vec(hidden.pre_activation)],
        ["a₁ = σ(z₁)", vec(hidden.output)],
        ["z₂ = W₂a₁ + b₂", vec(output.pre_activation)],
        ["a₂ = σ(z₂) = ŷ", vec(output.output)],
        ["L = ½(a₂ − y)²", f"{loss:.6f}"],
    ]
    backward: list[list[object]] = [
        ["δ₂ = (a₂ − y) ⊙ σ′(z₂)", vec(output.delta)],
        ["∂L/∂W₂ = δ₂ a₁ᵀ", vec(net.grad("layers.1.W"))],
        ["∂L/∂b₂ = δ₂", vec(net.grad("layers.1.b"))],
        ["δ₁ = (W₂ᵀ δ₂) ⊙ σ′(z₁)", vec(hidden.delta)],
        ["∂L/∂W₁ = δ₁ xᵀ", vec(net.grad("layers.0.W"))],
        ["∂L/∂b₁ = δ₁", vec(net.grad("layers.0.b"))],
    ]
    opt = SGD()
    opt.init(net.n_params, net.n_decay, net.dtype)
    opt.step(net.params, net.grads, lr)
    updated: list[list[object]] = [
        [f"{label} ← {label} − {lr:g}·∂L/∂{label}", vec(net.param(name))]
        for name, label in (
            ("layers.1.W", "W₂"), ("layers.1.b", "b₂"), ("layers.0.W", "W₁"), ("layers.0.b", "b₁")
        )
    ]  # fmt: skip
    after = net.loss_value(X, y)
    return Demo(
        "Backpropagation through the notes' 2-3-1 network",
        [
            "x = [1, 2], y = 1; W₁ = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], b₁ = [0.1, 0.2, 0.3]",
            "W₂ = [[0.7, 0.8, 0.9]], b₂ = [0.4]; sigmoid units, L = ½(ŷ − y)²",
        ],
        [
            Table("forward pass", ["quantity", "value"], forward),
            Table("backward pass", ["quantity", "value"], backward),
            Table(f"one SGD step, lr = {lr:g}", ["update", "new value"], updated),
        ],
        [f"The loss falls from {loss:.6f} to {after:.6f} after the step."],
    )
