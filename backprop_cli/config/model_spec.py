"""The model section of an experiment, and what a trained model needs of its experiment to
be used: its layers, its loss and its dtype (`ModelSpec`). Prediction validates only these, so
that a rule added later for training never makes an old checkpoint unusable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..core.activations import ACTIVATIONS, RELU_FAMILY
from ..core.initializers import INITIALIZERS, default_initializer
from ..core.layers import BatchNorm, Dense, Dropout
from ..core.losses import LOSSES, pairing_error
from ..core.network import output_problem
from ..core.types import DEFAULT_DTYPE, FLOAT_DTYPES
from ..errors import ConfigError
from .base import Strict
from .derive import fields_of, make_model, misplaced, shared_params, type_field

if TYPE_CHECKING:
    ActivationName = str
    InitName = str
    LossName = str
    DtypeName = str
else:  # the names each registry holds, in its order
    ActivationName = Literal[tuple(ACTIVATIONS)]
    InitName = Literal[tuple(INITIALIZERS)]
    LossName = Literal[tuple(LOSSES)]
    DtypeName = Literal[FLOAT_DTYPES]
_RELU_NAMES = "/".join(name for name in ACTIVATIONS if name in RELU_FAMILY)
_INIT_DEFAULT = f"Default: {default_initializer('relu')} for {_RELU_NAMES}."
#: The hyperparameters of each activation and initializer, by name.
ACTIVATION_PARAMS = {name: cls.hyper for name, cls in ACTIVATIONS.items()}
INIT_PARAMS = {name: init.hyper for name, init in INITIALIZERS.items()}


class DenseFields(Strict):
    """A dense layer's config: its shape and activation here, its hyperparameters (and those of
    its activation and initializer) from their declarations."""

    if TYPE_CHECKING:
        type: str
        units: int
        activation: str
        init: str | None
        bias: float

    def activation_params(self) -> dict[str, Any]:
        return _given(self, ACTIVATION_PARAMS[self.activation])

    def init_params(self) -> dict[str, Any]:
        return _given(self, INIT_PARAMS[self.init]) if self.init else {}

    @field_validator(*shared_params(ACTIVATION_PARAMS), check_fields=False)
    @classmethod
    def _in_the_activations_range(cls, value: Any, info: ValidationInfo) -> Any:
        """A shared key (``alpha``) within the range of the activation chosen (leaky_relu's
        slope lies in [0, 1), elu's α in (0, ∞))."""
        spec = ACTIVATION_PARAMS.get(info.data.get("activation", ""), {}).get(info.field_name or "")
        if spec is not None and value is not None:
            try:
                spec.check(info.field_name or "", value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _params_fit(self) -> DenseFields:
        shared = self.model_dump(include=set(shared_params(ACTIVATION_PARAMS)))
        problem = misplaced(shared, ACTIVATION_PARAMS, self.activation, "activation")
        init_given = self.model_dump(include=set(shared_params(INIT_PARAMS)))
        problem = problem or misplaced(init_given, INIT_PARAMS, self.init or "", "init")
        if problem:
            raise ValueError(problem)
        return self


def _given(config: BaseModel, hyper: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters of ``hyper`` that ``config`` sets (None: the declared default)."""
    return {key: getattr(config, key) for key in hyper if getattr(config, key) is not None}


class BatchNormFields(Strict):
    """A batchnorm layer's config: its hyperparameters come from `layers.BatchNorm`."""

    if TYPE_CHECKING:
        type: str
        momentum: float
        eps: float
        activation: str

    @model_validator(mode="after")
    def _elementwise(self) -> BatchNormFields:
        if ACTIVATIONS[self.activation].couples_units:
            raise ValueError(f"a batchnorm activation must act element-wise, not {self.activation}")
        return self


class DropoutFields(Strict):
    if TYPE_CHECKING:
        type: str
        rate: float


class ResidualConfig(Strict):
    type: Literal["residual"]
    layers: list[LayerConfig] = Field(min_length=1, description="The block; output = x + block(x).")


if TYPE_CHECKING:
    DenseConfig = DenseFields
    BatchNormConfig = BatchNormFields
    DropoutConfig = DropoutFields
else:
    DenseConfig = make_model(
        "DenseConfig",
        DenseFields,
        type=type_field("dense", optional=True),
        units=(int, Field(ge=1, description="Output width.")),
        activation=(ActivationName, "relu"),
        init=(InitName | None, Field(None, description=_INIT_DEFAULT)),
        **shared_params(ACTIVATION_PARAMS),
        **shared_params(INIT_PARAMS),
        **fields_of(Dense.hyper),
    )
    BatchNormConfig = make_model(
        "BatchNormConfig",
        BatchNormFields,
        type=type_field("batchnorm"),
        **fields_of(BatchNorm.hyper),
        activation=(ActivationName, Field("linear", description="Applied after scale and shift.")),
    )
    DropoutConfig = make_model(
        "DropoutConfig", DropoutFields, type=type_field("dropout"), **fields_of(Dropout.hyper)
    )

#: One config model per layer type of `layers.LAYER_TYPES` (a test holds the two lists equal).
LAYER_CONFIGS: dict[str, type[Strict]] = {
    "dense": DenseConfig,
    "batchnorm": BatchNormConfig,
    "dropout": DropoutConfig,
    "residual": ResidualConfig,
}


def _layer_type(value: Any) -> str | None:
    """A layer's ``type``; dense when left out."""
    if isinstance(value, dict):
        return str(value.get("type", "dense"))
    return getattr(value, "type", None)


if TYPE_CHECKING:
    LayerConfig = DenseFields | BatchNormFields | DropoutFields | ResidualConfig
else:  # the layer types; ``type`` may be left out for dense
    LayerConfig = Annotated[
        Union[tuple(Annotated[model, Tag(name)] for name, model in LAYER_CONFIGS.items())],  # noqa: UP007
        Discriminator(_layer_type),
    ]
ResidualConfig.model_rebuild()


class ModelConfig(Strict):
    init_from: str | None = Field(None, description=".npz of initial weights (checkpoint keys).")
    layers: list[LayerConfig] = Field(min_length=1, description="In order; the last is dense.")


def check_output_layer(model: ModelConfig, loss: str) -> None:
    """The last layer gives the outputs the loss reads: a dense layer with the activation the
    loss pairs with (ValueError naming the key otherwise)."""
    index = len(model.layers) - 1
    output = model.layers[-1]
    problem = output_problem(output.type)
    if problem or not isinstance(output, DenseFields):
        raise ValueError(f"model.layers.{index}.type: {problem}")
    problem = pairing_error(loss, output.activation)
    if problem:
        raise ValueError(f"model.layers.{index}.activation: {problem}")
    if loss == "cross_entropy" and output.units == 1:
        raise ValueError(
            f"model.layers.{index}.units: a softmax over 1 unit is constant (always 1); give "
            "it one unit per class, or use one sigmoid unit with binary_cross_entropy"
        )


class ModelSpec(Strict):
    """What using a trained model takes of its experiment (the rest of it is not read)."""

    name: str = Field(min_length=1)
    seed: int = Field(0, ge=0)
    dtype: DtypeName = DEFAULT_DTYPE
    model: ModelConfig
    loss: LossName

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        check_output_layer(self.model, self.loss)
        return self

    KEYS: ClassVar[tuple[str, ...]] = ("name", "seed", "dtype", "model", "loss")

    @classmethod
    def of(cls, config: dict[str, Any]) -> ModelSpec:
        """The spec within a resolved experiment config (other keys are not read)."""
        return cls.model_validate({k: config[k] for k in cls.KEYS if k in config})
