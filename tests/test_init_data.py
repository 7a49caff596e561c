"""`bprop init`: starter configs that train as they are, fitted to a user's own table (`--data`)
or written for a built-in data set (`--dataset`), within 2 points of the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from backprop_cli.config.starter import SIZES, recipe
from backprop_cli.data import load_data
from backprop_cli.data.table.profile import profile
from backprop_cli.errors import DataError

from helpers import CONFIG_DIR, cli, train_quietly

DATASETS = Path(__file__).parent.parent / "datasets"


def init(tmp_path: Path, *args: str) -> tuple[Path, dict]:
    out = tmp_path / "starter.yaml"
    result = cli(["init", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, yaml.safe_load(out.read_text())


def accuracy_of(run: Path) -> float:
    return float(json.loads((run / "metrics.json").read_text())["test"]["accuracy"])


trained = train_quietly


def shipped_splits(name: str) -> list[str]:
    """The shipped config's split shares, so both models are scored on the same test rows."""
    data = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text())["data"]
    return [f"data.{key}={data[key]}" for key in ("validation_split", "test_split")]


def within_two_points(tmp_path: Path, name: str, *init_args: str) -> None:
    starter, _ = init(tmp_path, *init_args)
    mine = accuracy_of(trained(starter, tmp_path / "starter", *shipped_splits(name)))
    reference = accuracy_of(trained(CONFIG_DIR / f"{name}.yaml", tmp_path / "shipped"))
    assert mine >= reference - 0.02, (name, mine, reference)


