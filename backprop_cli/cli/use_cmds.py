"""Using a trained network: `bprop evaluate`, `bprop predict` and `bprop summary`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .console import FIGURE_LABELS, console, fmt, loss_label

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ..runs.trained.evaluation import Evaluation
    from ..runs.trained.model import Model

MODEL_HELP = "A checkpoint (.npz) or a run directory (its checkpoints/last.npz)."
NO_HEADER_HELP = (
    "The file has no header row: its columns are taken in training order (for a model trained "
    "on data without column names, such as the built-in data sets)."
)


class Split(StrEnum):
    test = "test"
    val = "val"
    train = "train"


def evaluate(
    model: Annotated[Path, typer.Argument(help=MODEL_HELP, metavar="CHECKPOINT_OR_RUN_DIR")],
    data_file: Annotated[
        Path | None,
        typer.Argument(
            help="A config (.yaml: its data, split as at training) or a data file (.csv, .tsv, "
            ".parquet, .feather, .npz: every row). Default: the config the model was trained "
            "with.",
            metavar="DATA",
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="DATA, given as an option instead.")
    ] = None,
    split: Annotated[
        Split, typer.Option("--split", help="Which split of a config's data.")
    ] = Split.test,
    no_header: Annotated[
        bool, typer.Option("--no-header", help=NO_HEADER_HELP + " The target is the last column.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the metrics as JSON, for scripts.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Draw the confusion matrix (or predictions against truth) to a PNG."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --plot file.")
    ] = False,
) -> None:
    """Score a trained network as scikit-learn does, with its training-time preprocessing.

    Classification: loss, accuracy, balanced accuracy, log loss and ROC AUC, then precision,
    recall, F1 and support per class with their macro and weighted averages, and the confusion
    matrix. Regression: the loss (½·MSE), RMSE, MAE and R². On the run's own split the figures
    are those metrics.json recorded at training time.

    Example:  bprop evaluate runs/iris --split test --plot iris-confusion.png

    Example:  bprop evaluate runs/iris examples/labelled-flowers.csv
    """
    from ..config import load_config
    from ..errors import DataError
    from ..runs.trained.evaluation import evaluate_model, split_of
    from ..runs.trained.model import load_model
    from ..runs.trained.model_files import file_data
    from .outputs import check_output

    if data_file is not None and data is not None:
        raise DataError(
            f"the data is given twice, as DATA ({data_file}) and as --data ({data}); give "
            "one of them"
        )
    data = data_file or data
    if plot is not None and str(plot) == "-":
        raise DataError(
            "--plot: - would mix the picture into the figures printed on standard output; "
            "name a .png file"
        )
    if plot is not None:
        check_output(plot, overwrite, "--plot", picture=True)
    loaded = load_model(model)
    if no_header and (data is None or data.suffix.lower() in (".yaml", ".yml")):
        raise DataError("--no-header applies to a data file of numbers (.csv, .tsv)")
    if data is None:
        X, y = split_of(loaded.experiment(), split.value)
        source = f"{loaded.spec.name} {split.value} split"
    elif data.suffix.lower() in (".yaml", ".yml"):
        X, y = split_of(load_config(data), split.value)
        source = f"{data} {split.value} split"
    else:
        X, y = file_data(loaded, data, header=not no_header)
        source = str(data)
    result = evaluate_model(loaded, X, y, source)
    if plot is not None:
        _plot(loaded, X, y, result, plot, overwrite)
    if as_json:
        document = {"checkpoint": str(loaded.source), "data": source} | result.as_dict()
        typer.echo(json.dumps(document, indent=2))
        return
    _show(result, f"{loaded.source} on {source}")


def _show(result: Evaluation, title: str) -> None:
    from rich.table import Table

    console.print(title, soft_wrap=True)
    table = Table(show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("samples", str(result.n))
    table.add_row(loss_label(result.loss_name, scaled=result.scaled_target), fmt(result.loss))
    shown = ("accuracy", "balanced_accuracy", "log_loss", "roc_auc", "rmse", "mae", "r2")
    for key in (k for k in shown if k in result.scores):
        label = FIGURE_LABELS[key]
        if key == "roc_auc" and len(result.classes) > 2:
            label += " (one-vs-rest, macro)"
        table.add_row(label, fmt(result.scores[key]))
    console.print(table)
    if not result.classification:
        return
    classes = Table(title="per class")
    for column in ("class", "precision", "recall", "F1", "support"):
        classes.add_column(column, justify="right")
    for name, row in zip(result.classes, result.per_class, strict=True):
        classes.add_row(
            name, fmt(row["precision"]), fmt(row["recall"]), fmt(row["f1"]), str(row["support"])
        )
    classes.add_section()
    for average in ("macro", "weighted"):
        figures = [fmt(result.scores[f"{key}_{average}"]) for key in ("precision", "recall", "f1")]
        classes.add_row(f"{average} avg", *figures, str(result.n))
    console.print(classes)
    matrix = Table(title="confusion matrix (rows: true class, columns: predicted)")
    matrix.add_column("")
    for name in result.classes:
        matrix.add_column(name, justify="right")
    for name, counts in zip(result.classes, result.confusion, strict=True):
        matrix.add_row(name, *[str(c) for c in counts])
    console.print(matrix)


def _plot(
    loaded: Model,
    X: NDArray[Any],
    y: NDArray[Any],
    result: Evaluation,
    path: Path,
    overwrite: bool,
) -> None:
    from ..runs.reports.plotting import plot_confusion, plot_predictions

    if result.classification:
        plot_confusion(result.confusion, result.classes, path, exclusive=not overwrite)
    else:
        outputs = loaded.outputs(X, str(path))
        plot_predictions(y, outputs, path, exclusive=not overwrite)
    console.print(f"wrote {path}")


def predict(
    model: Annotated[Path, typer.Argument(help=MODEL_HELP, metavar="CHECKPOINT_OR_RUN_DIR")],
    inputs: Annotated[
        Path,
        typer.Argument(
            help="Features: a table (.csv, .tsv, .parquet, .feather; columns by name) or .npz "
            "with X.",
            metavar="INPUT",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the predictions here (CSV; -: standard output)."),
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add each class's probability (classification).")
    ] = False,
    no_header: Annotated[bool, typer.Option("--no-header", help=NO_HEADER_HELP)] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
) -> None:
    """Predict new data with a trained network and its training-time preprocessing.

    Writes CSV: a `prediction` column (the class, by the name it has in the training data, or
    the value for regression; prediction_0, ... for several outputs), and with --proba a
    `p_<class name>` column per class. Without --out (or with --out -) it prints the CSV. Input
    columns are matched to the training columns by name, in any order; a target column is
    ignored. A model trained without column names (built-in data) takes the columns in order:
    --no-header reads a file whose first row is data.

    Example:  bprop predict runs/iris examples/flowers.csv --out predictions.csv --proba
    """
    from ..runs.trained.model import load_model
    from ..runs.trained.predictions import prediction_text, write_predictions
    from .outputs import check_output, to_stdout

    loaded = load_model(model)
    if out is None or to_stdout(out):  # printed as it is computed
        for text, _ in prediction_text(loaded, inputs, proba, header=not no_header):
            typer.echo(text, nl=False)
        return
    check_output(out, overwrite)
    count = write_predictions(
        loaded, inputs, out, proba, header=not no_header, exclusive=not overwrite
    )
    console.print(f"wrote {count} predictions to {out}", soft_wrap=True)


def summary(
    source: Annotated[
        Path,
        typer.Argument(
            help="A config (.yaml) or a run directory or checkpoint.", metavar="CONFIG_OR_RUN_DIR"
        ),
    ],
) -> None:
    """A table of the network's layers (type, output shape, activation, initializer,
    parameters) with the totals, like Keras' summary().

    For a table's data it adds the input columns (and which features are one-hot) and the
    classes, as training fitted them.

    Example:  bprop summary configs/mnist5k.yaml
    """
    import numpy as np
    from rich.table import Table

    from ..config import load_config
    from ..core.network import layout
    from ..core.summary import describe
    from ..runs.train.build import build_splits
    from ..runs.trained.model import load_model
    from ..runs.trained.networks import build_layers
    from ..runs.trained.seeding import generators

    if source.suffix.lower() in (".yaml", ".yml"):
        cfg = load_config(source)
        splits = build_splits(cfg, generators(cfg.seed).data)
        n_features, encoding, classes = splits.n_features, splits.encoding, splits.classes
        layers = build_layers(cfg.model, n_features)  # shapes only, nothing allocated
        slots, dtype = layout(layers), np.dtype(cfg.dtype)
        name, loss = cfg.name, cfg.loss
    else:
        loaded = load_model(source)
        n_features, name, loss = loaded.net.input_dim, loaded.spec.name, loaded.spec.loss
        encoding, classes = loaded.encoding, loaded.classes
        layers, slots, dtype = loaded.net.layers, loaded.net.slots, loaded.net.dtype
    table = Table(title=f"{name}: input of {n_features} features, loss {loss}")
    for column in ("layer", "type", "output shape", "activation", "init", "parameters"):
        table.add_column(
            column, justify="right" if column == "parameters" else "left", no_wrap=column == "layer"
        )
    rows = describe(layers, slots)
    for row in rows:
        params = f"{row.trainable:,}" + (f" (+{row.fixed:,} fixed)" if row.fixed else "")
        table.add_row("  " * row.depth + row.name, row.type, f"(N, {row.width})", row.activation,
                      row.init, params)  # fmt: skip
    console.print(table)
    trainable = sum(r.trainable for r in rows)
    fixed = sum(r.fixed for r in rows)
    console.print(
        f"total parameters: {trainable + fixed:,} (trainable {trainable:,}, "
        f"non-trainable {fixed:,}); {(trainable + fixed) * dtype.itemsize:,} bytes "
        f"in {dtype}"
    )
    if encoding is not None:
        one_hot = [f"{f.name} ({len(f.categories)})" for f in encoding.features if f.categories]
        console.print(
            f"inputs: {encoding.width} columns from {len(encoding.features)} features"
            + (f"; one-hot: {', '.join(one_hot)}" if one_hot else ""),
            soft_wrap=True,
            highlight=False,
        )
    if classes is not None:
        console.print(f"classes: {', '.join(classes)}", soft_wrap=True, highlight=False)
