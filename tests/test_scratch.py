"""The one buffer idiom (`core.scratch`) and the one "forward before backward" guard, as every
layer and loss uses them."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli.core.activations import ReLU, Tanh
from backprop_cli.core.layers import BatchNorm, Dense, Dropout, Layer, Residual
from backprop_cli.core.losses import LOSSES
from backprop_cli.core.scratch import Buffer, Scratch, forward_first

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def test_views_are_made_once_per_batch_size_and_grow_with_it() -> None:
    scratch = Scratch(z=Buffer((3,)), ones=Buffer(fill=1.0), idx=Buffer(dtype="intp"))
    first = scratch.views(4, F32)
    assert first.z.shape == (4, 3) and first.z.dtype == F32
    assert first.ones.shape == (4,) and np.all(first.ones == 1)
    assert first.idx.dtype == np.intp
    assert scratch.views(4, F32) is first  # the same views: nothing made per step
    smaller = scratch.views(2, F32)
    assert np.shares_memory(smaller.z, first.z)  # a smaller batch reuses the rows
    assert scratch.allocations == 3
    bigger = scratch.views(10, F32)
    assert bigger.z.shape == (10, 3) and np.all(bigger.ones == 1)  # a grown array is filled too
    assert scratch.allocations == 6
    assert scratch.views(4, F32) is not first  # the old views went with the old arrays
    doubles = scratch.views(4, F64)
    assert doubles.z.dtype == F64 and doubles.idx.dtype == np.intp


def test_made_buffers_follow_the_batch_size() -> None:
    scratch = Scratch(offsets=Buffer(make=lambda n, dtype: np.arange(0, 3 * n, 3)))
    assert list(scratch.views(4, F32).offsets) == [0, 3, 6, 9]
    assert list(scratch.views(2, F32).offsets) == [0, 3]


def test_backward_gets_the_views_of_the_last_forward() -> None:
    scratch = Scratch(z=Buffer((2,)))
    assert scratch.last is None
    with pytest.raises(RuntimeError, match="thing: backward called before forward"):
        scratch.backward("thing")
    views = scratch.forward(5, F32)
    scratch.views(7, F32)  # asking for other views is not a forward pass
    assert scratch.backward("thing").z.shape == (5, 2)
    assert scratch.last.z.shape == (5, 2)
    assert views.z.shape == (5, 2)
    assert forward_first(3, "x") == 3


def layers() -> list[tuple[str, Layer]]:
    return [
        ("dense", Dense(3, Tanh())),
        ("batchnorm", BatchNorm()),
        ("dropout", Dropout(0.5)),
        ("residual", Residual([Dense(4, ReLU())])),
    ]


@pytest.mark.parametrize(("name", "layer"), layers(), ids=[n for n, _ in layers()])
def test_every_layer_guards_backward_the_same_way(name: str, layer: Layer) -> None:
    layer.build(4)
    with pytest.raises(RuntimeError, match=f"^{name}: backward called before forward$"):
        layer.backward(np.ones((2, 3 if name == "dense" else 4), dtype=np.float32))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_guards_backward_the_same_way(name: str) -> None:
    with pytest.raises(RuntimeError, match=f"^{name}: backward called before forward$"):
        LOSSES[name]().backward()


def test_a_loss_reuses_its_buffers_from_step_to_step() -> None:
    rng = np.random.default_rng(0)
    for name in ("mse", "cross_entropy"):
        loss = LOSSES[name]()
        out = rng.standard_normal((8, 3)).astype(np.float32)
        y = loss.prepare_targets(rng.integers(0, 3, 8), 3, F32)
        loss.forward(out, y)
        grad = loss.backward()
        loss.forward(out * 2, y)
        assert loss.backward() is grad  # the same array, rewritten
