"""core/hyper: a hyperparameter's declared range, as checks, messages and config bounds."""

from __future__ import annotations

import pytest

from backprop_cli.core.hyper import Hyper, check_all
from backprop_cli.errors import ConfigError

RATE = Hyper(0.5, "A rate.", 0, 1, high_open=True)
POSITIVE = Hyper(1e-8, "Added.", 0, low_open=True)
STEPS = Hyper(10, "Epochs.", 1, integer=True)
FLAG = Hyper(False, "A switch.")
FREE = Hyper(0.0, "Anything.")
LATER = Hyper(None, "Decided elsewhere.", 1, integer=True)
CLOSED = Hyper(0.5, "Both ends included.", 0, 1)


def test_intervals_read_as_written() -> None:
    assert RATE.interval() == "[0, 1)"
    assert POSITIVE.interval() == "(0, ∞)"
    assert STEPS.interval() == "[1, ∞)"
    assert FREE.interval() == "(−∞, ∞)"
    assert Hyper(0.0, low=-2.5, high=3, low_open=True).interval() == "(-2.5, 3]"


def test_bounds_are_pydantics_arguments() -> None:
    assert RATE.bounds() == {"ge": 0, "lt": 1}
    assert POSITIVE.bounds() == {"gt": 0}
    assert Hyper(0.0, low=0.5, high=2, low_open=True).bounds() == {"gt": 0.5, "le": 2}
    assert FREE.bounds() == {}
    assert isinstance(RATE.bounds()["ge"], int)  # 0, not 0.0, as a reader writes it


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (RATE, 0, 0.0), (RATE, 0.99, 0.99), (POSITIVE, 1e-12, 1e-12), (STEPS, 3, 3),
        (STEPS, 4.0, 4), (FLAG, True, True), (FREE, -7, -7.0), (LATER, None, None),
        (LATER, 2, 2), (CLOSED, 1, 1.0), (CLOSED, 0, 0.0),
    ],
)  # fmt: skip
def test_values_in_range_come_back_as_python_numbers(
    spec: Hyper, value: object, expected: object
) -> None:
    checked = spec.check("k", value)
    assert checked == expected and type(checked) is type(expected)


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        (RATE, 1, "k must lie in [0, 1). Received: k=1"),
        (RATE, -0.1, "k must lie in [0, 1). Received: k=-0.1"),
        (POSITIVE, 0, "k must lie in (0, ∞). Received: k=0"),
        (STEPS, 0, "k must lie in [1, ∞). Received: k=0"),
        (STEPS, 2.5, "k must be a whole number. Received: k=2.5"),
        (FREE, float("nan"), "k must lie in (−∞, ∞). Received: k=nan"),
        (FREE, float("inf"), "k must lie in (−∞, ∞). Received: k=inf"),
        (POSITIVE, float("inf"), "k must lie in (0, ∞). Received: k=inf"),
        (CLOSED, 1.5, "k must lie in [0, 1]. Received: k=1.5"),
        (FREE, "3", "k must be a number. Received: k='3'"),
        (FREE, True, "k must be a number. Received: k=True"),
        (FLAG, 1, "k must be true or false. Received: k=1"),
        (RATE, None, "k must be a number. Received: k=None"),
    ],
)
def test_values_out_of_range_are_config_errors_naming_the_key(
    spec: Hyper, value: object, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        spec.check("k", value)
    assert str(caught.value) == message


def test_check_all_fills_defaults_and_refuses_unknown_keys() -> None:
    specs = {"rate": RATE, "steps": STEPS}
    assert check_all("thing", specs, {"steps": 2}) == {"rate": 0.5, "steps": 2}
    with pytest.raises(ConfigError) as caught:
        check_all("thing", specs, {"rat": 0.1})
    assert str(caught.value) == "thing takes no parameter rat (it takes rate, steps)"
    with pytest.raises(ConfigError) as caught:
        check_all("sgd", {}, {"momentum": 0.9})
    assert str(caught.value) == "sgd takes no parameter momentum (it takes none)"


def test_the_kind_follows_the_default() -> None:
    assert (FLAG.kind, STEPS.kind, RATE.kind, LATER.kind) == (bool, int, float, int)
