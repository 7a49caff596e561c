"""Each name list and each range lives once, in the engine's registries: the config models, the
schema and the engine checks all derive from them, and so they agree."""

from __future__ import annotations

import re
import typing
from typing import Any

import pytest

from backprop_cli.config import model_spec, models, validate
from backprop_cli.core.activations import ACTIVATIONS, get_activation
from backprop_cli.core.hyper import Hyper
from backprop_cli.core.initializers import INITIALIZERS
from backprop_cli.core.layers import LAYER_TYPES, BatchNorm, Dense, Dropout
from backprop_cli.core.losses import LOSSES, is_classification, pairing_error
from backprop_cli.core.schedules import SCHEDULE_KINDS, build_schedule
from backprop_cli.errors import ConfigError

BASE: dict[str, Any] = {
    "name": "t",
    "data": {"dataset": "xor"},
    "model": {
        "layers": [{"units": 4, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}]
    },
    "loss": "binary_cross_entropy",
}


def with_(**sections: Any) -> dict[str, Any]:
    return {**BASE, **sections}


def outside(spec: Hyper) -> list[float]:
    """Values just outside the declared range (none for a flag or an unbounded number)."""
    values = []
    if spec.low is not None:
        values.append(spec.low if spec.low_open else spec.low - 1)
    if spec.high is not None:
        values.append(spec.high if spec.high_open else spec.high + 1)
    return values


def test_config_names_are_the_registries() -> None:
    assert set(model_spec.LAYER_CONFIGS) == set(LAYER_TYPES)
    assert set(models.SCHEDULE_CONFIGS) == set(SCHEDULE_KINDS)
    assert typing.get_args(model_spec.ActivationName) == tuple(ACTIVATIONS)
    assert typing.get_args(model_spec.InitName) == tuple(INITIALIZERS)
    assert typing.get_args(model_spec.LossName) == tuple(LOSSES)


SCHEDULE_CASES = [
    (name, key, spec, value)
    for name, kind in SCHEDULE_KINDS.items()
    for key, spec in kind.hyper.items()
    for value in outside(spec)
]


@pytest.mark.parametrize(("name", "key", "spec", "value"), SCHEDULE_CASES)
def test_schedule_ranges_hold_in_config_and_engine(
    name: str, key: str, spec: Hyper, value: float
) -> None:
    raw = with_(schedule={"type": name, key: value})
    with pytest.raises(ConfigError, match=f"schedule.{key}"):
        validate(raw, "c.yaml")
    with pytest.raises(ConfigError, match=key):
        build_schedule(name, 0.1, 10, **{key: value})
    inside = spec.default if spec.default is not None else 3
    validate(with_(schedule={"type": name, key: inside}), "c.yaml")


LAYER_CASES = [
    (cls.name, key, value)
    for cls in (BatchNorm, Dropout)
    for key, spec in cls.hyper.items()
    for value in outside(spec)
]


@pytest.mark.parametrize(("layer", "key", "value"), LAYER_CASES)
def test_layer_ranges_hold_in_config(layer: str, key: str, value: float) -> None:
    layers = [{"type": layer, key: value}, *BASE["model"]["layers"]]
    with pytest.raises(ConfigError, match=f"model.layers.0.{key}"):
        validate(with_(model={"layers": layers}), "c.yaml")


@pytest.mark.parametrize("value", outside(ACTIVATIONS["leaky_relu"].hyper["alpha"]))
def test_activation_parameters_hold_in_config_and_engine(value: float) -> None:
    layers = [{"units": 4, "activation": "leaky_relu", "alpha": value}, BASE["model"]["layers"][1]]
    with pytest.raises(ConfigError, match=re.escape("model.layers.0.alpha")):
        validate(with_(model={"layers": layers}), "c.yaml")
    with pytest.raises(ConfigError, match="alpha"):
        get_activation("leaky_relu", alpha=value)


def test_a_parameter_of_another_activation_or_initializer_is_refused() -> None:
    for extra, message in (
        ({"alpha": 0.1}, "`alpha` applies only to activation leaky_relu"),
        ({"std": 0.1, "init": "he_normal"}, "`std` applies only to init normal"),
    ):
        layers = [{"units": 4, "activation": "tanh", **extra}, BASE["model"]["layers"][1]]
        with pytest.raises(ConfigError, match=message):
            validate(with_(model={"layers": layers}), "c.yaml")
    layers = [
        {"units": 4, "activation": "leaky_relu", "alpha": 0.2, "init": "normal", "std": 0.3},
        BASE["model"]["layers"][1],
    ]
    dense = validate(with_(model={"layers": layers}), "c.yaml").model.layers[0]
    assert isinstance(dense, model_spec.DenseConfig)
    assert dense.activation_params() == {"alpha": 0.2}
    assert dense.init_params() == {"std": 0.3}


