"""`bprop demo`: every topic runs, and its numbers are the notes' (derivations in the asserts)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from backprop_cli import demos

from helpers import cli


def column(table: demos.Table, name: str) -> list[object]:
    k = table.columns.index(name)
    return [row[k] for row in table.rows]


def value(table: demos.Table, label: str) -> object:
    return next(row[1] for row in table.rows if row[0] == label)


def test_descent_shrinks_x_by_1_minus_2_lr_and_diverges_when_lr_is_too_large() -> None:
    shown = demos.descent()
    good, bad = shown.tables
    xs = column(good, "x")
    # x₁ = 3 − 0.1·(2·3) = 2.4; each step multiplies x by 1 − 2·0.1 = 0.8: x₁₀ = 3·0.8¹⁰.
    assert xs[1] == pytest.approx(2.4) and xs[10] == pytest.approx(3 * 0.8**10)
    # η = 1.1: x is multiplied by 1 − 2.2 = −1.2 each step: it flips sign and grows.
    bad_xs = column(bad, "x")
    assert bad_xs[1] == pytest.approx(-3.6) and abs(bad_xs[10]) == pytest.approx(3 * 1.2**10)


def test_chain_rule_gives_6_times_3x_plus_2() -> None:
    table = demos.chain_rule(x=1.0).tables[0]
    # g = 3·1 + 2 = 5, dy/dg = 10, dg/dx = 3, dy/dx = 30 = 6·5.
    assert value(table, "dy/dx = (dy/dg)·(dg/dx)") == 30.0
    assert value(table, "central difference (ε = 1e-4)") == pytest.approx(30.0, abs=1e-8)


def test_graph_gradients_by_the_chain_rule() -> None:
    forward, backward = demos.graph(w=2.0, x=3.0, b=1.0).tables
    # v = 2·3 + 1 = 7, L = 49; ∂L/∂v = 14, ∂L/∂w = 14·3 = 42, ∂L/∂b = 14, ∂L/∂x = 14·2 = 28.
    assert value(forward, "L = v²") == pytest.approx(49.0)
    assert value(backward, "∂L/∂w = ∂L/∂u · x") == pytest.approx(42.0)
    assert value(backward, "∂L/∂b = ∂L/∂v · 1") == pytest.approx(14.0)
    assert value(backward, "∂L/∂x = ∂L/∂u · w") == pytest.approx(28.0)


def test_backprop_walks_the_notes_example() -> None:
    forward, backward, updated = demos.backprop().tables
    assert value(forward, "z₁ = W₁x + b₁") == "[0.600000, 1.300000, 2.000000]"  # the notes' z₁
    a1 = 1 / (1 + np.exp(-np.array([0.6, 1.3, 2.0])))
    z2 = 0.7 * a1[0] + 0.8 * a1[1] + 0.9 * a1[2] + 0.4
    a2 = 1 / (1 + math.exp(-z2))
    delta2 = (a2 - 1.0) * a2 * (1 - a2)
    assert value(forward, "z₂ = W₂a₁ + b₂") == f"[{z2:.6f}]"
    assert value(backward, "δ₂ = (a₂ − y) ⊙ σ′(z₂)") == f"[{delta2:.6f}]"
    delta1 = np.array([0.7, 0.8, 0.9]) * delta2 * a1 * (1 - a1)
    assert (
        value(backward, "δ₁ = (W₂ᵀ δ₂) ⊙ σ′(z₁)")
        == "[" + ", ".join(f"{d:.6f}" for d in delta1) + "]"
    )
    assert value(updated, "b₂ ← b₂ − 0.1·∂L/∂b₂") == f"[{0.4 - 0.1 * delta2:.6f}]"


def test_optimizers_first_steps() -> None:
    table = demos.optimizers().tables[0]
    first = {row[0].split(" ")[0]: row[1] for row in table.rows}  # type: ignore[union-attr]
    # sgd: w − 0.1·g = [1 − 0.03, −2 + 0.01, 0.5 − 0.2]; adam's first step is lr·sign(g).
    assert first["sgd"] == "+0.970 -1.990 +0.300"
    assert first["momentum"] == first["sgd"]  # v = −lr·g on the first step
    assert first["adam"] == "+0.900 -1.900 +0.400"
    # rmsprop: c = 0.1·g², step = lr·g/√c = lr·sign(g)/√0.1 = 0.3162…
    assert first["rmsprop"] == "+0.684 -1.684 +0.184"


def test_schedules_table_and_plot(tmp_path: Path) -> None:
    shown = demos.schedules(lr0=0.1, epochs=20)
    table = shown.tables[0]
    row10 = table.rows[10]
    # cosine at e = 10 of 20: ½·0.1·(1 + cos(π/2)) = 0.05; step: 0.1·0.5² = 0.025.
    assert row10[table.columns.index("cosine")] == "0.05000"
    assert row10[table.columns.index("step")] == "0.02500"
    # plateau (factor ½, patience 3) on a val_loss flat from e = 5: epochs 6, 7 and 8 do not
    # improve, so e = 9 runs at 0.05; then every third epoch halves it again (12, 15, 18).
    plateau = [row[table.columns.index("plateau")] for row in table.rows]
    assert plateau[8:10] == ["0.10000", "0.05000"] and plateau[12] == "0.02500"
    assert plateau[18] == "0.00625"
    out = tmp_path / "s.png"
    result = cli(["demo", "schedules", "--plot", "--out", str(out)])
    assert result.exit_code == 0 and out.stat().st_size > 10_000


@pytest.mark.parametrize("topic", list(demos.TOPICS))
def test_every_topic_runs_from_the_command_line(topic: str) -> None:
    result = cli(["demo", topic])
    assert result.exit_code == 0, result.output
    assert demos.TOPICS[topic][1]().title[:20] in result.output.replace("\n", " ")


def test_chain_rule_at_a_chosen_point() -> None:
    result = cli(["demo", "chain-rule", "--x", "2"])
    # g = 3·2 + 2 = 8: dy/dx = 6·8 = 48
    assert result.exit_code == 0 and "48" in result.output
    assert cli(["demo", "descent", "--x", "2"]).exit_code == 2


def test_demo_alone_lists_the_topics_and_a_bad_topic_exits_2() -> None:
    listing = cli(["demo"])
    assert listing.exit_code == 0 and all(topic in listing.output for topic in demos.TOPICS)
    bad = cli(["demo", "nope"])
    assert bad.exit_code == 2 and "choose one of: descent" in bad.output
    assert cli(["demo", "graph", "--plot"]).exit_code == 2


def test_the_chain_rule_over_two_paths() -> None:
    # t = 2: x = t² = 4, y = 3t + 1 = 7; ∂z/∂x = y = 7, dx/dt = 2t = 4, ∂z/∂y = x = 4,
    # dy/dt = 3: dz/dt = 7·4 + 4·3 = 40 = 9t² + 2t = 36 + 4, the derivative of z = 3t³ + t².
    table = demos.chain_rule(x=2.0).tables[1]
    values = {row[0]: (row[2], row[3]) for row in table.rows}
    assert [values[k][0] for k in ("∂z/∂x", "dx/dt", "∂z/∂y", "dy/dt")] == [7, 4, 4, 3]
    total = values["dz/dt = ∂z/∂x·dx/dt + ∂z/∂y·dy/dt"]
    assert total[0] == 40 == values["d/dt of z = 3t³ + t²"][0]
    for value, difference in values.values():  # every term checked by a central difference
        assert difference == pytest.approx(value, rel=1e-9)


def test_activations_their_slopes_and_the_vanishing_product() -> None:
    shown = demos.activations()
    values, slopes, peaks, depths = shown.tables
    assert values.columns == ["activation", "z = -3", "z = -1", "z = 0", "z = 1", "z = 3"]
    row = {r[0]: r[1:] for r in slopes.rows}
    # σ′(0) = ½·½ = 0.25; tanh′(0) = 1; elu′(−1) = e⁻¹; prelu′(−1) = 0.25 (its initial slope)
    assert row["sigmoid"][2] == 0.25 and row["tanh"][2] == 1.0
    assert row["elu"][1] == pytest.approx(math.exp(-1), rel=1e-15) and row["prelu"][1] == 0.25
    assert "softmax" not in row
    assert peaks.rows == [["sigmoid′", 0.25, 0.0], ["tanh′", 1.0, 0.0]]
    assert [r[0] for r in depths.rows] == list(range(1, 11))
    assert [r[1] for r in depths.rows] == [0.25**n for n in range(1, 11)]
    ratios = [r[2] for r in depths.rows]
    assert 1e-7 < ratios[-1] < 1e-5  # ≈ 0.25¹⁰ ≈ 10⁻⁶ after ten sigmoid layers
    assert all(b < a for a, b in zip(ratios, ratios[2:], strict=False))  # falls with depth
    assert shown.metrics == ["value", "derivative"] and shown.x == "z"


def test_activations_plot_and_the_demos_that_draw(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    result = cli(["demo", "activations", "--plot", "--out", str(out)])
    assert result.exit_code == 0 and out.stat().st_size > 10_000
    assert [name for name, (_, make) in demos.TOPICS.items() if make().series] == list(demos.DRAWN)
    result = cli(["demo", "graph", "--plot", "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 2 and "it draws schedules and activations" in result.output
