"""`bprop compare-optimizers` and `bprop plot`: fairness, parallel runs, outputs, exit codes."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import Result

from backprop_cli.config import ExperimentConfig, load_config
from backprop_cli.core.batching import Batching
from backprop_cli.runs.artifacts.outcomes import RunStatus, RunSummary
from backprop_cli.runs.campaigns.comparison import ranked, verdict
from backprop_cli.runs.train.plan import Plan

from helpers import CONFIG_DIR, assert_same_arrays, cli, history_of, strip_seconds

SPIRALS = CONFIG_DIR / "spirals.yaml"
FAST = ["--set", "training.epochs=3", "--set", "data.options.n_samples=120"]
CSV_COLUMNS = [
    "rank", "optimizer", "type", "hyperparameters", "status", "stop_epoch", "epochs_run",
    "final_train_loss", "best_train_loss", "best_val_loss", "final_val_accuracy", "test_accuracy",
    "target_epoch", "train_seconds", "total_seconds", "run_dir",
]  # fmt: skip


def compare(out: Path, *args: str, config: Path = SPIRALS) -> Result:
    return cli(["compare-optimizers", str(config), "--out", str(out), *FAST, *args])


def spirals_with(folder: Path, extra: str) -> Path:
    """spirals.yaml plus ``extra`` YAML text, written into ``folder``."""
    config = folder / "race.yaml"
    config.write_text(SPIRALS.read_text() + extra)
    return config


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "comparison.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_every_optimizer_starts_from_the_same_weights_and_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders: list[np.ndarray] = []  # every epoch's sample order, in the order the runs happen
    original = Batching.epoch

    def recording(self: Batching, n: int, shuffle: bool, rng: np.random.Generator) -> Iterator:
        batches = list(original(self, n, shuffle, rng))
        orders.append(np.concatenate(batches))
        return iter(batches)

    monkeypatch.setattr(Batching, "epoch", recording)
    out = tmp_path / "cmp"
    result = compare(out, "--optimizers", "sgd,momentum,rmsprop,adam")
    assert result.exit_code == 0, result.output
    names = ["sgd", "momentum", "rmsprop", "adam"]
    assert len(orders) == 3 * len(names)
    first_epochs = orders[::3]
    for order in first_epochs[1:]:
        np.testing.assert_array_equal(order, first_epochs[0])
    assert not np.array_equal(orders[0], orders[1])  # reshuffled each epoch, so the check bites
    first = out / "sgd/checkpoints/initial.npz"
    for name in names[1:]:
        assert_same_arrays(first, out / name / "checkpoints/initial.npz", "layers.")
    # Only the optimizer differs, and it does change the outcome.
    sgd, adam = (np.load(out / n / "checkpoints/last.npz") for n in ("sgd", "adam"))
    with sgd, adam:
        assert not np.array_equal(sgd["layers.0.W"], adam["layers.0.W"])


def test_parallel_runs_equal_serial_runs_bit_for_bit(tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert compare(serial, "--optimizers", "sgd,adam,rmsprop").exit_code == 0
    result = compare(parallel, "--optimizers", "sgd,adam,rmsprop", "--jobs", "2")
    assert result.exit_code == 0, result.output
    for name in ("sgd", "adam", "rmsprop"):
        a, b = serial / name, parallel / name
        assert_same_arrays(a / "checkpoints/last.npz", b / "checkpoints/last.npz")
        assert_same_arrays(a / "checkpoints/best.npz", b / "checkpoints/best.npz")
        assert strip_seconds(history_of(a)) == strip_seconds(history_of(b))
    drop = ("train_seconds", "total_seconds")
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows(serial)] == [
        {k: v for k, v in r.items() if k not in drop} for r in rows(parallel)
    ]


def test_a_diverging_optimizer_is_reported_and_the_rest_complete(tmp_path: Path) -> None:
    config = spirals_with(
        tmp_path,
        "compare:\n  optimizers:\n    - {type: sgd, lr: 1.0e+6}\n"
        "    - {type: adam, lr: 0.01}\n    - {type: momentum, lr: 0.05}\n",
    )
    out = tmp_path / "cmp"
    result = compare(out, config=config)
    assert result.exit_code == 0, result.output
    table = {r["optimizer"]: r for r in rows(out)}
    assert table["sgd"]["status"] == "diverged"
    assert int(table["sgd"]["stop_epoch"]) >= 1
    assert table["sgd"]["rank"] == "3"  # diverged runs rank last
    assert table["adam"]["status"] == table["momentum"]["status"] == "ok"
    assert int(table["adam"]["epochs_run"]) == 3
    assert "sgd diverged at epoch" in result.output
    document = json.loads((out / "comparison.json").read_text())
    assert document["verdict"].endswith(f"sgd diverged at epoch {table['sgd']['stop_epoch']}.")


def test_every_optimizer_diverging_exits_3(tmp_path: Path) -> None:
    result = compare(tmp_path / "cmp", "--optimizers", "sgd,momentum", "--set", "optimizer.lr=1e6")
    assert result.exit_code == 3, result.output
    assert {r["status"] for r in rows(tmp_path / "cmp")} == {"diverged"}


def test_comparison_files_have_the_documented_columns(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = compare(out, "--optimizers", "sgd,nesterov,adamw", "--target-loss", "5")
    assert result.exit_code == 0, result.output
    with (out / "comparison.csv").open() as fh:
        assert next(csv.reader(fh)) == CSV_COLUMNS
    table = rows(out)
    assert [r["rank"] for r in table] == ["1", "2", "3"]
    assert {r["optimizer"] for r in table} == {"sgd", "nesterov", "adamw"}
    nesterov = next(r for r in table if r["optimizer"] == "nesterov")
    # --optimizers: each its own defaults with the base config's lr (0.01 in spirals.yaml).
    assert nesterov["hyperparameters"] == "lr=0.01 weight_decay=0 momentum=0.9"
    assert all(r["target_epoch"] == "1" for r in table)  # every loss starts below 5
    document = json.loads((out / "comparison.json").read_text())
    assert document["ranked_by"] == "best_val_loss" and document["target_loss"] == 5
    assert [r["optimizer"] for r in document["results"]] == [r["optimizer"] for r in table]
    assert document["winner"] == table[0]["optimizer"]
    assert document["results"][0]["hyperparameters"]["lr"] == 0.01
    losses = [float(r["best_val_loss"]) for r in table]
    assert losses == sorted(losses)
    for r in table:
        assert (out / r["run_dir"] / "metrics.json").exists()
        assert (out / r["run_dir"] / "config.yaml").read_text().count("type: " + r["type"]) == 1


@pytest.mark.parametrize("name", ["loss_curves.png", "accuracy_curves.png"])
def test_pictures_decode_as_images(tmp_path: Path, name: str) -> None:
    import matplotlib.pyplot as plt

    out = tmp_path / "cmp"
    assert compare(out, "--optimizers", "sgd,adam").exit_code == 0
    image = plt.imread(out / name)
    assert image.shape[0] >= 300 and image.shape[1] >= 500
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_regression_has_no_accuracy_picture(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert compare(out, "--optimizers", "sgd,adam", config=CONFIG_DIR / "sine.yaml").exit_code == 0
    assert (out / "loss_curves.png").exists() and not (out / "accuracy_curves.png").exists()


def test_compare_section_picks_optimizers_and_hyperparameters(tmp_path: Path) -> None:
    config = spirals_with(
        tmp_path,
        "compare:\n  target_loss: 0.9\n  optimizers:\n"
        "    - {type: adam, lr: 0.01}\n    - {type: adam, lr: 0.001}\n",
    )
    out = tmp_path / "cmp"
    assert compare(out, config=config).exit_code == 0
    table = {r["optimizer"]: r for r in rows(out)}
    assert set(table) == {"adam", "adam-2"}
    assert table["adam-2"]["hyperparameters"].startswith("lr=0.001 ")
    assert json.loads((out / "comparison.json").read_text())["target_loss"] == 0.9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizers", "sgd,adma"], "did you mean 'adam'?"),
        (["--optimizers", ","], "at least one optimizer"),
        (["--set", "optimizer.lr=-1"], "optimizer.lr"),
        (["--set", "training.epoks=3"], "did you mean 'epochs'?"),
        (["--target-loss", "0"], "--target-loss"),
    ],
)
def test_bad_input_exits_2_before_writing(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "cmp"
    result = compare(out, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_a_bad_compare_section_names_its_key(tmp_path: Path) -> None:
    config = spirals_with(tmp_path, "compare:\n  optimizers: [{type: adagrad}]\n")
    result = compare(tmp_path / "cmp", config=config)
    assert result.exit_code == 2
    assert "compare.optimizers.0.type: unknown type 'adagrad'" in result.output


def test_an_existing_comparison_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert compare(out, "--optimizers", "sgd").exit_code == 0
    before = (out / "comparison.csv").read_text()
    result = compare(out, "--optimizers", "adam")
    assert result.exit_code == 2 and "already holds a comparison" in result.output
    assert (out / "comparison.csv").read_text() == before


def test_default_directory_gets_a_fresh_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["compare-optimizers", str(SPIRALS), *FAST, "--optimizers", "sgd", "--quiet"]
    assert cli(base).exit_code == 0
    assert cli(base).exit_code == 0
    assert (tmp_path / "runs/spirals-compare/sgd").is_dir()
    assert (tmp_path / "runs/spirals-compare-2/comparison.csv").is_file()


def test_ranking_without_validation_uses_train_loss() -> None:
    a = RunSummary("a", RunStatus.OK, best_train_loss=0.5)
    b = RunSummary("b", RunStatus.OK, best_train_loss=0.25)
    c = RunSummary("c", RunStatus.DIVERGED, stop_epoch=2, best_train_loss=0.1)
    ranking, metric = ranked([a, c, b])
    assert metric == "best_train_loss"
    assert [r.name for r in ranking] == ["b", "a", "c"]
    # 0.5 / 0.25 = 2: "2×"; c diverged, so it ranks last despite its lower loss.
    assert verdict(ranking, metric, None) == (
        "b wins with best train loss 0.25, 2× below a (0.5); c diverged at epoch 2."
    )


def test_the_verdict_says_how_far_below_the_runner_up_the_winner_is() -> None:
    """Golden: 0.01692 against 0.03222 is (1 − 0.01692/0.03222) = 47.5 % below (not the 90.4 %
    by which the runner-up's is above); a ratio of 2 or more is a factor."""
    a = RunSummary("rmsprop", RunStatus.OK, best_val_loss=0.01692)
    b = RunSummary("adamw", RunStatus.OK, best_val_loss=0.03222)
    ranking, metric = ranked([b, a])
    assert verdict(ranking, metric, None) == (
        "rmsprop wins with best val loss 0.01692, 47.5% below adamw (0.03222)."
    )


# ------------------------------------------------------------------- plot
@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plot") / "cmp"
    assert compare(out, "--optimizers", "sgd,adam").exit_code == 0
    return out


def test_plot_draws_runs_and_comparisons(comparison: Path, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    other = tmp_path / "other" / "sgd"
    shutil.copytree(comparison / "sgd", other)
    target = tmp_path / "p.png"
    args = ["plot", str(comparison / "sgd"), str(comparison), str(other), "-o", str(target)]
    result = cli([*args, "--metric", "train_loss,val_accuracy,lr", "--log"])
    assert result.exit_code == 0, result.output
    # cmp/sgd is named twice but drawn once; two runs called sgd are told apart by their parent.
    assert "(cmp/sgd, adam, other/sgd)" in result.output
    assert plt.imread(target).shape[1] >= 900  # three panels side by side


def test_plot_default_name_never_overwrites(
    comparison: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(["plot", str(comparison)]).exit_code == 0
    assert cli(["plot", str(comparison)]).exit_code == 0
    assert (tmp_path / "plot.png").is_file() and (tmp_path / "plot-2.png").is_file()
    result = cli(["plot", str(comparison), "--out", "plot.png"])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert cli(["plot", str(comparison), "--out", "plot.png", "--overwrite"]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "val_los"], "available:"),
        (["--out", "x.jpg"], "must end in .png"),
    ],
)
def test_plot_bad_input_exits_2(comparison: Path, args: list[str], message: str) -> None:
    result = cli(["plot", str(comparison), *args])
    assert result.exit_code == 2 and message in result.output


