"""The experiment config as Pydantic v2 models: unknown keys rejected, choices tagged by ``type``.

These models only describe and validate; `backprop_cli.runs.train.build` turns them into engine
objects.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ..core.batching import DEFAULT_SIZE
from ..core.history import EarlyStopping, monitor_problem
from ..core.losses import LOSSES, is_classification
from ..core.optim import DEFAULT_RACE, OPTIMIZERS, Optimizer
from ..core.schedules import SCHEDULE_KINDS, WARMUP, floor_problem
from ..core.types import DEFAULT_DTYPE
from ..data import GENERATORS, SHIPPED, SHIPPED_TABLES
from ..data.table.encode import MISSING_STRATEGIES
from .base import Strict
from .derive import (
    field_of,
    fields_of,
    make_model,
    tagged_union,
    type_field,
)
from .model_spec import DtypeName, LossName, ModelConfig, check_output_layer

BUILTIN_DATASETS = (*GENERATORS, *SHIPPED, *SHIPPED_TABLES)
#: Built-in data sets read as tables (text columns, missing cells): the table keys apply to them.
TABLE_DATASETS = tuple(SHIPPED_TABLES)
#: The ``data:`` keys that shape a table's columns.
TABLE_KEYS = ("target", "features", "drop", "categorical", "missing", "class_names", "unknown")


class DataConfig(Strict):
    dataset: Literal[BUILTIN_DATASETS] | None = Field(  # type: ignore[valid-type]
        None, description="A built-in data set (one of `dataset` or `path`)."
    )
    path: str | None = Field(
        None,
        description=".csv, .csv.gz, .tsv, .parquet, .feather/.arrow or .npz, relative to the "
        "config.",
    )
    target: str | None = Field(
        None,
        description="The column to predict (required for a table file; the built-in tables "
        "name theirs).",
    )
    features: list[str] | None = Field(
        None, min_length=1, description="Feature columns to use (default: every other column)."
    )
    drop: list[str] = Field(default_factory=list, description="Columns to leave out.")
    categorical: list[str] | None = Field(
        None, description="One-hot columns (default: every text or boolean column)."
    )
    missing: Literal[MISSING_STRATEGIES] = Field(  # type: ignore[valid-type]
        "error", description="Missing cells: an error, drop the rows, or fill (training split)."
    )
    class_names: list[str] | None = Field(
        None, min_length=1, description="The order of the classes (default: sorted)."
    )
    unknown: Literal["error", "ignore"] = Field(
        "error", description="A category unseen in training, at predict time: error or zeros."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Options of a generated data set (n_samples, noise, ...)."
    )
    validation_split: float = Field(0.1, ge=0, lt=1, description="Share held out for validation.")
    folds: int | None = Field(
        None,
        ge=2,
        description="Cross-validation (bprop cv sets it): the rows left after the "
        "test split are cut into this many parts (stratified), one of which is the validation "
        "split instead of validation_split.",
    )
    fold: int = Field(0, ge=0, description="Which part (0-based) is held out, with folds.")
    test_split: float = Field(0.1, ge=0, lt=1, description="Share held out for the test figures.")
    standardize: bool = Field(True, description="Zero mean, unit variance (train-split stats).")
    standardize_target: bool | None = Field(
        None,
        description="Train a regression on its target scaled to zero mean and unit variance "
        "(train-split stats); predictions and metrics are in the target's own units. Default: "
        "true for loss mse.",
    )

    @field_validator("options")
    @classmethod
    def _plain_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        for key, value in options.items():
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(
                    f"data.options.{key}: expected a number or a name, received {value!r}"[:200]
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"data.options.{key}: expected a finite number, received {value}")
        return options

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one of `dataset` (a built-in) or `path` (a file)")
        if self.validation_split + self.test_split >= 1:
            raise ValueError("validation_split + test_split must leave data to train on (< 1)")
        if self.fold != 0 and self.folds is None:
            raise ValueError("`fold` picks one of `folds` parts; set folds too (bprop cv does)")
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"`fold` must lie in [0, {self.folds - 1}] for {self.folds} folds")
        table = self.dataset in TABLE_DATASETS or (
            self.path is not None and not self.path.lower().endswith(".npz")
        )
        if not table:
            fields = type(self).model_fields
            given = [k for k in TABLE_KEYS if getattr(self, k) != fields[k].get_default(
                call_default_factory=True)]  # fmt: skip
            if given:
                raise ValueError(
                    f"`{given[0]}` applies to a table (a CSV, Parquet or Feather `path`, or the "
                    f"built-in {', '.join(TABLE_DATASETS)}), not to "
                    f"{self.dataset or 'an .npz file'}"
                )
        for key in ("features", "drop", "categorical", "class_names"):
            names = getattr(self, key) or []
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"`{key}` lists {', '.join(map(repr, repeated))} twice")
        return self


# -------------------------------------------------------------- optimizers
def _optimizer_config(cls: type[Optimizer]) -> type[Strict]:
    """The config model of an optimizer, derived from its declaration: ``lr`` (its default the
    optimizer's ``default_lr``), then its hyperparameters with their ranges and descriptions."""
    hyper = dict(cls.hyperparameters())
    lr = (float, Field(cls.default_lr, gt=0, description="Learning rate lr₀."))
    first = {"weight_decay": field_of(hyper.pop("weight_decay"))}  # listed next to lr, as always
    return make_model(
        f"{cls.__name__}Config",
        Strict,
        lr=lr,
        **first,
        type=type_field(cls.name),
        **fields_of(hyper),
    )


#: One config model per registered optimizer, in the registry's order.
OPTIMIZER_CONFIGS: dict[str, type[Strict]] = {
    name: _optimizer_config(cls) for name, cls in OPTIMIZERS.items()
}


class OptimizerFields(Strict):
    """For type checkers: the keys every optimizer's config has (the models themselves are made
    from the registry above, each with its own defaults and hyperparameters)."""

    type: str
    lr: float
    weight_decay: float


if TYPE_CHECKING:
    OptimizerConfig = OptimizerFields
else:
    OptimizerConfig = tagged_union(OPTIMIZER_CONFIGS.values())


# --------------------------------------------------------------- schedules
class ScheduleFields(Strict):
    if TYPE_CHECKING:
        type: str
        warmup_epochs: int


#: One config model per schedule of `schedules.SCHEDULE_KINDS`, with its hyperparameters.
SCHEDULE_CONFIGS: dict[str, type[Strict]] = {
    name: make_model(
        f"{name.capitalize()}Config",
        ScheduleFields,
        warmup_epochs=field_of(WARMUP),
        type=type_field(name),
        **fields_of(kind.hyper),
    )
    for name, kind in SCHEDULE_KINDS.items()
}

if TYPE_CHECKING:
    ScheduleConfig = ScheduleFields
else:
    ScheduleConfig = tagged_union(SCHEDULE_CONFIGS.values())


# ---------------------------------------------------------------- training
class FullBatch(Strict):
    type: Literal["full"]


class SGDBatch(Strict):
    type: Literal["sgd"]


class MiniBatch(Strict):
    type: Literal["minibatch"]
    size: int = Field(
        DEFAULT_SIZE, ge=1, description="Samples per step (at most the training split)."
    )


BatchingConfig = Annotated[FullBatch | SGDBatch | MiniBatch, Field(discriminator="type")]


class NormClip(Strict):
    type: Literal["norm"]
    max_norm: float = Field(5.0, gt=0, description="g ← g·max_norm/‖g‖ when ‖g‖ > max_norm.")


class ValueClip(Strict):
    type: Literal["value"]
    max_value: float = Field(1.0, gt=0, description="Each entry clamped to ±max_value.")


ClipConfig = Annotated[NormClip | ValueClip, Field(discriminator="type")]


if TYPE_CHECKING:

    class EarlyStoppingConfig(Strict):
        monitor: Literal["val_loss", "train_loss"]
        patience: int
        min_delta: float
        restore_best: bool

else:  # its settings as `history.EarlyStopping` declares them
    EarlyStoppingConfig = make_model(
        "EarlyStoppingConfig",
        Strict,
        monitor=(
            Literal["val_loss", "train_loss"],
            Field("val_loss", description="What must improve."),
        ),
        **fields_of(EarlyStopping.hyper),
    )


class TrainingConfig(Strict):
    epochs: int = Field(10, ge=1, description="Passes over the training split.")
    batching: BatchingConfig = Field(
        default_factory=lambda: MiniBatch.model_validate({"type": "minibatch"})
    )
    shuffle: bool = Field(True, description="A fresh sample order every epoch (from the seed).")
    clip: ClipConfig | None = Field(None, description="Gradient clipping; none by default.")
    early_stopping: EarlyStoppingConfig | None = Field(None, description="None by default.")
    diagnostics: bool = Field(
        False, description="Per-layer gradient norms, update ratios and dead ReLUs in the history."
    )
    kernels: Literal["auto", "numpy", "fused"] = Field(
        "auto",
        description="How the steps run: numpy (the reference), fused (bprop[fast]'s compiled "
        "kernels; a dense network trained by an optimizer without weight decay runs whole "
        "epochs in compiled chunks) or auto (fused when numba is installed and the time it "
        "should save exceeds what its kernels take to load or compile; bprop train says which "
        "and why).",
    )
    class_weight: Literal["balanced"] | dict[str, float] | None = Field(
        None,
        description="balanced (n / (K·n_c)) or {class name: weight}; the loss becomes the "
        "weighted mean.",
    )

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_names_as_text(cls, value: Any) -> Any:
        """YAML reads a class named 1 or true as a number or a boolean: name it as bprop does."""
        if not isinstance(value, dict):
            return value
        named = {}
        for key, weight in value.items():
            if isinstance(key, bool):
                key = str(key)
            elif isinstance(key, int | float):
                key = str(int(key)) if float(key).is_integer() else repr(float(key))
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise ValueError(f"class_weight.{key}: expected a number, received {weight!r}")
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"class_weight.{key}: expected a finite weight ≥ 0, got {weight}")
            named[key] = float(weight)
        if named and not any(named.values()):
            raise ValueError("class_weight: at least one weight must be positive")
        return named


