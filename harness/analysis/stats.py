"""The report's statistics: small pure functions on arrays, in the manner of rliable.

The 95% stratified-bootstrap intervals come from rliable (`rliable.library.get_interval_estimates`),
the mean and IQM from `rliable.metrics`; the probability of improvement is rliable's statistic
computed by broadcasting (`improvement_probability`, tested equal to
`rliable.metrics.probability_of_improvement`). Every function that resamples takes an explicit
`random_state` (an int), so the same scores always give the same interval.

With one run (a study of one seed), every resample is that run, so an interval is its point
estimate at both ends: computed so directly (the same numbers, without rliable's library, arch
and statsmodels imported, or 2,000 resamples drawn).

rliable's bootstrap classes draw their resampling indices from numpy's *global* generator
(`np.random.choice`), not from the `random_state` handed to them (which arch 7 also warns is
deprecated). So each call here seeds the global generator with `random_state` for the duration
of the call (`_seeded`), restores it afterwards, and hands rliable no `random_state`.
(rliable 1.2 needs arch < 8, which does not import under pandas 3: hence `pandas<3` in
pyproject.toml.)
"""

from __future__ import annotations

import contextlib
import importlib
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from rliable import metrics

CONFIDENCE = 0.95
"""Coverage of every interval."""
REPS = 2_000
"""Bootstrap resamples per interval: enough for stable 95% percentile intervals, and a report of
a few dozen intervals takes seconds."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval (all NaN when there were no scores)."""

    value: float
    low: float
    high: float

    def format(self, digits: int = 1) -> str:
        """'487.2 [452.1, 500.0]', or '–' when there is no estimate."""
        if math.isnan(self.value):
            return "–"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def overlaps(self, other: Estimate) -> bool:
        """Whether the two intervals share a point."""
        return self.low <= other.high and other.low <= self.high


NO_ESTIMATE = Estimate(math.nan, math.nan, math.nan)