def test_plot_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = cli(["plot", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output


COMPARE_CONFIGS = sorted(p for p in CONFIG_DIR.glob("compare-*.yaml"))


@pytest.mark.parametrize("config", COMPARE_CONFIGS, ids=[c.stem for c in COMPARE_CONFIGS])
def test_example_comparisons_run(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = cli(
        ["compare-optimizers", str(config), "--out", str(out), "--set", "training.epochs=2"]
    )
    assert result.exit_code == 0, result.output
    assert len(rows(out)) == len(load_config(config).compare.optimizers)


def test_interrupting_keeps_the_finished_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backprop_cli.runs.campaigns.campaign as campaign_module

    calls = []
    real_prepare = campaign_module.prepare

    def prepare_then_interrupt(cfg: ExperimentConfig) -> Plan:
        calls.append(cfg.optimizer.type)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_prepare(cfg)

    monkeypatch.setattr(campaign_module, "prepare", prepare_then_interrupt)
    out = tmp_path / "cmp"
    result = compare(out, "--optimizers", "sgd,adam,rmsprop")
    assert result.exit_code == 130
    assert calls == ["sgd", "adam"]
    table = [(r["optimizer"], r["status"]) for r in rows(out)]
    assert table == [("sgd", "ok"), ("adam", "cancelled"), ("rmsprop", "cancelled")]
    assert (out / "sgd/metrics.json").exists() and not (out / "rmsprop").exists()


def test_a_stop_request_ends_the_race_after_saving_the_current_run(tmp_path: Path) -> None:
    from backprop_cli.runs.campaigns.campaign import Campaign, JobEnded
    from backprop_cli.runs.campaigns.race import contestants

    cfg = load_config(SPIRALS, ["training.epochs=3", "data.options.n_samples=120"])
    lineup = contestants(cfg, ["sgd", "adam", "rmsprop"], str(SPIRALS))
    campaign = Campaign(tmp_path)
    asked = 0

    def stop() -> bool:  # asked after every step: stop during the second optimizer's run
        nonlocal asked
        asked += 1
        return asked > 12  # 9 steps per run: 3 epochs of 3 batches

    campaign.stop = stop  # type: ignore[assignment]
    done = [e.summary for e in campaign.events(lineup) if isinstance(e, JobEnded)]
    statuses = [(r.name, r.status) for r in done]
    assert statuses == [("sgd", "ok"), ("adam", "interrupted"), ("rmsprop", "cancelled")]
    assert not (tmp_path / "rmsprop").exists()
    assert json.loads((tmp_path / "adam/metrics.json").read_text())["stop_reason"] == "interrupted"