# ---------------------------------------------------------- within 2 points
@pytest.mark.parametrize("name", ["iris", "penguins"])
def test_a_built_in_starter_trains_within_two_points_of_the_shipped_config(
    name: str, tmp_path: Path
) -> None:
    within_two_points(tmp_path, name, "--dataset", name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_a_wide_built_in_starter_trains_within_two_points_of_the_shipped_config(
    name: str, tmp_path: Path
) -> None:
    within_two_points(tmp_path, name, "--dataset", name)


def test_the_penguins_file_starter_trains_within_two_points_of_the_shipped_config(
    tmp_path: Path,
) -> None:
    within_two_points(
        tmp_path, "penguins", "--data", str(DATASETS / "penguins.csv"), "--target", "species"
    )


def test_the_sizes_starters_are_planned_from_are_the_data_sets() -> None:
    from backprop_cli.config.models import DataConfig
    from backprop_cli.config.starter import starter_config

    for name, (rows, inputs, classes) in SIZES.items():
        raw = yaml.safe_load(starter_config(name))["data"]
        section = DataConfig.model_validate(raw | {"validation_split": 0, "test_split": 0})
        task = "classification" if classes else "regression"
        splits = load_data(section, task, np.random.default_rng(0), True, np.dtype("f8"))
        assert splits.train.X.shape == (rows, inputs), name
        if classes:
            assert len(np.unique(splits.train.y)) == classes, name


# -------------------------------------------------------------- own tables
def houses(path: Path) -> Path:
    """Prices with a row id, a text id, a city of rare categories and gaps in `rooms`."""
    rng = np.random.default_rng(1)
    n = 300
    rooms = rng.integers(1, 8, n).astype(float)
    size = rng.uniform(40, 250, n)
    cities = np.array(["north", "south", "east"] + [f"village{i}" for i in range(6)])
    city = cities[np.minimum(rng.geometric(0.5, n) - 1, len(cities) - 1)]
    price = 30_000 + 2_000 * size + 9_000 * rooms + 20_000 * (city == "north")
    price += rng.normal(0, 10_000, n)
    lines = []
    for i in range(n):
        cell = "" if i % 25 == 3 else f"{rooms[i]:.0f}"
        lines.append(f"{10**9 + i},h{i:04d},{cell},{size[i]:.1f},{city[i]},{price[i]:.0f}")
    path.write_text("id,code,rooms,size,city,price\n" + "\n".join(lines) + "\n")
    return path


def test_a_starter_fitted_to_a_table_drops_ids_fills_gaps_and_converges(tmp_path: Path) -> None:
    data = houses(tmp_path / "houses.csv")
    config, raw = init(tmp_path, "--data", str(data), "--target", "price")
    section = raw["data"]
    assert section["path"] == "houses.csv"  # relative to the config
    assert section["target"] == "price" and section["drop"] == ["id", "code"]
    assert section["missing"] == "median" and section["unknown"] == "ignore"
    assert raw["loss"] == "mse" and raw["model"]["layers"][-1]["units"] == 1
    assert "12 " not in section and "rooms 12" in config.read_text()  # the gaps are counted
    run = trained(config, tmp_path / "run")
    evaluated = json.loads(cli(["evaluate", str(run), "--json"]).output)
    assert evaluated["r2"] > 0.8


def test_the_target_is_suggested_or_required(tmp_path: Path) -> None:
    rows = "".join(f"{i % 7},{i % 3},{'ab'[i % 2]}\n" for i in range(40))
    (tmp_path / "plain.csv").write_text("a,b,c\n" + rows)
    result = cli(["init", "--data", str(tmp_path / "plain.csv"), "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 2 and not (tmp_path / "p.yaml").exists()
    words = " ".join(result.output.split())
    assert "which column is to be predicted? Give it with --target COLUMN (columns: a, b, c)" in (
        words
    )
    (tmp_path / "named.csv").write_text("a,b,Label\n" + rows)
    _, raw = init(tmp_path, "--data", str(tmp_path / "named.csv"))
    assert raw["data"]["target"] == "Label"
    assert raw["loss"] == "binary_cross_entropy" and raw["model"]["layers"][-1]["units"] == 1
    wrong = cli(["init", "--data", str(tmp_path / "named.csv"), "--target", "z",
                 "--out", str(tmp_path / "z.yaml")])  # fmt: skip
    assert wrong.exit_code == 2 and "--target: 'z' is not a column" in wrong.output


@pytest.mark.parametrize(
    ("values", "task", "classes"),
    [
        ([1, 2, 3, 4, 5] * 8, "classification", ["1", "2", "3", "4", "5"]),  # a rating
        (list(range(18, 58)), "regression", []),  # ages: 40 values
        ([0.5, 1.5] * 20, "regression", []),  # fractions
    ],
)
def test_numbers_in_the_target_are_classes_only_when_few_and_whole(
    values: list[float], task: str, classes: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{i % 7},{v}\n" for i, v in enumerate(values)))
    found = profile(path, "y")
    assert found.task == task and found.classes == classes


def test_a_target_of_one_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{i},7\n" for i in range(20)))
    with pytest.raises(DataError, match="holds one value only"):
        profile(path, "y")


def test_names_that_yaml_would_misread_are_quoted(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i % 3},{(i * 7) % 11}.5\n" for i in range(40))
    (tmp_path / "odd table.csv").write_text('"true","no: really","sale price"\n' + rows)
    config, raw = init(tmp_path, "--data", str(tmp_path / "odd table.csv"), "--target",
                       "sale price")  # fmt: skip
    assert raw["data"]["target"] == "sale price" and raw["data"]["path"] == "odd table.csv"
    run = trained(config, tmp_path / "run")
    assert (run / "metrics.json").exists()


def test_init_never_replaces_a_file_and_refuses_two_sources(tmp_path: Path) -> None:
    data = houses(tmp_path / "houses.csv")
    out = tmp_path / "mine.yaml"
    out.write_text("# my own notes\n")
    result = cli(["init", "--data", str(data), "--target", "price", "--out", str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.read_text() == "# my own notes\n"
    both = cli(["init", "--data", str(data), "--dataset", "iris", "--out", str(tmp_path / "b")])
    assert both.exit_code == 2 and "give one of them" in both.output
    alone = cli(["init", "--target", "price", "--out", str(tmp_path / "c.yaml")])
    assert alone.exit_code == 2 and "give --data too" in alone.output


def test_init_data_to_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    houses(tmp_path / "houses.csv")
    result = cli(["init", "--data", "houses.csv", "--target", "price", "--out", "-"])
    assert result.exit_code == 0, result.output
    raw = yaml.safe_load(result.stdout)
    assert raw["name"] == "houses" and raw["data"]["path"] == "houses.csv"
    assert list(tmp_path.iterdir()) == [tmp_path / "houses.csv"]


def test_the_recipe_grows_with_the_inputs_and_rows() -> None:
    small, wide = recipe(150, 4), recipe(5_000, 784)
    assert small.hidden == (32,) and small.activation == "tanh" and small.batch == 16
    assert wide.hidden == (128, 64) and wide.activation == "relu" and wide.lr == 0.001
    assert (wide.validation_split, wide.test_split) == (0.1, 0.1)


# ------------------------------------------------------------ hostile tables
def write_rows(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    "name",
    [
        "my 😀",
        "1e3",
        "2e5",
        "<<",
        "a\x07b",
        "q\n  drop: [b]  #",
        "line\u2028break",
        "[red]x",
        "null",
        "-lead",
        'say "hi"',
    ],
)
def test_any_column_name_comes_back_as_it_was(name: str, tmp_path: Path) -> None:
    """Names YAML would misread, that hold line breaks or controls (and could otherwise write
    keys of their own into the config), or Rich markup: each is read back exactly, and the
    config trains."""
    rows = [[i % 7, f"w{i % 3}", "ab"[i % 2]] for i in range(40)]
    data = write_rows(tmp_path / "t.csv", ["b", name, "kind"], rows)
    _config, raw = init(tmp_path, "--data", str(data), "--target", "kind")
    assert raw["data"]["target"] == "kind" and "drop" not in raw["data"]
    assert set(raw["data"]) <= {"path", "target", "validation_split", "test_split", "standardize"}
    target = write_rows(tmp_path / "u.csv", ["b", name], [[i % 7, "ab"[i % 2]] for i in range(40)])
    out = tmp_path / "u.yaml"
    result = cli(["init", "--data", str(target), "--target", name, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["data"]["target"] == name
    trained(out, tmp_path / "run")
    assert cli(["inspect", str(out)]).exit_code == 0


@pytest.mark.parametrize("stem", ["2024-01-01", "1e3", "017", "yes", "null"])
def test_a_file_name_yaml_would_misread_still_names_the_run(stem: str, tmp_path: Path) -> None:
    rows = [[i % 7, "ab"[i % 2]] for i in range(40)]
    data = write_rows(tmp_path / f"{stem}.csv", ["b", "kind"], rows)
    out = tmp_path / "c.yaml"
    result = cli(["init", "--data", str(data), "--target", "kind", "--out", "-"])
    assert result.exit_code == 0
    out.write_text(result.stdout.replace(f"path: {stem}.csv", f"path: {data}"))
    assert yaml.safe_load(out.read_text())["name"] == stem
    assert cli(["config", str(out)]).exit_code == 0


def test_tables_a_starter_cannot_serve_are_refused_and_odd_ones_fitted(tmp_path: Path) -> None:
    few = write_rows(tmp_path / "few.csv", ["a", "y"], [[i % 3, i % 2] for i in range(12)])
    result = cli(["init", "--data", str(few), "--target", "y", "--out", str(tmp_path / "f.yaml")])
    assert result.exit_code == 2 and "12 rows are too few" in result.output
    ids = write_rows(tmp_path / "ids.csv", ["id", "y"], [[i, i % 2] for i in range(40)])
    result = cli(["init", "--data", str(ids), "--target", "y", "--out", str(tmp_path / "i.yaml")])
    assert result.exit_code == 2 and "no feature is left to learn from: id" in result.output
    # 26 rows: batches no larger than the training split; an empty column dropped; numbers
    # beyond float32 computed in float64
    odd = write_rows(tmp_path / "odd.csv", ["a", "e", "huge", "y"],
                     [[i % 5, "", (i % 4) * 1e300, i % 2] for i in range(26)])  # fmt: skip
    config, raw = init(tmp_path, "--data", str(odd), "--target", "y")
    assert raw["data"]["drop"] == ["e"] and raw["dtype"] == "float64"
    assert raw["training"]["batching"]["size"] <= 26 * 0.6
    trained(config, tmp_path / "run")


def test_init_never_writes_over_its_own_data(tmp_path: Path) -> None:
    data = houses(tmp_path / "houses.csv")
    before = data.read_bytes()
    result = cli(["init", "--data", str(data), "--target", "price", "--out", str(data),
                  "--overwrite"])  # fmt: skip
    assert result.exit_code == 2 and "is the --data file itself" in result.output
    assert data.read_bytes() == before