def test_defaults_in_the_config_are_the_engines() -> None:
    cfg = validate(with_(model={"layers": [
        {"type": "batchnorm"}, {"type": "dropout"}, {"units": 1, "activation": "sigmoid"}
    ]}), "c.yaml")  # fmt: skip
    batchnorm, dropout, dense = cfg.model.layers
    engine_bn, engine_dropout = BatchNorm(), Dropout()
    assert (batchnorm.momentum, batchnorm.eps) == (engine_bn.momentum, engine_bn.eps)
    assert dropout.rate == engine_dropout.rate
    assert dense.bias == Dense.hyper["bias"].default


def test_pairing_and_task_have_one_answer() -> None:
    for loss, cls in LOSSES.items():
        for activation in ACTIVATIONS:
            problem = pairing_error(loss, activation)
            assert (problem is None) == (cls.output_activation in (None, activation))
    assert [name for name in LOSSES if is_classification(name)] == [
        "cross_entropy",
        "binary_cross_entropy",
    ]
    raw = with_(loss="mse", training={"class_weight": "balanced"})
    with pytest.raises(ConfigError, match="loss mse is regression; use cross_entropy or"):
        validate(raw, "c.yaml")


def test_a_batchnorm_refuses_an_activation_that_couples_units() -> None:
    coupled = [name for name, cls in ACTIVATIONS.items() if cls.couples_units]
    assert coupled == ["softmax"]
    layers = [{"type": "batchnorm", "activation": "softmax"}, BASE["model"]["layers"][1]]
    with pytest.raises(ConfigError, match="must act element-wise, not softmax"):
        validate(with_(model={"layers": layers}), "c.yaml")


def test_the_optimizer_registry_finds_every_module_in_rank_order() -> None:
    from backprop_cli.core.optim import OPTIMIZERS

    assert list(OPTIMIZERS) == ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]
    assert all(cls.name == name for name, cls in OPTIMIZERS.items())


def test_unknown_names_and_parameters_are_refused_with_the_choices() -> None:
    import numpy as np

    from backprop_cli.core.initializers import initialize
    from backprop_cli.core.losses import build_loss
    from backprop_cli.core.optim import build_optimizer

    rng, f64 = np.random.default_rng(0), np.dtype("f8")
    cases = [
        (lambda: get_activation("relux"), "unknown activation 'relux'; choose one of: elu, "
         "leaky_relu, linear, prelu, relu, sigmoid, softmax, tanh"),
        (lambda: get_activation("tanh", alpha=0.1),
         "activation tanh takes no parameter alpha (it takes none)"),
        (lambda: build_loss("mae", get_activation("linear")),
         "unknown loss 'mae'; choose one of: binary_cross_entropy, cross_entropy, mse"),
        (lambda: initialize("he", rng, 2, 2, f64), "unknown initializer 'he'; choose one of: "
         "he_normal, he_uniform, normal, xavier_normal, xavier_uniform, zeros"),
        (lambda: initialize("zeros", rng, 2, 2, f64, std=1.0),
         "initializer zeros takes no parameter std (it takes none)"),
        (lambda: build_optimizer("adagrad"), "unknown optimizer 'adagrad'; choose one of: "
         "sgd, momentum, nesterov, rmsprop, adam, adamw"),
        (lambda: build_optimizer("sgd", beta=1.0),
         "optimizer sgd takes no parameter beta (it takes weight_decay)"),
        (lambda: build_schedule("linear", 0.1, 3),
         "unknown schedule 'linear'; choose one of: constant, step, exponential, cosine, plateau"),
        (lambda: build_schedule("step", 0.1, 3, gamma=1.0),
         "schedule step takes no parameter gamma (it takes decay_rate, step_size)"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(ConfigError) as caught:
            call()
        assert str(caught.value) == message


def test_a_schedule_keeps_its_name() -> None:
    assert [build_schedule(name, 0.1, 3).name for name in SCHEDULE_KINDS] == list(SCHEDULE_KINDS)


def test_engine_and_config_defaults_are_one_declaration() -> None:
    """Early stopping configured with nothing but its monitor is the engine's early stopping
    built with nothing but its monitor; a run's dtype defaults to the core's."""
    from backprop_cli.core.history import EarlyStopping
    from backprop_cli.core.types import DEFAULT_DTYPE

    config = models.EarlyStoppingConfig.model_validate({})
    engine = EarlyStopping(config.monitor)
    assert (engine.patience, engine.min_delta, engine.restore_best) == (
        config.patience, config.min_delta, config.restore_best,
    )  # fmt: skip
    assert models.ExperimentConfig.model_fields["dtype"].default == DEFAULT_DTYPE
    tracker = EarlyStopping.tracker("val_loss")
    assert tracker.patience is None and not tracker.restore_best