def random_state(*parts: object) -> int:
    """A fixed random state per statistic, from its name: independent of which other agents or
    statistics the report holds."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


@dataclass(frozen=True)
class PairedComparison:
    """Paired differences x - y over shared episodes."""

    mean_difference: Estimate
    """Mean of x - y, with a 95% bootstrap interval across runs (seeds)."""
    wins: int
    """Pairs where x > y."""
    ties: int
    losses: int
    """Pairs where x < y."""
    n_runs: int
    """Runs (seeds) both agents completed."""


def mean_interval(scores: np.ndarray, random_state: int, reps: int = REPS) -> Estimate:
    """Mean across runs with its 95% stratified-bootstrap interval (rliable's `aggregate_mean`).

    scores: one score per run, shape (n_runs,) (or (n_runs, n_tasks): the mean of all).
    Also the interval of a success rate, when each score is a run's share of successes.
    """
    return _aggregate_interval(scores, metrics.aggregate_mean, random_state, reps)


def iqm_interval(scores: np.ndarray, random_state: int, reps: int = REPS) -> Estimate:
    """Interquartile mean across runs (the mean of the middle 50%, rliable's `aggregate_iqm`)
    with its 95% stratified-bootstrap interval.

    scores: one score per run, shape (n_runs,) (or (n_runs, n_tasks)).
    """
    return _aggregate_interval(scores, metrics.aggregate_iqm, random_state, reps)


def pointwise_mean_interval(
    curves: np.ndarray, random_state: int, reps: int = REPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean across runs at each point of a curve, with a pointwise 95% bootstrap band.

    curves: shape (n_runs, n_points). Returns (mean, low, high), each shape (n_points,).
    """
    curves = _as_matrix(curves)
    if curves.shape[0] == 0:
        nan = np.full(curves.shape[1], np.nan)
        return nan, nan, nan
    if curves.shape[0] == 1:  # every resample is the one run
        mean = np.mean(curves, axis=0)
        return mean, mean.copy(), mean.copy()
    library = _rliable()
    with _seeded(random_state):
        points, intervals = library.get_interval_estimates(
            {"x": curves}, lambda x: np.mean(x, axis=0), reps=reps, confidence_interval_size=CONFIDENCE
        )
    return points["x"], intervals["x"][0], intervals["x"][1]


def probability_of_improvement(
    scores_x: np.ndarray, scores_y: np.ndarray, random_state: int, reps: int = REPS
) -> Estimate:
    """P(X > Y): the chance that a run of X picked at random scores higher than a run of Y
    (ties count half), with a 95% bootstrap interval resampling each agent's runs independently
    (rliable's `StratifiedIndependentBootstrap`).

    scores_x: shape (n_runs_x,); scores_y: shape (n_runs_y,).
    """
    x, y = _as_matrix(scores_x), _as_matrix(scores_y)
    if x.shape[0] == 0 or y.shape[0] == 0:
        return NO_ESTIMATE
    if x.shape[0] == 1 and y.shape[0] == 1:  # every resample is the one run of each
        value = improvement_probability(x, y)
        return Estimate(value, value, value)
    library = _rliable()
    with _seeded(random_state):
        points, intervals = library.get_interval_estimates(
            {"x": [x, y]},
            lambda a, b: np.array([improvement_probability(a, b)]),
            reps=reps,
            confidence_interval_size=CONFIDENCE,
        )
    return _estimate(points["x"], intervals["x"])


def improvement_probability(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """P(X > Y) without an interval: the mean over tasks of the share of (x, y) run pairs with
    x > y, ties counting half; the Mann-Whitney U statistic over n_x * n_y.

    The same number as `rliable.metrics.probability_of_improvement` (the tests check it), by
    broadcasting instead of through scipy's `mannwhitneyu`, whose p-value work takes ~0.5 ms per
    call: 15 agent pairs x 2,000 resamples would otherwise take most of a report's time.

    scores_x: shape (n_runs_x,) or (n_runs_x, n_tasks); scores_y: shape (n_runs_y,) or (n_runs_y, n_tasks).
    """
    x, y = _as_matrix(scores_x), _as_matrix(scores_y)
    greater = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))
    equal = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
    return float(np.mean(greater + 0.5 * equal))


def paired_difference(x: np.ndarray, y: np.ndarray, random_state: int, reps: int = REPS) -> PairedComparison:
    """Compare two agents on the same episodes: x[i, j] and y[i, j] are their returns on run
    (seed) i's evaluation episode j (the same start state).

    x, y: shape (n_runs, n_episodes). The mean difference is the mean over runs of each run's
    mean of x - y, its interval a 95% bootstrap across runs (episodes of one run are not
    independent); wins, ties and losses count single episode pairs.
    """
    x, y = _as_matrix(x), _as_matrix(y)
    if x.shape != y.shape:
        raise ValueError(f"paired scores need equal shapes, got {x.shape} and {y.shape}")
    difference = x - y
    per_run = difference.mean(axis=1) if difference.size else np.zeros(0)
    return PairedComparison(
        mean_difference=mean_interval(per_run, random_state, reps),
        wins=int(np.sum(difference > 0)),
        ties=int(np.sum(difference == 0)),
        losses=int(np.sum(difference < 0)),
        n_runs=int(x.shape[0]),
    )


def steps_to_threshold(steps: np.ndarray, curve: np.ndarray, threshold: float) -> float:
    """The first of `steps` at which `curve` reaches `threshold` (>=), or NaN if it never does.

    steps: env steps of the evaluation points, shape (n_points,), increasing;
    curve: the mean evaluation return at each, shape (n_points,).
    """
    steps, curve = np.asarray(steps, dtype=float), np.asarray(curve, dtype=float)
    reached = np.flatnonzero(curve >= threshold)
    return float(steps[reached[0]]) if reached.size else math.nan


def normalise(returns: np.ndarray, low: float, high: float) -> np.ndarray:
    """Returns on [0, 1]: (return - low) / (high - low), clipped (an env profile's return range).

    returns: any shape; the result has the same shape.
    """
    return np.clip((np.asarray(returns, dtype=float) - low) / (high - low), 0.0, 1.0)


def normalised_auc(steps: np.ndarray, curve: np.ndarray, budget: float, low: float, high: float) -> float:
    """Area under the normalised evaluation curve over the budget: the trapezoid-rule integral of
    the mean evaluation return, normalised to [0, 1] by the return range (`normalise`), over env
    steps, divided by the budget. 1.0 means the top of the range at every evaluation from step 0
    on; 0.0 the bottom throughout; always in [0, 1] (for evaluation points within the budget).

    steps: env steps of the evaluation points, shape (n_points,), from 0 to the budget;
    curve: the mean evaluation return at each, shape (n_points,).
    """
    steps, curve = np.asarray(steps, dtype=float), normalise(curve, low, high)
    if steps.size < 2:
        return math.nan
    area = float(np.sum((steps[1:] - steps[:-1]) * (curve[1:] + curve[:-1]) / 2.0))
    return area / budget


AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "IQM": metrics.aggregate_iqm,
    "mean": metrics.aggregate_mean,
    "optimality gap": metrics.aggregate_optimality_gap,
}
"""rliable's aggregate metrics of normalised scores across runs and tasks (the optimality gap:
how far the mean score falls short of 1, each score capped at 1)."""


