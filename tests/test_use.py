"""After training: evaluate, predict and summary; init, config, schema, datasets; the docs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from backprop_cli.config import load_config
from backprop_cli.config.models import BUILTIN_DATASETS
from backprop_cli.config.reference import json_schema, reference_markdown
from backprop_cli.data import load_data
from backprop_cli.runs.trained.seeding import generators

from helpers import CONFIG_DIR, cli, history_of, train_quietly

ROOT = Path(__file__).resolve().parents[1]


train = train_quietly


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(
        CONFIG_DIR / "iris.yaml", tmp_path_factory.mktemp("iris") / "run", "training.epochs=40"
    )


@pytest.fixture(scope="module")
def sine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(
        CONFIG_DIR / "sine.yaml", tmp_path_factory.mktemp("sine") / "run", "training.epochs=30"
    )


def evaluated(*args: str) -> dict:
    result = cli(["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def raw_split(config: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The unstandardized rows of a split, drawn as training drew them."""
    cfg = load_config(config)
    splits = load_data(cfg.data, cfg.task(), generators(cfg.seed).data, False, np.dtype(np.float64))
    held = splits.split(split)
    assert held is not None, split
    return held.X, held.y


# ----------------------------------------------------------------- evaluate
def test_evaluate_reproduces_the_test_metrics_recorded_at_training(iris: Path) -> None:
    metrics = json.loads((iris / "metrics.json").read_text())
    found = evaluated(str(iris))
    assert found["loss"] == metrics["test"]["loss"]
    assert found["accuracy"] == metrics["test"]["accuracy"]
    assert sum(map(sum, found["confusion"])) == found["n"] == 30
    correct = sum(found["confusion"][k][k] for k in range(3))
    assert correct / found["n"] == found["accuracy"]
    assert [c["support"] for c in found["per_class"]] == [sum(r) for r in found["confusion"]]


def test_evaluate_on_the_validation_split_matches_the_history(iris: Path) -> None:
    found = evaluated(str(iris / "checkpoints" / "last.npz"), "--split", "val")
    last = history_of(iris)[-1]
    assert found["loss"] == pytest.approx(last["val_loss"], rel=1e-12)
    assert found["accuracy"] == last["val_accuracy"]


