"""An observation -> one integer state index: a grid of evenly spaced bins over a continuous
observation (`Discretizer`), or the state itself for a Discrete observation (`DiscreteStates`);
and the defaults a tabular agent uses on an env it has not been told about (`default_num_bins`,
`estimate_bounds`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# The assignment's bounds for CartPole's two unbounded dimensions.
CARTPOLE_VELOCITY_BOUNDS = (-0.5, 0.5)
CARTPOLE_ANGULAR_VELOCITY_BOUNDS = (-math.radians(50), math.radians(50))
ASSIGNMENT_ENVS = ("CartPole-v0", "CartPole-v1")
"""Envs on which the assignment's grid is the default: bins (3, 3, 6, 6) and `cartpole_bounds`."""
ASSIGNMENT_NUM_BINS = (3, 3, 6, 6)


def default_num_bins(env_id: str | None, n_dims: int) -> tuple[int, ...]:
    """The grid of an env a study gives no `num_bins` for: the assignment's (3, 3, 6, 6) on
    CartPole; otherwise about as many cells as a table learns in a budget of 10^5 steps: 20 bins
    per dimension for 1 or 2 dimensions (MountainCar's widely used 20 x 20), 10 for 3 or 4, 6 for 5
    or 6 (Acrobot: 46,656 cells), 4 from 7 on (LunarLander: 65,536)."""
    if env_id in ASSIGNMENT_ENVS and n_dims == 4:
        return ASSIGNMENT_NUM_BINS
    per_dim = 20 if n_dims <= 2 else 10 if n_dims <= 4 else 6 if n_dims <= 6 else 4
    return (per_dim,) * n_dims


def estimate_bounds(env_id: str, n_steps: int, seed: int, quantile: float) -> tuple[tuple[float, float], ...]:
    """Per observation dimension, the `quantile` and `1 - quantile` quantiles of the observations a
    uniformly random policy sees in `n_steps` steps of a fresh `gym.make(env_id)` (first reset
    with `seed`, actions drawn from its action space seeded with `seed`): the same bounds for the
    same arguments. A dimension that does not vary gets (value - 0.5, value + 0.5)."""
    import gymnasium as gym

    env = gym.make(env_id)
    try:
        env.action_space.seed(seed)
        observations = np.empty((n_steps, *env.observation_space.shape), dtype=np.float64)
        obs, _ = env.reset(seed=seed)
        for i in range(n_steps):
            observations[i] = obs
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    low, high = np.quantile(observations, [quantile, 1.0 - quantile], axis=0)
    return tuple((float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5) for lo, hi in zip(low, high))


class DiscreteStates:
    """The state index of a Discrete observation space: the observation itself, less the space's
    `start` (the same interface as `Discretizer`).

    :param n: the number of states.
    :param start: the space's first value.
    """

    def __init__(self, n: int, start: int = 0) -> None:
        self.n_states = int(n)
        self.start = int(start)

    def index(self, observation: int | np.ndarray) -> int:
        """The state index of one observation."""
        return int(observation) - self.start

    def indices(self, observations: np.ndarray) -> np.ndarray:
        """State indices, shape (n,), of observations, shape (n,)."""
        return np.asarray(observations, dtype=np.int64).reshape(-1) - self.start