def aggregate_intervals(scores: np.ndarray, random_state: int, reps: int = REPS) -> dict[str, Estimate]:
    """IQM, mean and optimality gap of normalised scores across runs and tasks, each with its 95%
    stratified-bootstrap interval (rliable: runs resampled within each task).

    scores: shape (n_runs, n_tasks), one normalised score per run (seed) and task (env).
    """
    matrix = _as_matrix(scores)
    if matrix.shape[0] == 0:
        return dict.fromkeys(AGGREGATES, NO_ESTIMATE)
    if matrix.shape[0] == 1:  # every resample is the one run of each task
        return {name: _point(float(aggregate(matrix))) for name, aggregate in AGGREGATES.items()}
    library = _rliable()
    with _seeded(random_state):
        points, intervals = library.get_interval_estimates(
            {"x": matrix},
            lambda x: np.array([aggregate(x) for aggregate in AGGREGATES.values()]),
            reps=reps,
            confidence_interval_size=CONFIDENCE,
        )
    return {
        name: Estimate(float(points["x"][i]), float(intervals["x"][0][i]), float(intervals["x"][1][i]))
        for i, name in enumerate(AGGREGATES)
    }


def performance_profile(
    scores: np.ndarray, taus: np.ndarray, random_state: int, reps: int = REPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The score distribution (rliable's performance profile): for each threshold tau, the share
    of all (run, task) scores above tau, with a pointwise 95% stratified-bootstrap band.

    scores: shape (n_runs, n_tasks); taus: shape (n_taus,). Returns (fraction, low, high), each
    shape (n_taus,).
    """
    matrix = _as_matrix(scores)
    if matrix.shape[0] == 0:
        nan = np.full(len(taus), np.nan)
        return nan, nan, nan
    library = _rliable()
    with _seeded(random_state):
        profiles, bands = library.create_performance_profile({"x": matrix}, np.asarray(taus), reps=reps)
    return profiles["x"], bands["x"][0], bands["x"][1]


def median_of_reached(values: np.ndarray) -> tuple[float, int]:
    """(median of the finite values, how many are finite): e.g. steps to a threshold over seeds,
    NaN for the seeds that never reached it. The median is NaN when none did.

    values: shape (n_runs,).
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return (float(np.median(finite)) if finite.size else math.nan), int(finite.size)


def _aggregate_interval(
    scores: np.ndarray, aggregate: Callable[[np.ndarray], float], random_state: int, reps: int
) -> Estimate:
    matrix = _as_matrix(scores)
    if matrix.shape[0] == 0:
        return NO_ESTIMATE
    if matrix.shape[0] == 1:  # every resample is the one run
        return _point(float(aggregate(matrix)))
    library = _rliable()
    with _seeded(random_state):
        points, intervals = library.get_interval_estimates(
            {"x": matrix}, lambda x: np.array([aggregate(x)]), reps=reps, confidence_interval_size=CONFIDENCE
        )
    return _estimate(points["x"], intervals["x"])


def _point(value: float) -> Estimate:
    """An estimate whose interval is the point itself."""
    return Estimate(value, value, value)


def _estimate(point: np.ndarray, interval: np.ndarray) -> Estimate:
    return Estimate(float(np.ravel(point)[0]), float(np.ravel(interval[0])[0]), float(np.ravel(interval[1])[0]))


def _as_matrix(scores: np.ndarray) -> np.ndarray:
    """(n_runs,) -> (n_runs, 1): rliable's (runs x tasks) layout, one task."""
    array = np.asarray(scores, dtype=float)
    return array.reshape(-1, 1) if array.ndim == 1 else array


@contextlib.contextmanager
def _seeded(random_state: int) -> Iterator[None]:
    """Seed numpy's global generator (which rliable's bootstrap draws from) for a block, then
    restore its previous state."""
    saved = np.random.get_state()
    np.random.seed(random_state)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _rliable() -> ModuleType:
    """`rliable.library`, imported when first needed (it pulls in scipy and arch)."""
    return importlib.import_module("rliable.library")
