"""`Discretizer`: continuous observations -> one row-major state index."""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest

from custom_agents.discretize import Discretizer, cartpole_bounds

CARTPOLE_LIKE = ((3, 3, 6, 6), ((-4.8, 4.8), (-0.5, 0.5), (-0.41887903, 0.41887903), (-0.87266, 0.87266)))
# Configurations with awkward bounds, where (x - low) / width is inexact near the edges.
CONFIGS = [
    CARTPOLE_LIKE,
    ((1, 1, 8, 12), CARTPOLE_LIKE[1]),
    ((7,), ((-0.1, 0.2),)),
    ((9, 2), ((1e-3, 3e-3), (-1e6, 1e-6))),
    ((10, 10, 10), ((0.0, 1.0), (-1.0, 0.3), (-7.7, 7.7))),
]


def reference_indices(discretizer: Discretizer, observations: np.ndarray) -> np.ndarray:
    """The contract written with `np.digitize` (right=False): shape (n,)."""
    state = np.zeros(len(observations), dtype=np.int64)
    for d, (edges, stride) in enumerate(zip(discretizer.edges, discretizer.strides, strict=True)):
        state += np.digitize(observations[:, d], edges, right=False) * stride
    return state


def scalar_indices(discretizer: Discretizer, observations: np.ndarray) -> np.ndarray:
    """The per-step path, one Python list per row: shape (n,)."""
    return np.array([discretizer.index(row) for row in observations.tolist()], dtype=np.int64)


def test_value_on_an_interior_edge_goes_to_the_bin_above():
    discretizer = Discretizer([4], [(0.0, 4.0)])
    np.testing.assert_array_equal(discretizer.edges[0], [1.0, 2.0, 3.0])
    for value, expected in [(0.0, 0), (0.999, 0), (1.0, 1), (1.5, 1), (2.0, 2), (3.0, 3), (4.0, 3)]:
        assert discretizer.index([value]) == expected, value
        assert discretizer.indices(np.array([[value]]))[0] == expected, value


@pytest.mark.parametrize(("num_bins", "bounds"), CONFIGS)
def test_every_edge_and_its_neighbours_match_digitize(num_bins, bounds):
    discretizer = Discretizer(num_bins, bounds)
    rows = []
    for d, edges in enumerate(discretizer.edges):
        for edge in edges:
            for value in (edge, np.nextafter(edge, -np.inf), np.nextafter(edge, np.inf)):
                row = np.array([lo for lo, _ in discretizer.bounds], dtype=np.float64)
                row[d] = value
                rows.append(row)
    observations = np.array(rows)
    expected = reference_indices(discretizer, observations)
    np.testing.assert_array_equal(scalar_indices(discretizer, observations), expected)
    np.testing.assert_array_equal(discretizer.indices(observations), expected)


def test_values_out_of_bounds_fall_in_the_end_bins():
    discretizer = Discretizer([5], [(-1.0, 1.0)])
    for value in (-1.0, -1.0001, -1e300, -np.inf, -float(np.finfo(np.float64).max)):
        assert discretizer.index([value]) == 0, value
        assert discretizer.indices(np.array([[value]]))[0] == 0, value
    for value in (1.0, 1.0001, 1e300, np.inf, float(np.finfo(np.float64).max)):
        assert discretizer.index([value]) == 4, value
        assert discretizer.indices(np.array([[value]]))[0] == 4, value


@pytest.mark.parametrize("num_bins", [(3, 4), (1, 4), (3, 1)])
def test_nan_is_refused_by_both_paths(num_bins):
    discretizer = Discretizer(num_bins, [(0.0, 1.0), (0.0, 1.0)])
    for row in ([math.nan, 0.5], [0.5, math.nan]):
        with pytest.raises(ValueError, match="NaN"):
            discretizer.index(row)
        with pytest.raises(ValueError, match="NaN"):
            discretizer.indices(np.array([[0.5, 0.5], row]))


