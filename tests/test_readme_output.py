"""The rules by which `make docs-test` compares the README's shown output with a command's."""

from __future__ import annotations

import pytest

from readme_output import line_matches, output_matches


@pytest.mark.parametrize(
    ("shown", "printed", "tolerance", "expected"),
    [
        ("splits: train 206, validation 69", "splits: train 206, validation 69", None, True),
        ("splits: train 206, validation 69", "splits: train 207, validation 69", None, False),
        ("splits: train 206", "splits: train 206, validation 69", None, False),  # whole lines
        ("suggested lr: 0.01", "suggested lr: 0.010", None, False),  # exact means as text
        ("│ test accuracy │ 0.9855 │", "│ test accuracy │ 0.9710 │", 0.02, True),
        ("│ test accuracy │ 0.9855 │", "│ test accuracy │ 0.9420 │", 0.02, False),
        ("│ test accuracy │ 0.9855 │", "│ test loss     │ 0.9855 │", 0.02, False),  # the words
        ("Gentoo,7.00495e-07,3.40025e-05", "Gentoo,2.1e-06,3.1e-05", 0.02, True),
        ("Gentoo,7.00495e-07,3.40025e-05", "Adelie,2.1e-06,3.1e-05", 0.02, False),
        ("344 rows", "350 rows", 0.02, True),  # 2 % of 344 is 6.9
        ("344 rows", "352 rows", 0.02, False),
        ("loaded in 0.06s", "loaded in 12.5s", None, True),  # a duration is never the same
        ("loaded in 0.06s", "loaded in 0.06 s", None, False),
        ("3 samples", "4 samples", None, False),  # "s" starting a word is no duration
        ("wrote ... in runs/iris-cv", "wrote cv.csv, cv.json in runs/iris-cv", None, True),
        ("wrote ... in runs/iris-cv", "wrote cv.csv, cv.json in runs/iris", None, False),
        ("trailing   ", "trailing", None, True),
    ],
)
def test_a_shown_line_matches_a_printed_one(
    shown: str, printed: str, tolerance: float | None, expected: bool
) -> None:
    assert line_matches(shown, printed, tolerance) is expected


def test_an_ellipsis_line_stands_for_any_lines_and_nothing_else_is_skipped() -> None:
    printed = ["first", "a", "b", "c", "last"]
    assert output_matches(["first", "...", "last"], printed, None)
    assert output_matches(["first", "...", "c", "...", "last"], printed, None)
    assert output_matches(["...", "last"], printed, None)
    assert output_matches(["first", "a", "...", "b", "c", "last"], printed, None)  # none at all
    assert not output_matches(["first", "last"], printed, None)  # lines are not skipped silently
    assert not output_matches(["first", "...", "b", "a", "...", "last"], printed, None)  # order
    assert not output_matches(["first", "...", "missing", "...", "last"], printed, None)
    assert not output_matches(["first", "a", "b", "c"], printed, None)  # a line left over
    assert output_matches(["", "first", "a", "b", "c", "last", ""], [*printed, ""], None)
