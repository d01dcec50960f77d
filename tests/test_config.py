"""`build_config`: TOML-like values mapped onto typed, frozen dataclass fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from custom_agents.config import build_config, to_plain
from custom_agents.tabular import TabularConfig


@dataclass(frozen=True)
class ExampleConfig:
    """One field of every kind `build_config` supports."""

    steps: int = 10
    rate: float = 0.5
    verbose: bool = False
    name: str = "x"
    mode: Literal["fast", "slow"] = "fast"
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[float, float] = (0.0, 1.0)
    bounds: tuple[tuple[float, float], ...] | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"hyperparameter 'steps' must be >= 0, got {self.steps}")


def test_empty_values_give_the_defaults():
    assert build_config(ExampleConfig, {}) == ExampleConfig()


def test_unknown_key_is_refused_and_named():
    with pytest.raises(ValueError, match="colour") as error:
        build_config(ExampleConfig, {"steps": 3, "colour": "red"})
    assert "steps" in str(error.value)  # the allowed keys are listed


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", True),  # bool is not an int
        ("steps", 1.0),
        ("steps", "3"),
        ("steps", [3]),
        ("rate", "0.5"),  # str is not a number
        ("rate", False),  # bool is not a number
        ("rate", None),
        ("verbose", 1),  # int is not a bool
        ("verbose", "true"),
        ("name", 3),
        ("mode", "medium"),
        ("mode", 1),
        ("sizes", 3),  # a scalar for a list field
        ("sizes", "12"),  # a str is a sequence, but not a list
        ("sizes", [1, "2"]),  # a bad element
        ("sizes", [1, True]),
        ("pair", [0.0]),  # wrong length for a fixed-size tuple
        ("pair", [0.0, 1.0, 2.0]),
        ("pair", {"low": 0.0, "high": 1.0}),
        ("bounds", [[0.0, "1"]]),
        ("bounds", [0.0, 1.0]),  # not nested
        ("bounds", "none"),
        ("limit", 2.5),
        ("limit", True),
    ],
)
def test_wrong_type_is_refused_naming_the_field(field: str, value: Any):
    with pytest.raises(ValueError, match=f"'{field}'"):
        build_config(ExampleConfig, {field: value})


def test_lists_become_tuples():
    config = build_config(ExampleConfig, {"sizes": [3, 4, 5], "pair": [-1, 2.5], "bounds": [[0, 1], [-2.0, 2.0]]})
    assert config.sizes == (3, 4, 5)
    assert config.pair == (-1.0, 2.5)
    assert config.bounds == ((0.0, 1.0), (-2.0, 2.0))
    assert type(config.sizes) is tuple
    assert type(config.bounds) is tuple
    assert all(type(pair) is tuple for pair in config.bounds)
    hash(config)  # frozen and made of tuples: hashable


def test_int_is_accepted_for_float_and_converted():
    config = build_config(ExampleConfig, {"rate": 2, "pair": [0, 1]})
    assert config.rate == 2.0
    assert type(config.rate) is float
    assert all(type(x) is float for x in config.pair)


def test_values_of_the_right_type_pass_unchanged():
    values = {"steps": 7, "rate": 0.25, "verbose": True, "name": "n", "mode": "slow", "limit": 4}
    config = build_config(ExampleConfig, values)
    assert {key: getattr(config, key) for key in values} == values


def test_none_is_accepted_only_for_optional_fields():
    assert build_config(ExampleConfig, {"bounds": None, "limit": None}).limit is None
    with pytest.raises(ValueError, match="'steps'"):
        build_config(ExampleConfig, {"steps": None})


def test_post_init_check_runs_after_conversion():
    with pytest.raises(ValueError, match="'steps'"):
        build_config(ExampleConfig, {"steps": -1})


def test_to_plain_round_trips_through_build_config():
    config = build_config(ExampleConfig, {"sizes": [3], "bounds": [[0, 1]], "rate": 3})
    plain = to_plain(config)
    assert plain["sizes"] == [3]
    assert plain["bounds"] == [[0.0, 1.0]]
    assert list(plain) == [f.name for f in dataclasses.fields(ExampleConfig)]
    assert build_config(ExampleConfig, plain) == config


def test_tabular_config_from_toml_like_values():
    config = build_config(TabularConfig, {"num_bins": [1, 1, 8, 12], "bounds": [[-1, 1]] * 4, "gamma": 1})
    assert config.num_bins == (1, 1, 8, 12)
    assert config.bounds == ((-1.0, 1.0),) * 4
    assert config.gamma == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gamma", 1.5),
        ("gamma", float("nan")),
        ("min_learning_rate", 0),
        ("exploration_final_eps", -0.1),
        ("decay", 0),
        ("num_bins", [3, 0]),
        ("num_bins", []),
        ("bounds", [[1.0, -1.0]]),
        ("bounds", [[0.0, float("inf")]]),
    ],
)
def test_tabular_config_refuses_impossible_values_naming_the_field(field: str, value: Any):
    with pytest.raises(ValueError, match=f"'{field}'"):
        build_config(TabularConfig, {field: value})
