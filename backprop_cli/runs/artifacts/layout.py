"""Every name bprop gives on disk, spelled once: the files and folders of a run directory, of a
comparison, a sweep, a cross-validation and a learning-rate range test, and the keys of a
checkpoint. Users, scripts and the tests read these names; the rest of bprop asks here.

A run directory (`RunLayout`)::

    config.yaml  steps.csv  history.csv  history.json  metrics.json  loss.png
    boundary.png | fit.png  boundary.gif (bprop picture --animate)
    checkpoints/initial.npz  epoch-NNNN.npz  best.npz  last.npz
    tensorboard/events.out.tfevents.* (output.loggers: [tensorboard])
    mlflow.json (output.loggers: [mlflow])
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------- a run directory
CONFIG = "config.yaml"
STEPS = "steps.csv"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
METRICS = "metrics.json"
LOSS_PLOT = "loss.png"
#: The picture of what the final weights learned: a classifier's decision boundary, a
#: regression's fit (`boundary.picture_name`), and the animation over checkpoints.
BOUNDARY_PLOT = "boundary.png"
FIT_PLOT = "fit.png"
ANIMATION = "boundary.gif"
CHECKPOINTS = "checkpoints"
#: The `tensorboard` logger's folder (output.loggers), and the names of the event files bprop
#: writes there (TensorBoard reads any name holding ``tfevents``; bprop's end in ``.bprop``).
TENSORBOARD = "tensorboard"
EVENT_FILE = re.compile(r"events\.out\.tfevents\..+\.bprop")
#: The `mlflow` logger's link to the MLflow run it logs to (in a run directory) or to the parent
#: run of a campaign's runs (in a sweep's, comparison's or cross-validation's directory).
MLFLOW_RUN = "mlflow.json"
INITIAL, BEST, LAST = "initial.npz", "best.npz", "last.npz"

#: The files `bprop train` writes in a run directory (beside its checkpoints/ folder).
RUN_FILES = frozenset(
    {CONFIG, STEPS, HISTORY_CSV, HISTORY_JSON, METRICS, LOSS_PLOT, BOUNDARY_PLOT, FIT_PLOT,
     ANIMATION, MLFLOW_RUN}
)  # fmt: skip
#: A directory holding any of these is a run directory.
RUN_MARKERS = (CONFIG, HISTORY_CSV, CHECKPOINTS)
#: The names of the checkpoints a run writes in ``checkpoints/``.
CHECKPOINT_NAME = re.compile(r"(initial|best|last|epoch-\d{4,})\.npz")


def epoch_checkpoint(epoch: int) -> str:
    """The name of the periodic checkpoint at the end of ``epoch``."""
    return f"epoch-{epoch:04d}.npz"


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory."""

    root: Path

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def steps(self) -> Path:
        return self.root / STEPS

    @property
    def history_csv(self) -> Path:
        return self.root / HISTORY_CSV

    @property
    def history_json(self) -> Path:
        return self.root / HISTORY_JSON

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def loss_plot(self) -> Path:
        return self.root / LOSS_PLOT

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    def checkpoint(self, name: str) -> Path:
        return self.root / CHECKPOINTS / name

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD

    @property
    def initial(self) -> Path:
        return self.checkpoint(INITIAL)

    @property
    def best(self) -> Path:
        return self.checkpoint(BEST)

    @property
    def last(self) -> Path:
        return self.checkpoint(LAST)

    def at_epoch(self, epoch: int) -> Path:
        return self.checkpoint(epoch_checkpoint(epoch))


#: Where `bprop init` writes a starter config unless told otherwise.
STARTER_CONFIG = CONFIG
#: A run directory stands for this checkpoint (the weights its metrics.json was computed with).
RUN_CHECKPOINT = Path(CHECKPOINTS) / LAST

# ------------------------------------------------------- directories of many runs
#: bprop compare-optimizers: a run directory per optimizer, and these.
COMPARISON_CSV, COMPARISON_JSON = "comparison.csv", "comparison.json"
LOSS_CURVES, ACCURACY_CURVES = "loss_curves.png", "accuracy_curves.png"
#: bprop sweep: a run directory per trial, and these.
SWEEP_CSV, SWEEP_JSON, SWEEP_PLOT = "sweep.csv", "sweep.json", "sweep.png"
#: ... the search's history, its trials in parallel coordinates, the keys' importances.
SEARCH_PLOT, PARALLEL_PLOT, IMPORTANCE_PLOT = "search.png", "parallel.png", "importance.png"
BEST_CONFIG = "best.yaml"
#: A guided sweep's Optuna study (its journal of JSON lines, appended to by every worker).
STUDY_JOURNAL = "study.journal"
#: Written before a sweep's first trial: only a directory holding it resumes as a sweep.
SWEEP_MARKER = ".bprop-sweep"
SWEEP_FILES = frozenset({SWEEP_CSV, SWEEP_JSON, BEST_CONFIG, SWEEP_PLOT, SWEEP_MARKER, MLFLOW_RUN,
                         SEARCH_PLOT, PARALLEL_PLOT, IMPORTANCE_PLOT})  # fmt: skip
#: bprop cv: a run directory per fold, and these.
CV_CSV, CV_JSON, CV_PLOT = "cv.csv", "cv.json", "cv.png"
CV_FILES = frozenset({CV_CSV, CV_JSON, CV_PLOT, MLFLOW_RUN})
#: bprop lr-find.
LR_FIND_CSV, LR_FIND_PLOT = "lr_find.csv", "lr_find.png"
LR_FIND_FILES = (LR_FIND_CSV, LR_FIND_PLOT)


def fold_name(k: int) -> str:
    """The run directory of fold ``k`` (from 1) of a cross-validation."""
    return f"fold-{k}"


# ------------------------------------------------------------- checkpoint keys
class Key:
    """The members of a checkpoint (`checkpoints` says what each holds)."""

    SCHEMA = "schema"
    #: The network's parameters, as `Network.state_dict` names them (``layers.{i}.{name}``).
    LAYERS = "layers."
    #: The last epoch's parameters, in a checkpoint that holds another epoch's weights.
    RESUME = "resume."
    #: The optimizer's state arrays (``optimizer.m``...), and its update count.
    OPTIMIZER = "optimizer."
    STEP_COUNT = "optimizer.step_count"
    EPOCH, STEP, PARAMS_EPOCH = "epoch", "step", "params_epoch"
    RNG, NOISE_RNG = "rng_state", "noise_rng_state"
    MONITOR, SCHEDULE = "monitor_state", "schedule_state"
    CONFIG = "config"
    TASK = "task"
    KERNELS = "kernels"
    DATA_SHAPE, DATA_DIGEST = "data.shape", "data.digest"
    DATA_COLUMNS, DATA_ENCODING = "data.columns", "data.encoding"
    CLASS_WEIGHTS = "loss.class_weights"
    MEAN, STD = "preprocess.mean", "preprocess.std"
    TARGET_MEAN, TARGET_STD = "preprocess.target_mean", "preprocess.target_std"