def cartpole_bounds(low: Sequence[float], high: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """The assignment's bounds: the observation space's own for cart position and pole angle,
    -0.5..0.5 for cart velocity, -50..50 degrees (in radians) for pole angular velocity."""
    if len(low) != 4:
        raise ValueError(f"the default bounds are CartPole's and need 4 dimensions, got {len(low)}")
    return (
        (float(low[0]), float(high[0])),
        CARTPOLE_VELOCITY_BOUNDS,
        (float(low[2]), float(high[2])),
        CARTPOLE_ANGULAR_VELOCITY_BOUNDS,
    )


class Discretizer:
    """Maps an observation to a state index in `range(n_states)`.

    Dimension d is cut into `num_bins[d]` bins by `num_bins[d] - 1` interior edges evenly spaced
    between `bounds[d][0]` and `bounds[d][1]`. A value on an edge belongs to the bin above it
    (as `np.digitize`); values below the first edge or above the last fall into the end bins,
    infinities included. NaN is refused with `ValueError`. The state index is row-major over
    the dimensions (the last dimension varies fastest).

    `index(row)` is the per-step path: a handful of float operations, no numpy call and no
    allocation. `indices(batch)` is the vectorized path for `predict`; both give the same result.

    :param num_bins: bins per dimension, each >= 1.
    :param bounds: (low, high) per dimension, finite, low < high.
    """

    def __init__(self, num_bins: Sequence[int], bounds: Sequence[tuple[float, float]]) -> None:
        if len(num_bins) != len(bounds):
            raise ValueError(f"num_bins has {len(num_bins)} dimensions but bounds has {len(bounds)}")
        for n in num_bins:
            if n < 1:
                raise ValueError(f"every entry of num_bins must be >= 1, got {list(num_bins)}")
        for low, high in bounds:
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"every bound must be finite with low < high, got {list(bounds)}")
        self.num_bins = tuple(int(n) for n in num_bins)
        self.bounds = tuple((float(lo), float(hi)) for lo, hi in bounds)
        self.edges = tuple(np.linspace(lo, hi, n + 1)[1:-1] for (lo, hi), n in zip(self.bounds, self.num_bins))
        self.n_states = int(np.prod(self.num_bins))
        strides = np.cumprod((1, *self.num_bins[:0:-1]))[::-1]
        self.strides = tuple(int(s) for s in strides)
        # Per dimension, for the scalar path: (low, 1/width, last bin, edges as floats, stride).
        self._plan = tuple(
            (lo, n / (hi - lo), n - 1, tuple(e.tolist()), stride)
            for (lo, hi), n, e, stride in zip(self.bounds, self.num_bins, self.edges, self.strides)
            if n > 1
        )

    def index(self, observation: Sequence[float] | np.ndarray) -> int:
        """The state index of one observation (a list of Python floats is fastest)."""
        if isinstance(observation, np.ndarray):  # compare as float64, exactly as `indices` does
            observation = observation.tolist()
        state = 0
        for (low, inv_width, last, edges, stride), x in zip(self._plan, self._kept(observation)):
            try:
                k = int((x - low) * inv_width)
            except ValueError:
                raise ValueError(f"observation contains NaN: {list(observation)}") from None
            except OverflowError:
                k = 0 if x < 0 else last
            if k <= 0:
                k = 1 if x >= edges[0] else 0
            elif k >= last:
                k = last if x >= edges[last - 1] else last - 1
            elif x < edges[k - 1]:  # floating error put x one bin too high
                k -= 1
            elif x >= edges[k]:  # ... or one bin too low
                k += 1
            state += k * stride
        return state

    def indices(self, observations: np.ndarray) -> np.ndarray:
        """State indices, shape (n,), of observations, shape (n, n_dims)."""
        observations = np.asarray(observations, dtype=np.float64)
        if np.isnan(observations).any():
            raise ValueError("observations contain NaN")
        state = np.zeros(len(observations), dtype=np.int64)
        for d, (edges, stride) in enumerate(zip(self.edges, self.strides)):
            if len(edges):
                state += np.searchsorted(edges, observations[:, d], side="right") * stride
        return state

    def _kept(self, observation: Sequence[float]) -> Sequence[float]:
        """The values of the dimensions with more than one bin (the others never change the index)."""
        if len(self._plan) == len(self.num_bins):
            return observation
        if any(x != x for x in observation):  # NaN is the only value not equal to itself
            raise ValueError(f"observation contains NaN: {list(observation)}")
        return [x for x, n in zip(observation, self.num_bins) if n > 1]