class TensorBoardConfig(Strict):
    """What the `tensorboard` logger writes beyond the scalars, pictures and hyperparameters."""

    every: int = Field(
        10, ge=0, description="Epochs between weight and gradient histograms; 0: none."
    )


class MlflowConfig(Strict):
    """Where the `mlflow` logger logs: a tracking server (or store) and an experiment."""

    uri: str | None = Field(
        None, description="Tracking URI; default: MLFLOW_TRACKING_URI, else MLflow's own."
    )
    experiment: str | None = Field(
        None, description="Experiment name, created if need be; default: MLflow's Default."
    )
    # A tracking server stores each step loss as a row (an SQLite-backed `mlflow server` here
    # takes ~0.3 ms a row, more than a step of configs/digits.yaml) and the client spends ~15 µs
    # making and sending it: every update's would cost more than the training.
    step_every: int = Field(
        10,
        ge=0,
        description="Updates between the step/loss values sent (1: every update; 0: none). "
        "Each is a row the server stores; steps.csv and tensorboard keep every update.",
    )


class OutputConfig(Strict):
    dir: str = Field("runs", description="Where run directories go ({dir}/{name}).")
    checkpoint_every: int = Field(5, ge=0, description="Epochs; 0: only initial, best and last.")
    loggers: list[Literal["tensorboard", "mlflow"]] = Field(
        default_factory=list,
        description="Where the run is logged besides its run directory: tensorboard (event "
        "files in RUN/tensorboard/, bprop[tensorboard]), mlflow (a run on a tracking server, "
        "bprop[mlflow]).",
    )
    tensorboard: TensorBoardConfig = Field(
        default_factory=lambda: TensorBoardConfig.model_validate({})
    )
    mlflow: MlflowConfig = Field(default_factory=lambda: MlflowConfig.model_validate({}))

    @field_validator("loggers")
    @classmethod
    def _each_once(cls, loggers: list[str]) -> list[str]:
        twice = sorted({name for name in loggers if loggers.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} named more than once")
        return loggers


# ------------------------------------------------------------- comparison
class CompareConfig(Strict):
    """Which optimizers `bprop compare-optimizers` races (each with its own hyperparameters)."""

    optimizers: list[OptimizerConfig] | None = Field(
        None,
        min_length=1,
        description=f"Default: {', '.join(DEFAULT_RACE)} at optimizer.lr.",
    )
    target_loss: float | None = Field(
        None, gt=0, description="Report the first epoch whose train loss reaches this value."
    )


# ----------------------------------------------------------------- sweeps
#: The ways `bprop sweep` chooses its trials; all but grid and random need bprop[tune] (Optuna).
SEARCH_TYPES = ("grid", "random", "tpe", "cmaes", "gp")


class SearchConfig(Strict):
    """How the trials are chosen: every grid combination, random draws, or a model-based sampler
    (TPE, CMA-ES, a Gaussian process) that picks each trial from the results so far."""

    type: Literal[SEARCH_TYPES] = Field(  # type: ignore[valid-type]
        "random",
        description="grid: every combination of `grid`; random, tpe, cmaes, gp: `trials` draws "
        "from `space` (tpe, cmaes and gp need bprop[tune]; gp needs PyTorch too).",
    )
    trials: int | None = Field(
        None, ge=1, description="How many trials to draw (required but for grid)."
    )
    seed: int | None = Field(
        None, ge=0, description="Seeds the sampler (default: the config's seed)."
    )
    time_budget: float | None = Field(
        None,
        gt=0,
        description="Seconds after which no new trial starts (those running finish).",
    )

    @model_validator(mode="after")
    def _trials_for_draws(self) -> SearchConfig:
        if self.type == "grid" and self.trials is not None:
            raise ValueError("a grid search runs every combination of `grid`; leave out trials")
        if self.type != "grid" and self.trials is None:
            raise ValueError(f"a {self.type} search draws `trials: N` trials; set trials")
        return self


class NoPrunerConfig(Strict):
    type: Literal["none"] = Field(description="Every trial runs to its end.")


class MedianPrunerConfig(Strict):
    type: Literal["median"] = Field(
        description="Stop a trial whose metric at an epoch is worse than the median of the "
        "earlier trials' at that epoch."
    )
    min_epochs: int = Field(5, ge=1, description="No trial is stopped before this many epochs.")
    startup_trials: int = Field(
        5, ge=0, description="Trials that run to their end before any is stopped."
    )


class _Rungs(Strict):
    """The rungs of successive halving: the epochs at which trials are compared."""

    min_epochs: int = Field(1, ge=1, description="The first rung's epochs.")
    reduction_factor: int = Field(
        3, ge=2, description="Between one rung and the next; 1/factor go on at each."
    )


class SuccessiveHalvingPrunerConfig(_Rungs):
    type: Literal["successive_halving"] = Field(
        description="Asynchronous successive halving: at epochs min_epochs × factor^k, keep "
        "only the best 1/factor of the trials that reached it."
    )


class HyperbandPrunerConfig(_Rungs):
    type: Literal["hyperband"] = Field(
        description="Hyperband: several successive-halving brackets, from aggressive to none, "
        "up to training.epochs."
    )


#: Pruners by name, as `sweep.pruner.type` names them.
PRUNER_CONFIGS: dict[str, type[Strict]] = {
    "none": NoPrunerConfig,
    "median": MedianPrunerConfig,
    "successive_halving": SuccessiveHalvingPrunerConfig,
    "hyperband": HyperbandPrunerConfig,
}
PrunerConfig = Annotated[
    NoPrunerConfig | MedianPrunerConfig | SuccessiveHalvingPrunerConfig | HyperbandPrunerConfig,
    Field(discriminator="type"),
]


class SweepConfig(Strict):
    """The search space of `bprop sweep`: a grid, random draws, or both (every draw combined
    with every grid point); or a `search` by grid, random draws or a model-based sampler, and a
    `pruner` that stops poor trials early."""

    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="key.path → values; all combinations are tried."
    )
    random: int | None = Field(None, ge=1, description="Trials drawn at random from `space`.")
    space: dict[str, str] = Field(
        default_factory=dict,
        description="key.path → uniform:a:b, loguniform:a:b, int:a:b or choice:v1,v2,...",
    )
    metric: str | None = Field(None, description="History column ranking the trials.")
    mode: Literal["min", "max"] = Field("min", description="Whether lower or higher wins.")
    search: SearchConfig | None = Field(
        None, description="How the trials are chosen (instead of `random`)."
    )
    pruner: PrunerConfig | None = Field(
        None, description="Stops poor trials early (needs bprop[tune]); default: none."
    )

    @model_validator(mode="after")
    def _space_needs_random(self) -> SweepConfig:
        if self.search is not None and self.random is not None:
            raise ValueError(
                "give the number of draws once: `search: {type: random, trials: N}` or `random: "
                "N`, not both"
            )
        if self.search is None and self.space and self.random is None:
            raise ValueError("`space` is sampled by `random: N` trials; set random")
        return self