@pytest.mark.parametrize(("num_bins", "bounds"), CONFIGS)
def test_scalar_and_vectorized_paths_agree_on_random_values(num_bins, bounds):
    discretizer = Discretizer(num_bins, bounds)
    rng = np.random.default_rng(12345)
    low = np.array([lo for lo, _ in discretizer.bounds])
    high = np.array([hi for _, hi in discretizer.bounds])
    margin = 0.2 * (high - low)
    uniform = rng.uniform(low - margin, high + margin, size=(5000, len(num_bins)))
    # Snap some values onto a fine grid that contains every edge's neighbourhood, then add float32 ones.
    snapped = low + np.round((uniform - low) / (high - low) * 120) / 120 * (high - low)
    observations = np.concatenate([uniform, snapped, uniform.astype(np.float32), snapped.astype(np.float32)])
    observations = observations.astype(np.float64)
    expected = reference_indices(discretizer, observations)
    np.testing.assert_array_equal(scalar_indices(discretizer, observations), expected)
    np.testing.assert_array_equal(discretizer.indices(observations), expected)
    assert expected.min() >= 0
    assert expected.max() < discretizer.n_states


def test_float32_batch_agrees_with_the_scalar_path_on_its_values():
    discretizer = Discretizer(*CARTPOLE_LIKE)
    rng = np.random.default_rng(7)
    observations = rng.normal(0.0, 0.5, size=(2000, 4)).astype(np.float32)
    scalar = np.array([discretizer.index(row.tolist()) for row in observations])
    np.testing.assert_array_equal(discretizer.indices(observations), scalar)


def test_one_bin_dimensions_are_ignored():
    discretizer = Discretizer([1, 3, 1], [(0.0, 1.0), (0.0, 3.0), (0.0, 1.0)])
    assert discretizer.n_states == 3
    for ignored in (-np.inf, -5.0, 0.0, 0.7, 123.0, np.inf):
        for value, expected in [(0.5, 0), (1.5, 1), (2.5, 2)]:
            row = [ignored, value, -ignored]
            assert discretizer.index(row) == expected
            assert discretizer.indices(np.array([row]))[0] == expected


def test_state_index_is_row_major_with_the_last_dimension_fastest():
    # Bins of width 1 on [0, 2), [0, 3), [0, 4): strides 12, 4, 1.
    discretizer = Discretizer([2, 3, 4], [(0.0, 2.0), (0.0, 3.0), (0.0, 4.0)])
    assert discretizer.n_states == 24
    assert discretizer.strides == (12, 4, 1)
    examples = {
        (0.5, 0.5, 0.5): 0,
        (0.5, 0.5, 3.5): 3,
        (0.5, 1.5, 0.5): 4,
        (1.5, 0.5, 0.5): 12,
        (1.5, 2.5, 0.5): 20,
        (1.5, 2.5, 3.5): 23,
        (0.5, 2.5, 1.5): 9,
    }
    for row, expected in examples.items():
        assert discretizer.index(list(row)) == expected, row
        assert discretizer.indices(np.array([row]))[0] == expected, row
    centres = [np.arange(n) + 0.5 for n in discretizer.num_bins]
    everything = [discretizer.index(list(row)) for row in itertools.product(*centres)]
    assert everything == list(range(24))


@pytest.mark.parametrize(
    ("num_bins", "bounds"),
    [
        ([0], [(0.0, 1.0)]),
        ([-2], [(0.0, 1.0)]),
        ([3, 3], [(0.0, 1.0)]),  # lengths differ
        ([3], [(1.0, 1.0)]),  # low == high
        ([3], [(1.0, 0.0)]),  # low > high
        ([3], [(0.0, math.inf)]),
        ([3], [(-math.inf, 0.0)]),
        ([3], [(math.nan, 1.0)]),
    ],
)
def test_bad_bins_or_bounds_are_refused(num_bins, bounds):
    with pytest.raises(ValueError):
        Discretizer(num_bins, bounds)


def test_cartpole_bounds(cartpole: gym.Env):
    space = cartpole.observation_space
    bounds = cartpole_bounds(space.low, space.high)
    assert bounds == (
        (float(space.low[0]), float(space.high[0])),
        (-0.5, 0.5),
        (float(space.low[2]), float(space.high[2])),
        (-math.radians(50), math.radians(50)),
    )
    assert bounds[0] == pytest.approx((-4.8, 4.8))
    assert bounds[2] == pytest.approx((-math.radians(24), math.radians(24)))


def test_cartpole_bounds_need_four_dimensions():
    with pytest.raises(ValueError):
        cartpole_bounds([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
