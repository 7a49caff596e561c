"""A user's own tables: text labels and features, missing values, the task from the loss, the
fitted encoding in checkpoints, the file formats and the cache of prepared tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from backprop_cli.config.models import DataConfig
from backprop_cli.data import load_data
from backprop_cli.data.table.cache import arrays_of
from backprop_cli.data.table.encoding import MISSING
from backprop_cli.errors import DataError

from helpers import cli

F64 = np.dtype(np.float64)


def load(task: str = "classification", scale: bool = False, **data: Any) -> Any:
    """The splits of a ``data:`` section, without validation or test split unless given, and
    with the column ``y`` as the target unless another is."""
    given = {"validation_split": 0.0, "test_split": 0.0, "target": "y", **data}
    section = DataConfig.model_validate(given)
    return load_data(section, task, np.random.default_rng(0), scale, F64)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config(tmp_path: Path, data: str, layers: str, loss: str, extra: str = "") -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(
        f"name: t\nseed: 0\ndata: {data}\nmodel:\n  layers:\n{layers}loss: {loss}\n"
        "optimizer: {type: adam, lr: 0.05}\n"
        f"training: {{epochs: 30, batching: {{type: full}}{extra}}}\n"
        "output: {checkpoint_every: 0}\n"
    )
    return path


def softmax_layers(k: int) -> str:
    return (
        "    - {type: dense, units: 8, activation: tanh}\n"
        f"    - {{type: dense, units: {k}, activation: softmax}}\n"
    )


# ------------------------------------------------------------------ targets
def test_a_table_without_a_target_exits_2_naming_its_columns(tmp_path: Path) -> None:
    """No silent default: the penguins file's last column is `year`, which would train to 35 %
    accuracy as a 'class'. The error lists the columns; no run directory is made."""
    shipped = Path(__file__).parent.parent / "datasets" / "penguins.csv"
    experiment = config(
        tmp_path, f"{{path: {shipped}, missing: median}}", softmax_layers(3), "cross_entropy"
    )
    result = cli(["train", str(experiment), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and not (tmp_path / "run").exists()
    assert "data.target is not set; name the column to predict (data.target: COLUMN)" in (
        " ".join(result.output.split())
    )
    assert "species, island, bill_length_mm" in result.output and "year" in result.output


@pytest.mark.parametrize(
    ("file", "header", "suggested"),
    [
        ("t.csv", "a,Label,b", "Label"),  # a usual target name, in any case
        ("t.csv", "y,a,b", "y"),
        ("churn.csv", "tenure,Churn,plan", "Churn"),  # named like the file
        ("house_prices.csv", "rooms,price,town", "price"),  # like a word of the file's name
        ("t.csv", "a,b,c", None),
    ],
)
def test_the_missing_target_message_suggests_a_likely_column(
    file: str, header: str, suggested: str | None, tmp_path: Path
) -> None:
    path = write(tmp_path / file, header + "\n1,2,3\n4,5,6\n")
    fix = f"data.target: {suggested or 'COLUMN'}"
    with pytest.raises(DataError, match=rf"data.target is not set; .*\({fix}\)") as raised:
        load(path=str(path), target=None)
    assert str(raised.value).endswith("Columns: " + header.replace(",", ", "))


def test_text_labels_become_sorted_classes(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,kind\n1,b\n2,a\n3,c\n4,a\n")
    splits = load(path=str(path), target="kind")
    assert splits.classes == ["a", "b", "c"]
    assert splits.train.y.tolist() == [1, 0, 2, 0]  # file order kept, labels by sorted name


def test_class_names_give_the_order_and_must_cover_the_classes(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,kind\n1,b\n2,a\n3,c\n4,a\n")
    splits = load(path=str(path), target="kind", class_names=["c", "b", "a", "z"])
    assert splits.classes == ["c", "b", "a", "z"] and splits.train.y.tolist() == [1, 2, 0, 2]
    with pytest.raises(DataError, match=r"class_names does not list 'b', found in the target"):
        load(path=str(path), target="kind", class_names=["a", "c"])


@pytest.mark.parametrize(
    ("cells", "classes", "labels"),
    [
        (["1", "-1", "1", "-1"], ["-1", "1"], [1, 0, 1, 0]),  # negative labels
        (["3", "1", "2", "1"], ["1", "2", "3"], [2, 0, 1, 0]),  # 1, 2, 3: three classes
        (["1.0", "0.0", "1.0", "0.5"], ["0", "0.5", "1"], [2, 0, 2, 1]),  # floats as classes
        (["true", "false", "True", "False"], ["False", "True", "false", "true"], [3, 2, 1, 0]),
        (["10", "9", "10", "2"], ["2", "9", "10"], [2, 1, 2, 0]),  # numbers sort as numbers
    ],
)
def test_any_target_values_become_classes(
    cells: list[str], classes: list[str], labels: list[int], tmp_path: Path
) -> None:
    path = write(tmp_path / "t.csv", "x,y\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    splits = load(path=str(path))
    assert splits.classes == classes
    assert splits.train.y.tolist() == labels


def test_booleans_read_by_arrow_are_two_classes(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,y\n1,true\n2,false\n3,true\n")
    splits = load(path=str(path))
    assert splits.classes == ["false", "true"] and splits.train.y.tolist() == [1, 0, 1]


def test_mse_is_regression_even_on_whole_numbers(tmp_path: Path) -> None:
    ages = [23, 54, 31, 84, 23, 40]
    path = write(tmp_path / "t.csv", "x,age\n" + "".join(f"{i},{a}\n" for i, a in enumerate(ages)))
    splits = load("regression", path=str(path), target="age")
    assert splits.classes is None and not splits.labelled
    assert splits.train.y.dtype == np.float64 and splits.train.y.tolist() == ages


def test_a_text_target_with_mse_is_refused_naming_what_it_holds(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,kind\n1,b\n2,a\n")
    with pytest.raises(DataError, match=r"the target 'kind' holds text \(2 classes: a, b\)"):
        load("regression", path=str(path), target="kind")


def test_an_output_width_unlike_the_class_count_exits_2_naming_the_classes(
    tmp_path: Path,
) -> None:
    rows = "".join(f"{i},{'abc'[i % 3]}\n" for i in range(30))
    write(tmp_path / "t.csv", "x,kind\n" + rows)
    experiment = config(tmp_path, "{path: t.csv, target: kind}", softmax_layers(2), "cross_entropy")
    result = cli(["train", str(experiment), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "the data has 3 classes (a, b, c) but the output layer has 2 units" in result.output


def test_rows_without_a_target_are_dropped_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,y\n1,a\n2,\n3,b\n4,NA\n5,a\n")
    splits = load(path=str(path))
    assert splits.train.X[:, 0].tolist() == [1, 3, 5]
    assert splits.report["dropped_rows"]["missing_target"] == 2


# ----------------------------------------------------------------- features
def test_text_columns_are_one_hot_with_categories_from_the_training_split(
    tmp_path: Path,
) -> None:
    # 'rare' appears once: whichever split holds it, only the training split's categories make
    # columns, and a held-out row with an unseen category gets all zeros.
    colours = ["red", "blue"] * 20 + ["rare"]
    rows = "".join(f"{i},{c},{i % 2}\n" for i, c in enumerate(colours))
    path = write(tmp_path / "t.csv", "x,colour,y\n" + rows)
    splits = load(path=str(path), validation_split=0.25, test_split=0.25)
    encoding = splits.encoding
    colour = next(f for f in encoding.features if f.name == "colour")
    train_has_rare = "rare" in colour.categories
    assert colour.categories == (["blue", "rare", "red"] if train_has_rare else ["blue", "red"])
    assert splits.feature_names == ["x"] + [f"colour={c}" for c in colour.categories]
    one_hot = np.concatenate([splits.train.X, splits.val.X, splits.test.X])[:, 1:]
    assert set(one_hot.ravel().tolist()) <= {0.0, 1.0}
    assert sorted(one_hot.sum(axis=1).tolist()).count(0.0) == (0 if train_has_rare else 1)


def test_declared_categorical_columns_and_text_columns_left_undeclared(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "year,town,y\n2007,a,0\n2008,b,1\n2007,a,1\n")
    splits = load(path=str(path), categorical=["year", "town"])
    assert splits.feature_names == ["year=2007", "year=2008", "town=a", "town=b"]
    with pytest.raises(DataError, match=r"column 'town' holds text, but data.categorical"):
        load(path=str(path), categorical=["year"])


def test_one_hot_columns_too_wide_for_memory_are_refused_naming_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backprop_cli.data.table import encode as tabular

    monkeypatch.setattr(tabular, "memory_bytes", lambda: 10_000)
    rows = "".join(f"{i},id-{i},{i % 2}\n" for i in range(60))  # an id column: 60 categories
    path = write(tmp_path / "t.csv", "x,id,y\n" + rows)
    with pytest.raises(DataError, match=r"column 'id' alone has 60 categories: leave it out"):
        load(path=str(path))


def test_unknown_column_names_in_the_data_keys_are_named(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a,b,y\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"data.drop 'c' is not a column \(columns: a, b, y\)"):
        load(path=str(path), drop=["c"])
    with pytest.raises(DataError, match=r"data\.features lists the target 'y'"):
        load(path=str(path), features=["a", "y"])
    splits = load(path=str(path), features=["b"])
    assert splits.feature_names == ["b"] and splits.train.X[:, 0].tolist() == [2, 4]


def test_a_column_of_40000_categories_encodes_in_one_pass(tmp_path: Path) -> None:
    """Each category's one-hot column is looked up once, not searched for in the model's list:
    40,000 categories took half a minute when each was."""
    from backprop_cli.data.table.encoding import Encoding, Feature
    from backprop_cli.data.table.read import Request, read_table

    n = 40_000
    path = write(tmp_path / "ids.csv", "c,y\n" + "".join(f"k{i},{i % 2}\n" for i in range(n)))
    table = read_table(path, Request(target="y"), F64)
    known = [f"k{i}" for i in reversed(range(n))]  # the model's order, not the file's
    encoding = Encoding([Feature("c", "categorical", categories=known)], "y", "classification")
    X = encoding.encode(table, np.array([0, 7, n - 1]), F64)
    assert X.shape == (3, n) and X.sum() == 3
    assert np.flatnonzero(X).tolist() == [n - 1, n + n - 8, 2 * n + 0]  # k0, k7, k39999


# ------------------------------------------------------------------ missing
MISSING_TABLE = "a,b,colour,y\n1,10,red,0\nNA,20,,1\n3,,blue,0\n5,20,red,1\n,40,red,0\n"


def test_missing_error_names_the_count_and_the_first_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", MISSING_TABLE)
    with pytest.raises(
        DataError, match=r"3 rows miss a feature value \(the first: row 3, column 'a'\)"
    ):
        load(path=str(path))


def test_missing_drop_drops_those_rows_before_splitting(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", MISSING_TABLE)
    splits = load(path=str(path), missing="drop")
    assert splits.train.X[:, :2].tolist() == [[1, 10], [5, 20]]
    assert splits.report["dropped_rows"]["missing_features"] == 3


@pytest.mark.parametrize(
    ("strategy", "fill_a", "fill_b"),
    [
        # a's present values 1, 3, 5; b's 10, 20, 20, 40
        ("mean", 3.0, 22.5),  # (1+3+5)/3, (10+20+20+40)/4
        ("median", 3.0, 20.0),  # middle of 1,3,5; mean of the middle pair 20,20
        ("most_frequent", 1.0, 20.0),  # all once: the smallest; 20 twice
    ],
)
def test_fill_strategies_fill_numbers_from_the_training_split(
    strategy: str, fill_a: float, fill_b: float, tmp_path: Path
) -> None:
    path = write(tmp_path / "t.csv", MISSING_TABLE)
    splits = load(path=str(path), missing=strategy)
    X = splits.train.X
    assert X[:, 0].tolist() == [1, fill_a, 3, 5, fill_a]
    assert X[:, 1].tolist() == [10, 20, fill_b, 20, 40]
    # the missing colour is a category of its own, beside blue and red
    assert splits.feature_names[2:] == ["colour=blue", "colour=red", f"colour={MISSING}"]
    assert X[1, 2:].tolist() == [0, 0, 1]


def test_fill_values_come_from_the_training_split_only(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i % 2}\n" for i in range(1, 40)) + "NA,1\n"
    path = write(tmp_path / "t.csv", "a,y\n" + rows)
    splits = load(path=str(path), missing="mean", validation_split=0.2, test_split=0.2)
    fill = splits.encoding.features[0].fill
    present = splits.train.X[:, 0][splits.train.X[:, 0] != fill]
    assert fill == pytest.approx(float(np.mean(present)))


# ------------------------------------------------------------ class weights
def test_balanced_class_weights_follow_scikit_learn(tmp_path: Path) -> None:
    from backprop_cli.runs.train.build import class_weights

    labels = np.array([0, 0, 0, 1])  # n = 4, K = 2, n_0 = 3, n_1 = 1
    np.testing.assert_allclose(class_weights("balanced", ["a", "b"], labels), [4 / 6, 4 / 2])
    np.testing.assert_allclose(class_weights({"b": 5.0}, ["a", "b"], labels), [1.0, 5.0])
    from backprop_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="no class 'c'; the classes are a, b"):
        class_weights({"c": 2.0}, ["a", "b"], labels)


def test_weighted_cross_entropy_golden_values() -> None:
    """Two samples, two classes, w = (1, 3).
    z_1 = (0, 0), y_1 = 0: ŷ_1 = (½, ½), ℓ_1 = ln 2, ω_1 = 1
    z_2 = (0, ln 3), y_2 = 1: ŷ_2 = (¼, ¾), ℓ_2 = ln 4/3, ω_2 = 3
    L = (ln 2 + 3 ln 4/3) / 4
    ∂L/∂z_1 = ¼ (½ − 1, ½) = (−⅛, ⅛);  ∂L/∂z_2 = ¾ (¼, ¾ − 1) = (3/16, −3/16)
    """
    from backprop_cli.core.losses import SoftmaxCrossEntropy

    loss = SoftmaxCrossEntropy()
    loss.set_class_weights(np.array([1.0, 3.0]))
    z = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    value = loss.forward(z, np.array([0, 1]))
    assert value == pytest.approx((np.log(2) + 3 * np.log(4 / 3)) / 4, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), [[-1 / 8, 1 / 8], [3 / 16, -3 / 16]], atol=1e-15)
    assert loss.weight_sum == 4.0


def test_weighted_binary_cross_entropy_golden_values() -> None:
    """One unit, z = (0, 0), y = (0, 1), w = (1, 4): ℓ_i = ln 2 each, ω = (1, 4),
    L = (ln 2 + 4 ln 2) / 5 = ln 2; ∂L/∂z_i = ω_i/5 (½ − y_i) = (0.1, −0.4)."""
    from backprop_cli.core.losses import SigmoidBinaryCrossEntropy

    loss = SigmoidBinaryCrossEntropy()
    loss.set_class_weights(np.array([1.0, 4.0]))
    value = loss.forward(np.zeros((2, 1)), np.array([[0.0], [1.0]]))
    assert value == pytest.approx(np.log(2), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), [[0.1], [-0.4]], atol=1e-15)


def test_the_gradient_check_battery_covers_the_weighted_losses() -> None:
    from backprop_cli.core.gradcheck import run_battery

    checks = [c for c in run_battery() if "class weights" in c.case]
    cases = {c.case for c in checks}
    assert len(cases) == 4 and all(c.passed for c in checks), [c for c in checks if not c.passed]


def test_a_weighted_split_loss_is_the_weighted_mean_over_all_its_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backprop_cli.core import training
    from backprop_cli.core.activations import get_activation
    from backprop_cli.core.layers import Dense
    from backprop_cli.core.network import Network

    rng = np.random.default_rng(3)
    net = Network([Dense(3, get_activation("softmax"))], 4, "cross_entropy", rng, dtype="float64")
    net.loss.set_class_weights(np.array([0.5, 2.0, 1.0]))
    X, labels = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    y = net.prepare_targets(labels)
    whole, _ = training.evaluate(net, X, y, labels)
    monkeypatch.setattr(training, "EVAL_CHUNK", 3)  # chunks of 3, 3, 3 and 1 rows
    chunked, _ = training.evaluate(net, X, y, labels)
    assert chunked == pytest.approx(whole, rel=1e-12)


def test_class_weights_train_and_are_kept_for_evaluate(tmp_path: Path) -> None:
    rows = "".join(f"{i % 5},{'a' if i % 4 else 'b'}\n" for i in range(40))
    write(tmp_path / "t.csv", "x,kind\n" + rows)
    experiment = config(
        tmp_path, "{path: t.csv, target: kind, test_split: 0.25}", softmax_layers(2),
        "cross_entropy", ", class_weight: {b: 3}",
    )  # fmt: skip
    run = tmp_path / "run"
    assert cli(["train", str(experiment), "--out", str(run), "--quiet"]).exit_code == 0
    with np.load(run / "checkpoints" / "last.npz") as checkpoint:
        assert checkpoint["loss.class_weights"].tolist() == [1.0, 3.0]
    metrics = json.loads((run / "metrics.json").read_text())
    evaluated = cli(["evaluate", str(run), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["loss"] == pytest.approx(metrics["test"]["loss"])


# ----------------------------------------------------- files and encodings
def penguin_like(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    lines = ["species,island,bill,mass,sex"]
    for i in range(90):
        species = ["Adelie", "Gentoo", "Chinstrap"][i % 3]
        island = ["Biscoe", "Dream"][i % 2]
        bill = 35 + 5 * (i % 3) + rng.normal()
        mass = "NA" if i % 17 == 5 else f"{3500 + 400 * (i % 3) + rng.normal(0, 50):.0f}"
        sex = "" if i % 13 == 4 else ["male", "female"][i % 2]
        lines.append(f"{species},{island},{bill:.2f},{mass},{sex}")
    return write(tmp_path / "birds.csv", "\n".join(lines) + "\n")


def test_quoted_fields_a_bom_and_any_column_order(tmp_path: Path) -> None:
    text = '\ufeff"label","name, quoted",x\na,"Smith, J.",1\nb,"O""Neil",2\n'
    path = write(tmp_path / "q.csv", text)
    splits = load(path=str(path), target="label")
    assert splits.feature_names == ['name, quoted=O"Neil', "name, quoted=Smith, J.", "x"]
    assert splits.classes == ["a", "b"]


@pytest.mark.parametrize("kind", ["tsv", "csv.gz", "parquet", "feather", "arrow"])
def test_every_format_reads_as_the_csv_does(kind: str, tmp_path: Path) -> None:
    source = penguin_like(tmp_path)
    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    other = tmp_path / f"birds.{kind}"
    if kind == "tsv":
        pacsv.write_csv(table, other, pacsv.WriteOptions(delimiter="\t"))
    elif kind == "csv.gz":
        with pa.CompressedOutputStream(str(other), "gzip") as stream:
            pacsv.write_csv(table, stream)
    elif kind == "parquet":
        pq.write_table(table, other)
    else:
        feather.write_feather(table, other)
    settings = {"target": "species", "missing": "median", "test_split": 0.2}
    a, b = load(path=str(source), **settings), load(path=str(other), **settings)
    assert a.feature_names == b.feature_names and a.classes == b.classes
    for name in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(arrays_of(a)[name], arrays_of(b)[name], err_msg=name)


def trained(tmp_path: Path, extra_data: str = "") -> Path:
    penguin_like(tmp_path)
    data = f"{{path: birds.csv, target: species, missing: median, test_split: 0.2{extra_data}}}"
    experiment = config(tmp_path, data, softmax_layers(3), "cross_entropy")
    run = tmp_path / "run"
    result = cli(["train", str(experiment), "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "birds.csv: 90 rows, 2 numeric + 2 categorical features → 7 inputs" in result.output
    return run


def test_predict_takes_columns_in_any_order_with_or_without_the_target(tmp_path: Path) -> None:
    run = trained(tmp_path)
    rows = pacsv.read_csv(tmp_path / "birds.csv").slice(0, 6)
    reordered = rows.select(["sex", "mass", "island", "bill"])
    pacsv.write_csv(reordered, tmp_path / "new.csv")
    pacsv.write_csv(rows, tmp_path / "with-target.csv")
    a = cli(["predict", str(run), str(tmp_path / "new.csv"), "--proba"])
    b = cli(["predict", str(run), str(tmp_path / "with-target.csv"), "--proba"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert a.output == b.output
    lines = a.output.splitlines()
    assert lines[0] == "prediction,p_Adelie,p_Chinstrap,p_Gentoo"
    assert {line.split(",")[0] for line in lines[1:]} <= {"Adelie", "Chinstrap", "Gentoo"}


def test_evaluate_names_classes_and_reproduces_the_test_metrics(tmp_path: Path) -> None:
    run = trained(tmp_path)
    result = cli(["evaluate", str(run), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert document["accuracy"] == metrics["test"]["accuracy"]
    table = cli(["evaluate", str(run), "--data", str(tmp_path / "birds.csv")])
    assert table.exit_code == 0 and "Chinstrap" in table.output


def test_an_unseen_category_at_predict_time_exits_2_unless_ignored(tmp_path: Path) -> None:
    run = trained(tmp_path)
    write(tmp_path / "new.csv", "island,bill,mass,sex\nAtlantis,40,3600,male\n")
    result = cli(["predict", str(run), str(tmp_path / "new.csv")])
    assert result.exit_code == 2
    assert "row 2, column 'island': 'Atlantis' is a category the model never saw" in result.output
    again = tmp_path / "again"
    again.mkdir()
    ignoring = trained(again, ", unknown: ignore")
    result = cli(["predict", str(ignoring), str(tmp_path / "new.csv")])
    assert result.exit_code == 0, result.output


def test_evaluate_on_a_file_with_an_unknown_class_names_the_known_ones(tmp_path: Path) -> None:
    run = trained(tmp_path)
    write(tmp_path / "new.csv", "species,island,bill,mass,sex\nEmperor,Dream,40,3600,male\n")
    result = cli(["evaluate", str(run), "--data", str(tmp_path / "new.csv")])
    assert result.exit_code == 2
    assert "holds classes the model does not know; it knows Adelie, Chinstrap, Gentoo" in (
        result.output
    )


def test_options_belong_to_generated_data_only(tmp_path: Path) -> None:
    path = penguin_like(tmp_path)
    with pytest.raises(DataError, match=r"data\.options: only generated data sets take options"):
        load(path=str(path), options={"noise": 0.1})


def test_predict_fills_missing_values_as_training_did(tmp_path: Path) -> None:
    run = trained(tmp_path)
    write(tmp_path / "new.csv", "island,bill,mass,sex\nDream,40,NA,\n")
    result = cli(["predict", str(run), str(tmp_path / "new.csv")])
    assert result.exit_code == 0, result.output


def test_the_encoding_in_the_checkpoint_holds_everything_fitted(tmp_path: Path) -> None:
    run = trained(tmp_path)
    with np.load(run / "checkpoints" / "last.npz", allow_pickle=False) as checkpoint:
        encoding = json.loads(str(checkpoint["data.encoding"]))
    kinds = {f["name"]: f["kind"] for f in encoding["features"]}
    assert kinds == {"island": "categorical", "bill": "numeric", "mass": "numeric",
                     "sex": "categorical"}  # fmt: skip
    assert encoding["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    mass = next(f for f in encoding["features"] if f["name"] == "mass")
    assert mass["fill"] is not None  # the training split's median
    sex = next(f for f in encoding["features"] if f["name"] == "sex")
    assert sex["categories"] == ["female", "male", MISSING]


# --------------------------------------------------------------- inspection
def test_inspect_reports_columns_missing_values_task_and_splits(tmp_path: Path) -> None:
    penguin_like(tmp_path)
    experiment = config(
        tmp_path, "{path: birds.csv, target: species, missing: median, test_split: 0.2}",
        softmax_layers(3), "cross_entropy",
    )  # fmt: skip
    result = cli(["inspect", str(experiment), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    columns = {c["name"]: c for c in info["columns"]}
    assert columns["island"] == {"name": "island", "kind": "categorical", "missing": 0,
                                 "categories": 2, "action": ""}  # fmt: skip
    assert columns["mass"]["missing"] == 5 and columns["mass"]["action"] == "filled with the median"
    assert columns["sex"]["action"] == f"category {MISSING}"
    assert info["classes"] == {"Adelie": 30, "Chinstrap": 30, "Gentoo": 30}
    assert info["splits"] == {"train": 63, "val": 9, "test": 18}
    # bill, mass; island=Biscoe, island=Dream; sex=female, sex=male, sex=<missing>
    assert info["input_width"] == 7 and info["feature_bytes"] == 90 * 7 * 4
    printed = cli(["inspect", str(experiment)])
    assert printed.exit_code == 0 and "filled with the median" in printed.output


def test_columns_that_identify_rows_are_flagged_by_inspect_and_train(tmp_path: Path) -> None:
    """`rownames` (1..n shuffled), a text `customer` of one value per row and a `ticket_id` of
    scattered whole numbers say which row it is: flagged. `area` (whole, unique, neither named
    like an id nor consecutive) and `rooms` (repeated) are measurements: not flagged."""
    rng = np.random.default_rng(0)
    n = 40
    rownames = rng.permutation(n) + 1
    tickets = rng.choice(10**6, n, replace=False)
    areas = rng.choice(np.arange(50, 400), n, replace=False)
    rows = "".join(
        f"{rownames[i]},c{i:03d},{tickets[i]},{areas[i]},{i % 5},{'ab'[i % 2]}\n" for i in range(n)
    )
    write(tmp_path / "houses.csv", "rownames,customer,ticket_id,area,rooms,kind\n" + rows)
    experiment = config(tmp_path, "{path: houses.csv, target: kind}", softmax_layers(2),
                        "cross_entropy")  # fmt: skip
    info = json.loads(cli(["inspect", str(experiment), "--json"]).output)
    flagged = [c["name"] for c in info["columns"] if c.get("identifies_rows")]
    assert flagged == ["rownames", "customer", "ticket_id"]
    action = next(c["action"] for c in info["columns"] if c["name"] == "customer")
    assert action == "unique per row, like an id: add it to data.drop"
    trained = cli(["train", str(experiment), "--out", str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    first = " ".join(trained.output.split())
    assert "'rownames', 'customer', 'ticket_id' are unique per row, like an id: add them to " \
        "data.drop" in first  # fmt: skip
    dropped = config(tmp_path, "{path: houses.csv, target: kind, drop: [rownames, customer, "
                     "ticket_id]}", softmax_layers(2), "cross_entropy")  # fmt: skip
    info = json.loads(cli(["inspect", str(dropped), "--json"]).output)
    assert not any(c.get("identifies_rows") for c in info["columns"])


def test_too_few_rows_or_a_missing_cell_flag_no_column(tmp_path: Path) -> None:
    from backprop_cli.data.table.identifiers import row_identifiers
    from backprop_cli.data.table.read import Request, read_table

    few = write(tmp_path / "few.csv", "id,y\n" + "".join(f"{i},{i % 2}\n" for i in range(9)))
    assert row_identifiers(read_table(few, Request(target="y"), F64)) == []
    rows = "".join(f"{'' if i == 3 else i},{i % 2}\n" for i in range(30))
    gap = write(tmp_path / "gap.csv", "id,y\n" + rows)
    assert row_identifiers(read_table(gap, Request(target="y"), F64)) == []
    whole = write(tmp_path / "whole.csv", "id,y\n" + "".join(f"{i},{i % 2}\n" for i in range(30)))
    assert row_identifiers(read_table(whole, Request(target="y"), F64)) == ["id"]


def test_inspect_shows_the_columns_before_a_data_error(tmp_path: Path) -> None:
    penguin_like(tmp_path)
    experiment = config(
        tmp_path, "{path: birds.csv, target: species}", softmax_layers(3), "cross_entropy"
    )
    result = cli(["inspect", str(experiment)])
    assert result.exit_code == 2
    assert "mass" in result.output and "rows miss a feature value" in result.output


# -------------------------------------------------------------------- cache
def cached_load(path: Path, **data: Any) -> Any:
    return load(path=str(path), test_split=0.2, **data)


def test_a_second_load_is_served_by_the_cache_with_the_same_arrays(tmp_path: Path) -> None:
    path = penguin_like(tmp_path)
    first = cached_load(path, target="species", missing="median")
    second = cached_load(path, target="species", missing="median")
    assert first.report["cache"] == "stored" and second.report["cache"] == "hit"
    assert isinstance(second.train.X, np.memmap) and not second.train.X.flags.writeable
    for name in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(arrays_of(first)[name], arrays_of(second)[name])
    assert second.encoding.to_json() == first.encoding.to_json()


def test_a_header_of_many_repeated_names_is_refused_at_once(tmp_path: Path) -> None:
    """Repeated names are counted in one pass (counted name by name, 40,000 columns took 30 s
    before the message); the message names each repeated one once."""
    path = tmp_path / "wide.csv"
    path.write_text(",".join(["a", "b"] * 20_000) + "\n" + ",".join(["1"] * 40_000) + "\n")
    with pytest.raises(DataError, match=r"the header names 'a', 'b' more than once"):
        cached_load(path)


def test_a_copy_served_by_the_cache_is_reported_under_its_own_name(tmp_path: Path) -> None:
    path = penguin_like(tmp_path)
    copy = tmp_path / "elsewhere" / "copy.csv"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())  # the same bytes: the same cache entry
    first = cached_load(path, target="species", missing="median")
    second = cached_load(copy, target="species", missing="median")
    assert second.report["cache"] == "hit"
    assert (first.report["source"], second.report["source"]) == (str(path), str(copy))


def test_a_changed_file_or_setting_is_never_served_stale(tmp_path: Path) -> None:
    path = penguin_like(tmp_path)
    first = cached_load(path, target="species", missing="median")
    changed = cached_load(path, target="species", missing="mean")
    assert changed.report["cache"] == "stored"
    text = path.read_text().replace("Dream", "Torgersen")
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old time stamp
    edited = cached_load(path, target="species", missing="median")
    assert edited.report["cache"] == "stored"
    assert edited.feature_names != first.feature_names  # island=Torgersen now


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    path = penguin_like(tmp_path)
    first = cached_load(path, target="species", missing="median")
    root = Path(os.environ["BPROP_CACHE_DIR"]) / "tables"
    (entry,) = [p for p in root.iterdir() if p.is_dir()]
    (entry / "X_train.npy").write_bytes(b"\x93NUMPY garbage")
    again = cached_load(path, target="species", missing="median")
    assert again.report["cache"] == "stored"
    np.testing.assert_array_equal(first.train.X, again.train.X)


def test_an_unwritable_cache_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = penguin_like(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BPROP_CACHE_DIR", str(blocker))  # tables/ cannot be made under a file
    splits = cached_load(path, target="species", missing="median")
    assert splits.report["cache"] == "off" and blocker.read_text() == "not a folder"


def test_a_training_run_from_the_cache_equals_one_from_the_file(tmp_path: Path) -> None:
    penguin_like(tmp_path)
    experiment = config(
        tmp_path, "{path: birds.csv, target: species, missing: median, test_split: 0.2}",
        softmax_layers(3), "cross_entropy",
    )  # fmt: skip
    for run in ("a", "b"):
        result = cli(["train", str(experiment), "--out", str(tmp_path / run), "--quiet"])
        assert result.exit_code == 0, result.output
    from helpers import assert_same_arrays

    assert_same_arrays(tmp_path / "a/checkpoints/last.npz", tmp_path / "b/checkpoints/last.npz")


# ------------------------------------------------------------ odd files
def test_spaces_around_header_names_are_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a, b , y\n1, 2, 0\n3, 4, 1\n")
    splits = load(path=str(path), target="y")
    assert splits.feature_names == ["a", "b"] and splits.train.X.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin.csv", "a,town,y\n1,Zürich,0\n".encode("latin-1"), "is not UTF-8 text"),
        ("bad.parquet", b"PAR1 not really", "cannot read it as a Parquet file"),
        ("bad.feather", b"garbage", "cannot read it as a Feather/Arrow file"),
        ("dup.csv", b"a,a,y\n1,2,0\n", "the header names 'a' more than once"),
        ("late-text.csv", None, "row 200002, column 'a': 'oops' is not a number"),
    ],
)
def test_files_arrow_cannot_read_exit_cleanly_naming_the_file(
    name: str, content: bytes | None, message: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    if content is None:  # text far below the first blocks Arrow infers the types from
        rows = "".join(f"{i},{i % 2}\n" for i in range(200_000))  # 1.6 MB
        path.write_text("a,y\n" + rows + "oops,1\n")
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as raised:
        load(path=str(path))
    assert str(path) in str(raised.value)


def test_a_nested_column_is_refused_naming_the_cast(tmp_path: Path) -> None:
    feather.write_feather(pa.table({"a": [[1, 2], [3]], "y": [0, 1]}), tmp_path / "n.feather")
    with pytest.raises(DataError, match="Unsupported cast from list"):
        load(path=str(tmp_path / "n.feather"))


def test_a_comparison_prepares_the_table_once_before_its_worker_processes(tmp_path: Path) -> None:
    from backprop_cli.config import load_config
    from backprop_cli.runs.train.build import build_splits
    from backprop_cli.runs.train.plan import warm_data_cache
    from backprop_cli.runs.trained.seeding import generators

    penguin_like(tmp_path)
    experiment = config(
        tmp_path, "{path: birds.csv, target: species, missing: median, test_split: 0.2}",
        softmax_layers(3), "cross_entropy",
    )  # fmt: skip
    cfg = load_config(experiment)
    warm_data_cache([cfg, cfg])  # what compare-optimizers and sweep do before their workers
    root = Path(os.environ["BPROP_CACHE_DIR"]) / "tables"
    assert len([p for p in root.iterdir() if p.is_dir()]) == 1
    assert build_splits(cfg, generators(cfg.seed).data).report["cache"] == "hit"
    result = cli(["compare-optimizers", str(experiment), "--optimizers", "sgd,adam", "--jobs",
                  "2", "--out", str(tmp_path / "race"), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len([p for p in root.iterdir() if p.is_dir()]) == 1  # no second entry, no new parse