def test_regression_metrics(sine: Path) -> None:
    metrics = json.loads((sine / "metrics.json").read_text())
    found = evaluated(str(sine))
    # the same loss, but for the rounding of the targets: standardized from float32 in training
    # (the run's dtype), from the data's float64 here
    assert found["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-6)
    # The mse loss carries the seed's ½ and is on the standardized target: MSE = 2·loss·σ² for
    # one output (σ the target's standard deviation in the training split).
    with np.load(sine / "checkpoints" / "last.npz") as checkpoint:
        std = float(checkpoint["preprocess.target_std"][0])
    assert found["mse"] == pytest.approx(2 * found["loss"] * std**2, rel=1e-5)
    assert 0.8 < found["r2"] <= 1 and found["mae"] > 0


def test_evaluate_json_writes_null_for_a_figure_that_is_not_a_number(
    sine: Path, tmp_path: Path
) -> None:
    """R² of constant targets is 0/0; JSON has no NaN, so a strict parser must read it."""
    flat = tmp_path / "flat.csv"
    flat.write_text("x,y\n0.1,0.5\n0.2,0.5\n0.3,0.5\n")
    result = cli(["evaluate", str(sine), "--data", str(flat), "--json"])
    assert result.exit_code == 0, result.output

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    found = json.loads(result.output, parse_constant=strict)
    assert found["r2"] is None and found["mse"] > 0 and found["n"] == 3


def test_evaluate_on_a_data_file_and_a_picture(iris: Path, tmp_path: Path) -> None:
    X, y = raw_split(CONFIG_DIR / "iris.yaml", "test")
    path = tmp_path / "test.csv"
    header = "a,b,c,d,label\n"
    path.write_text(
        header + "".join(",".join(map(str, [*x, int(t)])) + "\n" for x, t in zip(X, y, strict=True))
    )
    assert evaluated(str(iris), "--data", str(path))["accuracy"] == evaluated(str(iris))["accuracy"]
    picture = tmp_path / "cm.png"
    assert cli(["evaluate", str(iris), "--plot", str(picture)]).exit_code == 0
    assert picture.stat().st_size > 5_000


def test_evaluate_takes_the_data_as_its_second_argument_as_predict_does(
    iris: Path, tmp_path: Path
) -> None:
    X, y = raw_split(CONFIG_DIR / "iris.yaml", "val")
    data = tmp_path / "val.npz"
    np.savez(data, X=X, y=y)
    positional = evaluated(str(iris), str(data))
    assert positional == evaluated(str(iris), "--data", str(data))
    assert positional["data"] == str(data) and positional["n"] == len(y)
    config = str(CONFIG_DIR / "iris.yaml")
    assert evaluated(str(iris), config, "--split", "val")["accuracy"] == positional["accuracy"]
    both = cli(["evaluate", str(iris), config, "--data", config])
    assert both.exit_code == 2
    assert f"the data is given twice, as DATA ({config}) and as --data ({config})" in both.output


# ------------------------------------------------------------------ predict
def test_predict_with_the_training_preprocessing(iris: Path, tmp_path: Path) -> None:
    X, y = raw_split(CONFIG_DIR / "iris.yaml", "test")
    features = tmp_path / "new.csv"
    features.write_text("a,b,c,d\n" + "".join(",".join(map(str, x)) + "\n" for x in X))
    out = tmp_path / "preds.csv"
    result = cli(["predict", str(iris), str(features), "--out", str(out), "--proba"])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    names = ["setosa", "versicolor", "virginica"]  # iris's class names, in label order
    assert lines[0] == "prediction,p_setosa,p_versicolor,p_virginica"
    assert len(lines) == len(X) + 1
    cells = [line.split(",") for line in lines[1:]]
    probabilities = np.array([[float(v) for v in row[1:]] for row in cells])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    predicted = [names.index(row[0]) for row in cells]
    accuracy = float(np.mean(np.array(predicted) == y))
    assert accuracy == json.loads((iris / "metrics.json").read_text())["test"]["accuracy"]
    npz = tmp_path / "new.npz"
    np.savez(npz, X=X)
    printed = cli(["predict", str(iris), str(npz)])
    assert printed.exit_code == 0
    assert printed.output.splitlines()[1:] == [line.split(",")[0] for line in lines[1:]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "the model takes 4 feature columns; this input has 2"),
        ("a,b,c,d\n1,2,x,4\n", "row 2, column 'c': 'x' is not a number"),
    ],
)
def test_predict_refuses_inputs_that_do_not_fit(
    iris: Path, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = cli(["predict", str(iris), str(path)])
    assert result.exit_code == 2 and message in result.output


def test_predict_never_overwrites_silently(iris: Path, tmp_path: Path) -> None:
    X, _ = raw_split(CONFIG_DIR / "iris.yaml", "test")
    features = tmp_path / "new.csv"
    features.write_text("a,b,c,d\n" + "".join(",".join(map(str, x)) + "\n" for x in X))
    out = tmp_path / "preds.csv"
    out.write_text("keep me\n")
    result = cli(["predict", str(iris), str(features), "--out", str(out)])
    assert result.exit_code == 2 and out.read_text() == "keep me\n"
    assert (
        cli(["predict", str(iris), str(features), "--out", str(out), "--overwrite"]).exit_code == 0
    )


def test_a_file_without_a_header_row_is_read_with_no_header(iris: Path, tmp_path: Path) -> None:
    """Built-in iris knows no column names: its columns go in order, and --no-header reads a
    first row of data as data (the shipped digits files have none)."""
    X, y = raw_split(CONFIG_DIR / "iris.yaml", "test")
    rows = [",".join(map(str, x)) for x in X]
    features = tmp_path / "features.csv"
    features.write_text("".join(row + "\n" for row in rows))
    headed = tmp_path / "headed.csv"
    headed.write_text("a,b,c,d\n" + features.read_text())
    without = cli(["predict", str(iris), str(features), "--no-header"])
    assert without.exit_code == 0, without.output
    assert without.output == cli(["predict", str(iris), str(headed)]).output
    assert len(without.output.splitlines()) == len(X) + 1  # every row predicted, the first too
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("".join(f"{row},{int(t)}\n" for row, t in zip(rows, y, strict=True)))
    found = evaluated(str(iris), "--data", str(labelled), "--no-header")
    assert found["n"] == len(X) and found["accuracy"] == evaluated(str(iris))["accuracy"]


def test_no_header_is_refused_where_it_cannot_apply(iris: Path, tmp_path: Path) -> None:
    npz = tmp_path / "new.npz"
    np.savez(npz, X=np.zeros((2, 4)))
    result = cli(["predict", str(iris), str(npz), "--no-header"])
    assert result.exit_code == 2 and "--no-header applies to text tables" in result.output
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "new.parquet"
    pq.write_table(pa.table({"a": [1.0], "b": [2.0], "c": [3.0], "d": [4.0]}), parquet)
    result = cli(["predict", str(iris), str(parquet), "--no-header"])
    assert result.exit_code == 2 and "--no-header applies to text tables" in result.output
    result = cli(["evaluate", str(iris), "--no-header"])
    assert result.exit_code == 2 and "--no-header applies to a data file" in result.output
    digits = tmp_path / "digits.csv"  # a first row of data read as a header repeats names
    digits.write_text("1,0,0,1\n5,1,1,0\n")
    result = cli(["predict", str(iris), str(digits)])
    assert result.exit_code == 2 and "more than once" in result.output
    assert "if its first row is data, not column names, give --no-header" in result.output


def test_a_first_row_of_numbers_is_data_and_never_lost_as_a_header(
    iris: Path, tmp_path: Path
) -> None:
    """A file without a header, given without --no-header, would lose its first row to the
    column names: a first row of numbers only is refused, naming the option."""
    path = tmp_path / "rows.csv"
    path.write_text("5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n")
    for args in (["predict", str(iris), str(path)], ["evaluate", str(iris), "--data", str(path)]):
        result = cli(args)
        assert result.exit_code == 2, result.output
        assert "is numbers, not column names; if it is data, give --no-header" in result.output


@pytest.mark.parametrize(
    ("label", "message"),
    [("-1", "the target -1 is not a class"), ("0.5", "the target 0.5 is not a class"),
     ("3", "the target 3 is not a class"), ("1e300", "the target 1e+300 is not a class")],
)  # fmt: skip
def test_a_classifier_is_evaluated_only_on_its_own_classes(
    iris: Path, tmp_path: Path, label: str, message: str
) -> None:
    path = tmp_path / "labelled.csv"
    path.write_text(f"5.1,3.5,1.4,0.2,0\n6.2,2.9,4.3,1.3,{label}\n")
    result = cli(["evaluate", str(iris), "--data", str(path), "--no-header"])
    assert result.exit_code == 2 and message in result.output
    assert (
        "data row 2" in result.output and "0 to 2 (setosa, versicolor, virginica)" in result.output
    )


def test_a_regression_is_evaluated_as_one_whatever_its_targets(sine: Path, tmp_path: Path) -> None:
    """Whole-number targets in a file do not turn a regression into a classification."""
    path = tmp_path / "whole.csv"
    path.write_text("0.5,0\n1.0,1\n2.0,1\n-1.0,-1\n")
    found = evaluated(str(sine), "--data", str(path), "--no-header")
    assert "accuracy" not in found and found["n"] == 4 and found["mse"] >= 0


def test_no_header_is_refused_for_a_model_that_matches_columns_by_name(tmp_path: Path) -> None:
    run = train(CONFIG_DIR / "penguins.yaml", tmp_path / "run", "training.epochs=1")
    rows = tmp_path / "rows.csv"
    rows.write_text("Biscoe,48.6,16.0,230,5800,male\n")
    result = cli(["predict", str(run), str(rows), "--no-header"])
    assert result.exit_code == 2 and "matches columns by the names it was trained" in result.output


def test_a_missing_model_exits_2(tmp_path: Path) -> None:
    result = cli(["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "checkpoints/last.npz" in result.output


# ------------------------------------------------------------------ summary
def test_summary_of_a_config_and_of_a_run(iris: Path) -> None:
    from_config = cli(["summary", str(CONFIG_DIR / "iris.yaml")])
    from_run = cli(["summary", str(iris)])
    assert from_config.exit_code == 0 and from_run.exit_code == 0
    # iris.yaml: 4 → 16 tanh → 3 softmax: (4·16 + 16) + (16·3 + 3) = 80 + 51 = 131 parameters.
    for result in (from_config, from_run):
        assert "total parameters: 131 (trainable 131, non-trainable 0)" in result.output
        assert "(N, 16)" in result.output and "tanh" in result.output


def test_summary_of_a_network_with_batchnorm_and_residual(tmp_path: Path) -> None:
    raw = yaml.safe_load((CONFIG_DIR / "moons.yaml").read_text())
    raw["model"]["layers"] = [
        {"units": 8, "activation": "linear"},
        {"type": "batchnorm", "activation": "relu"},
        {"type": "residual", "layers": [{"units": 8, "activation": "tanh"}]},
        {"units": 1, "activation": "sigmoid"},
    ]
    config = tmp_path / "net.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = cli(["summary", str(config)])
    assert result.exit_code == 0, result.output
    # dense 2·8 + 8 = 24; batchnorm γ, β = 16 (+16 running averages); residual's dense 8·8 + 8 =
    # 72; output 8 + 1 = 9: trainable 121, non-trainable 16.
    assert "total parameters: 137 (trainable 121, non-trainable 16)" in result.output


# -------------------------------------------------------- init and friends
@pytest.mark.parametrize("dataset", BUILTIN_DATASETS)
def test_init_writes_a_config_that_trains(dataset: str, tmp_path: Path) -> None:
    config = tmp_path / f"{dataset}.yaml"
    result = cli(["init", "--dataset", dataset, "--out", str(config)])
    assert result.exit_code == 0, result.output
    assert config.read_text().startswith("# A bprop experiment")
    train(config, tmp_path / "run", "training.epochs=1")
    again = cli(["init", "--dataset", dataset, "--out", str(config)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_init_rejects_an_unknown_data_set(tmp_path: Path) -> None:
    result = cli(["init", "--dataset", "cifar", "--out", str(tmp_path / "c.yaml")])
    assert result.exit_code == 2 and "choose one of: xor" in result.output


def test_config_prints_every_default_and_reads_back(tmp_path: Path) -> None:
    result = cli(["config", str(CONFIG_DIR / "spirals.yaml"), "--set", "optimizer.lr=0.003"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["optimizer"] == {"lr": 0.003, "weight_decay": 0.0, "type": "adam",
                                     "beta1": 0.9, "beta2": 0.999, "eps": 1e-08,
                                     "amsgrad": False}  # fmt: skip
    assert resolved["training"]["diagnostics"] is False  # a default, filled in
    path = tmp_path / "resolved.yaml"
    path.write_text(result.output)
    assert load_config(path).resolved() == resolved


CONFIG_FILES = sorted(CONFIG_DIR.rglob("*.yaml"))


@pytest.mark.parametrize("config", CONFIG_FILES, ids=[c.stem for c in CONFIG_FILES])
def test_the_schema_accepts_every_example_config(config: Path) -> None:
    jsonschema.validate(yaml.safe_load(config.read_text()), json_schema())


@pytest.mark.parametrize(
    "mistake",
    [
        {"optimizer": {"type": "adam", "lrr": 0.1}},
        {"training": {"epochs": "many"}},
        {"model": {"layers": []}},
        {"model": {"layers": [{"type": "conv", "units": 3}]}},
        {"loss": "hinge"},
    ],
)
def test_the_schema_rejects_bad_configs(mistake: dict) -> None:
    raw = yaml.safe_load((CONFIG_DIR / "moons.yaml").read_text()) | mistake
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, json_schema())


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "bprop.schema.json"
    assert cli(["schema", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["title"] == "ExperimentConfig"
    assert cli(["schema", "--out", str(out)]).exit_code == 2  # never overwritten silently


def test_datasets_lists_every_built_in() -> None:
    result = cli(["datasets"])
    assert result.exit_code == 0
    for name in BUILTIN_DATASETS:
        assert name in result.output
    assert "1797×64" in result.output and "5000×784" in result.output


def test_the_config_reference_is_current() -> None:
    written = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert written == reference_markdown(), "run `make docs` to regenerate it"
    for section in ("## model.layers[]: type batchnorm", "## optimizer: type adamw", "## compare"):
        assert section in written
