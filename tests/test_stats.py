"""The report's statistics on tiny hand-made arrays, with exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rliable import metrics

from harness.analysis import stats


def test_mean_of_constant_scores_has_a_zero_width_interval_at_that_constant() -> None:
    assert stats.mean_interval(np.array([5.0, 5.0, 5.0]), random_state=0) == stats.Estimate(5.0, 5.0, 5.0)


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    estimate = stats.iqm_interval(np.array([100.0, 200.0, 300.0, 500.0]), random_state=0)
    assert estimate.value == 250.0
    assert 100.0 <= estimate.low <= 250.0 <= estimate.high <= 500.0


def test_mean_is_the_plain_mean_with_an_interval_inside_the_range() -> None:
    estimate = stats.mean_interval(np.array([100.0, 200.0, 300.0, 500.0]), random_state=0)
    assert estimate.value == 275.0
    assert 100.0 <= estimate.low < 275.0 < estimate.high <= 500.0


def test_same_random_state_same_interval_and_other_state_other_interval() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    first = stats.iqm_interval(scores, random_state=7)
    assert stats.iqm_interval(scores, random_state=7) == first
    assert stats.iqm_interval(scores, random_state=8) != first


def test_the_global_numpy_generator_is_left_as_it_was() -> None:
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    stats.mean_interval(np.array([1.0, 2.0, 3.0]), random_state=0)
    assert np.random.rand() == expected


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([1.0, 2.0], [1.0, 2.0], 0.5),
        ([3.0], [1.0, 2.0], 1.0),
        ([1.0, 2.0, 3.0], [2.0], 0.5),
        ([2.0, 3.0], [1.0, 2.0], 0.875),
        ([0.0, 0.0], [1.0, 1.0, 1.0], 0.0),
    ],
)
def test_improvement_probability_counts_wins_and_half_ties_as_rliable_does(
    x: list[float], y: list[float], expected: float
) -> None:
    assert stats.improvement_probability(np.array(x), np.array(y)) == expected
    rliable = metrics.probability_of_improvement(np.array(x).reshape(-1, 1), np.array(y).reshape(-1, 1))
    assert rliable == pytest.approx(expected, abs=1e-12)


def test_probability_of_improvement_of_a_sure_winner_is_one_with_no_spread() -> None:
    estimate = stats.probability_of_improvement(np.array([5.0, 6.0]), np.array([1.0, 2.0, 3.0]), random_state=0)
    assert estimate == stats.Estimate(1.0, 1.0, 1.0)


def test_probability_of_improvement_interval_is_reproducible() -> None:
    x, y = np.array([1.0, 4.0, 2.0]), np.array([3.0, 1.0, 2.0])
    estimate = stats.probability_of_improvement(x, y, random_state=3)
    assert estimate.value == pytest.approx(5 / 9)  # 1 vs (3, 1, 2): 0.5; 4: 3; 2: 1.5
    assert estimate == stats.probability_of_improvement(x, y, random_state=3)
    assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0


def test_paired_difference_counts_episode_pairs_and_averages_runs() -> None:
    x = np.array([[1.0, 2.0], [3.0, 3.0]])
    y = np.array([[0.0, 2.0], [4.0, 1.0]])  # differences [[1, 0], [-1, 2]]: run means 0.5 and 0.5
    result = stats.paired_difference(x, y, random_state=0)
    assert result.mean_difference == stats.Estimate(0.5, 0.5, 0.5)
    assert (result.wins, result.ties, result.losses, result.n_runs) == (2, 1, 1, 2)


def test_paired_difference_refuses_unequal_shapes() -> None:
    with pytest.raises(ValueError, match="equal shapes"):
        stats.paired_difference(np.zeros((2, 3)), np.zeros((2, 2)), random_state=0)


def test_steps_to_threshold_is_the_first_evaluation_at_or_above_it() -> None:
    steps = np.array([0, 10, 20, 30])
    assert stats.steps_to_threshold(steps, np.array([0.0, 475.0, 470.0, 500.0]), 475.0) == 10.0
    assert math.isnan(stats.steps_to_threshold(steps, np.array([0.0, 474.9, 470.0, 10.0]), 475.0))


def test_normalised_auc_uses_the_trapezoid_rule_over_the_budget() -> None:
    steps = np.array([0, 500, 1000])
    assert stats.normalised_auc(steps, np.array([0.0, 250.0, 500.0]), budget=1000, low=0, high=500) == 0.5
    assert stats.normalised_auc(steps, np.array([500.0, 500.0, 500.0]), budget=1000, low=0, high=500) == 1.0
    # uneven spacing: (0+100)/2*100 + (100+300)/2*900 = 5,000 + 180,000
    assert stats.normalised_auc(np.array([0, 100, 1000]), np.array([0.0, 100.0, 300.0]), 1000, 0, 500) == 0.37


def test_normalised_auc_normalises_by_the_return_range_clipped() -> None:
    steps = np.array([0, 500, 1000])
    # Acrobot's range [-500, 0]: -500 -> 0, -250 -> 0.5, 0 -> 1
    assert stats.normalised_auc(steps, np.array([-500.0, -250.0, 0.0]), budget=1000, low=-500, high=0) == 0.5
    # values outside the range are clipped to it: the area stays in [0, 1]
    assert stats.normalised_auc(steps, np.array([-900.0, -900.0, -900.0]), 1000, -500, 0) == 0.0
    assert stats.normalised_auc(steps, np.array([50.0, 50.0, 50.0]), 1000, -500, 0) == 1.0
    assert math.isnan(stats.normalised_auc(np.array([0]), np.array([1.0]), 1000, 0, 500))


def test_normalise_maps_the_range_to_zero_one_and_clips() -> None:
    returns = np.array([[-600.0, -500.0], [-125.0, 10.0]])
    np.testing.assert_array_equal(stats.normalise(returns, -500.0, 0.0), [[0.0, 0.0], [0.75, 1.0]])


def test_median_of_reached_ignores_the_seeds_that_never_got_there() -> None:
    assert stats.median_of_reached(np.array([10.0, np.nan, 30.0, 20.0])) == (20.0, 3)
    median, count = stats.median_of_reached(np.array([np.nan, np.nan]))
    assert math.isnan(median) and count == 0


def test_pointwise_band_of_identical_runs_is_the_curve_itself() -> None:
    curves = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    mean, low, high = stats.pointwise_mean_interval(curves, random_state=0)
    np.testing.assert_array_equal(mean, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(low, mean)
    np.testing.assert_array_equal(high, mean)


def test_pointwise_band_holds_the_mean() -> None:
    curves = np.array([[0.0, 10.0], [2.0, 30.0], [4.0, 20.0]])
    mean, low, high = stats.pointwise_mean_interval(curves, random_state=0)
    np.testing.assert_array_equal(mean, [2.0, 20.0])
    assert (low <= mean).all() and (mean <= high).all() and (low >= [0.0, 10.0]).all() and (high <= [4.0, 30.0]).all()


def test_no_scores_no_estimate() -> None:
    assert math.isnan(stats.mean_interval(np.zeros(0), random_state=0).value)
    assert stats.probability_of_improvement(np.zeros(0), np.array([1.0]), random_state=0).format() == "–"


def test_estimate_format_and_overlap() -> None:
    estimate = stats.Estimate(487.25, 452.1, 500.0)
    assert estimate.format(1) == "487.2 [452.1, 500.0]"
    assert estimate.overlaps(stats.Estimate(400.0, 300.0, 452.1))
    assert not estimate.overlaps(stats.Estimate(400.0, 300.0, 452.0))


def test_one_run_gives_the_intervals_the_bootstrap_gives_without_resampling():
    """With one run every resample is that run: the shortcut's numbers are rliable's to the bit."""
    rng = np.random.default_rng(3)
    library = stats._rliable()
    for _ in range(20):
        run, curve, tasks = rng.normal(100, 50, size=1), rng.normal(0, 1, size=(1, 7)), rng.normal(0, 1, size=(1, 3))
        with stats._seeded(1):
            points, intervals = library.get_interval_estimates(
                {"x": run.reshape(-1, 1)}, lambda a: np.array([metrics.aggregate_iqm(a)]), reps=50
            )
        assert stats.iqm_interval(run, 1, 50) == stats.Estimate(
            float(points["x"][0]), float(intervals["x"][0][0]), float(intervals["x"][1][0])
        )
        with stats._seeded(1):
            points, intervals = library.get_interval_estimates({"x": curve}, lambda a: np.mean(a, axis=0), reps=50)
        mean, low, high = stats.pointwise_mean_interval(curve, 1, 50)
        assert np.array_equal(mean, points["x"]) and np.array_equal(low, intervals["x"][0])
        assert np.array_equal(high, intervals["x"][1])
        with stats._seeded(1):
            points, intervals = library.get_interval_estimates(
                {"x": tasks}, lambda a: np.array([f(a) for f in stats.AGGREGATES.values()]), reps=50
            )
        found = stats.aggregate_intervals(tasks, 1, 50)
        for i, name in enumerate(stats.AGGREGATES):
            expected = (float(points["x"][i]), float(intervals["x"][0][i]), float(intervals["x"][1][i]))
            assert (found[name].value, found[name].low, found[name].high) == expected
    x, y = np.array([3.0]), np.array([1.0])
    assert stats.probability_of_improvement(x, y, 1, 50) == stats.Estimate(1.0, 1.0, 1.0)