# -------------------------------------------------------------- experiment
class ExperimentConfig(Strict):
    name: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9._-]+$", description="Names the run directory."
    )
    seed: int = Field(0, ge=0, description="Seeds the split, the weights, shuffling, dropout.")
    dtype: DtypeName = Field(DEFAULT_DTYPE, description="Of every array.")
    data: DataConfig
    model: ModelConfig
    loss: LossName = Field(description="cross_entropy needs softmax, binary_cross_entropy sigmoid.")
    optimizer: OptimizerConfig = Field(  # type: ignore[assignment]
        default_factory=lambda: OPTIMIZER_CONFIGS["adam"].model_validate({"type": "adam"})
    )
    schedule: ScheduleConfig = Field(  # type: ignore[assignment]
        default_factory=lambda: SCHEDULE_CONFIGS["constant"].model_validate({"type": "constant"})
    )
    training: TrainingConfig = Field(default_factory=lambda: TrainingConfig.model_validate({}))
    output: OutputConfig = Field(default_factory=lambda: OutputConfig.model_validate({}))
    compare: CompareConfig | None = Field(
        None, description="Used only by `bprop compare-optimizers`."
    )
    sweep: SweepConfig | None = Field(None, description="Used only by `bprop sweep`.")

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        check_output_layer(self.model, self.loss)
        held = self.has_validation()
        for key, monitor in self.monitors().items():
            problem = None if held is None else monitor_problem(monitor, held)
            if problem:  # (where the data decides, the run's plan checks it against the data)
                raise ValueError(f"{key}: {problem}")
        self._check_schedule()
        if is_classification(self.loss) and self.data.standardize_target:
            raise ValueError(
                f"data.standardize_target: scales a regression's target, but loss {self.loss} "
                "is classification; remove standardize_target"
            )
        if not is_classification(self.loss):
            classifiers = " or ".join(name for name in LOSSES if is_classification(name))
            for key, value, does in (
                ("training.class_weight", self.training.class_weight, "weights classes"),
                ("data.class_names", self.data.class_names, "names classes"),
            ):
                if value is not None:
                    raise ValueError(
                        f"{key}: {does}, but loss {self.loss} is regression; use {classifiers}, "
                        f"or remove {key.split('.')[-1]}"
                    )
        return self

    def _check_schedule(self) -> None:
        """The schedule's rule that involves another section (a floor min_lr against the
        optimizer's lr) is the engine's own (`floor_problem`), checked here without building
        the schedule (the run builds it once)."""
        params = self.schedule.model_dump()
        problem = floor_problem(params["type"], self.optimizer.lr, params)
        if problem:
            raise ValueError(f"schedule: {problem}")

    def monitors(self) -> dict[str, str]:
        """The history columns something watches, by config key: early stopping's and an
        adaptive schedule's."""
        found: dict[str, str] = {}
        if self.training.early_stopping is not None:
            found["training.early_stopping.monitor"] = self.training.early_stopping.monitor
        if getattr(self.schedule, "monitor", None) is not None:
            found["schedule.monitor"] = self.schedule.monitor  # type: ignore[attr-defined]
        return found

    def has_validation(self) -> bool | None:
        """Whether the data has a validation split, as far as the config decides it: None
        where the data does (an .npz file may hold its own X_val)."""
        if self.data.validation_split > 0 or self.data.folds is not None:
            return True
        if self.data.path and self.data.path.endswith(".npz"):
            return None
        return False

    def task(self) -> str:
        """What the data's target is read as: the loss decides (mse is regression, the
        cross-entropies classification)."""
        return "classification" if is_classification(self.loss) else "regression"

    def resolved(self) -> dict[str, Any]:
        """Every key with its default filled, as plain data (YAML/JSON ready)."""
        return self.model_dump(mode="json")
