"""Tabular Q-learning and SARSA on a discretized state: the assignment's Exercise 2."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces

from custom_agents.base import BaseAgent
from custom_agents.config import require, require_finite
from custom_agents.discretize import (
    ASSIGNMENT_ENVS,
    DiscreteStates,
    Discretizer,
    cartpole_bounds,
    default_num_bins,
    estimate_bounds,
)

_RANDOM_BLOCK = 4096


@dataclass(frozen=True)
class TabularConfig:
    """Hyperparameters of `TabularQAgent` and `TabularSarsaAgent` (defaults: the assignment's)."""

    num_bins: tuple[int, ...] | None = None
    """Bins per observation dimension; 1 ignores a dimension. None: the assignment's (3, 3, 6, 6)
    on CartPole, otherwise a grid that fits the observation's dimension (`default_num_bins`).
    Not used for a Discrete observation space (its states are the table's rows)."""
    bounds: tuple[tuple[float, float], ...] | Literal["auto"] | None = None
    """(low, high) per dimension between which the bin edges are evenly spaced; "auto" estimates
    them from a seeded random policy's observations (`bounds_steps`, `bounds_seed`,
    `bounds_quantile`). None: the assignment's bounds on CartPole (the space's own for position and
    angle, -0.5..0.5 for cart velocity, -50..50 degrees/s for pole angular velocity), the
    observation space's own where they are all finite, else "auto"."""
    bounds_steps: int = 10_000
    """Random-policy steps that "auto" bounds are estimated from."""
    bounds_seed: int = 0
    """Seed of the env reset and of the actions of that random policy (the same for every run)."""
    bounds_quantile: float = 0.01
    """"auto" bounds are the `q` and `1 - q` quantiles of each dimension's observations."""
    gamma: float = 1.0
    """Discount factor (the assignment's `discount`)."""
    min_learning_rate: float = 0.1
    """Floor of the learning-rate schedule (the assignment's `min_lr`)."""
    exploration_final_eps: float = 0.1
    """Floor of the epsilon schedule (the assignment's `min_epsilon`)."""
    decay: float = 25.0
    """Episodes at full learning rate and exploration before the log10 decay starts."""

    def __post_init__(self) -> None:
        if self.num_bins is not None:
            require(
                len(self.num_bins) > 0 and all(n >= 1 for n in self.num_bins),
                "num_bins",
                "a non-empty list of integers >= 1",
                list(self.num_bins),
            )
        require(self.bounds_steps >= 1, "bounds_steps", ">= 1", self.bounds_steps)
        require(0.0 <= self.bounds_quantile < 0.5, "bounds_quantile", "in [0, 0.5)", self.bounds_quantile)
        for name in ("gamma", "min_learning_rate", "exploration_final_eps", "decay"):
            require_finite(name, getattr(self, name))
        require(0.0 <= self.gamma <= 1.0, "gamma", "in [0, 1]", self.gamma)
        require(0.0 < self.min_learning_rate <= 1.0, "min_learning_rate", "in (0, 1]", self.min_learning_rate)
        require(
            0.0 <= self.exploration_final_eps <= 1.0, "exploration_final_eps", "in [0, 1]", self.exploration_final_eps
        )
        require(self.decay > 0, "decay", "> 0", self.decay)
        if self.bounds is not None and self.bounds != "auto":
            for low, high in self.bounds:
                require(
                    math.isfinite(low) and math.isfinite(high) and low < high,
                    "bounds",
                    "a list of finite [low, high] pairs with low < high",
                    [list(b) for b in self.bounds],
                )


def log_decay(episode: int, minimum: float, decay: float) -> float:
    """The assignment's schedule: `max(minimum, min(1, 1 - log10((episode + 1) / decay)))`."""
    return max(minimum, min(1.0, 1.0 - math.log10((episode + 1) / decay)))


class TabularQAgent(BaseAgent):
    """Tabular Q-learning on a discretized observation (the assignment's Exercise 2).

    Each step, with learning rate `lr` and exploration rate `eps` fixed for the episode by
    `log_decay(episode, min, decay)`:

        a  = random action with probability eps, else argmax_a Q(s, a)
        Q(s, a) <- (1 - lr) Q(s, a) + lr (r + gamma max_a' Q(s', a'))

    One difference from the assignment: an episode cut by the time limit (truncated) still
    bootstraps from Q(s'), while a real termination (pole fell, cart left) uses the target `r`
    alone. The assignment's loop treats both as terminal.

    The table is a float64 numpy array (`q_table`, shape (n_states, n_actions)) read and written
    per step through a flat `memoryview`, so a step costs a few float operations, no numpy call.
    Random draws come from the agent's own generator (seeded by `seed`) in blocks. The `actions`
    array handed to the env is reused between steps.

    `predict(deterministic=True)` is greedy on the table; `deterministic=False` is epsilon-greedy
    with the current exploration rate. Logs `rollout/exploration_rate`, `train/learning_rate`
    and, after each episode, `train/loss` (the episode's mean squared TD error) besides the SB3
    rollout keys of `BaseAgent`. Hyperparameters: see `TabularConfig`.
    """

    config_class = TabularConfig
    save_suffix = ".zip"
    config: TabularConfig

    def _setup_model(self) -> None:
        self._grid = self._resolve_grid()
        self.discretizer: Discretizer | DiscreteStates
        if isinstance(self.observation_space, spaces.Discrete):
            self.discretizer = DiscreteStates(int(self.observation_space.n), int(self.observation_space.start))
        else:
            self.discretizer = Discretizer(self._grid["num_bins"], self._grid["bounds"])
        self.n_actions = int(self.action_space.n)
        self.q_table = np.zeros((self.discretizer.n_states, self.n_actions), dtype=np.float64)
        self._q = memoryview(self.q_table).cast("B").cast("d")
        self._actions = np.zeros(1, dtype=np.int64)
        self._uniforms: list[float] = []
        self._schedule_episode = -1
        self.learning_rate = 1.0
        self.exploration_rate = 1.0
        self._update_schedules()
        self._n_updates = 0
        self._n_updates_in_rollout = 0
        self._squared_error_sum = 0.0
        # (observation array, its state index): reused when the next step starts from it.
        self._cached_obs: Any = None
        self._cached_state = 0

    @property
    def gamma(self) -> float:
        """The discount factor (live: SB3's code may set it)."""
        return self._gamma

    @gamma.setter
    def gamma(self, value: float) -> None:
        self._gamma = float(value)

    def _parameter_objects(self) -> dict[str, Any]:
        return {"policy": _TableState(self)}

    def _resolve_grid(self) -> dict[str, Any]:
        """The grid the table is over: `num_bins` and `bounds` as given, or their defaults for the
        env (see `TabularConfig`), and where the bounds came from. {} for a Discrete space."""
        cfg = self.config
        if isinstance(self.observation_space, spaces.Discrete):
            for name in ("num_bins", "bounds"):
                if getattr(cfg, name) is not None:
                    raise ValueError(
                        f"hyperparameter {name!r} must be left out for a Discrete observation space "
                        f"({self.observation_space}): its states are the table's rows"
                    )
            return {}
        n_dims = self.observation_space.shape[0]
        num_bins = cfg.num_bins if cfg.num_bins is not None else default_num_bins(self.env_id, n_dims)
        if len(num_bins) != n_dims:
            raise ValueError(
                f"hyperparameter 'num_bins' must have one entry per observation dimension ({n_dims}), "
                f"got {list(num_bins)}"
            )
        low, high = self.observation_space.low, self.observation_space.high
        bounds, source = cfg.bounds, "given"
        if bounds is None and self.env_id in ASSIGNMENT_ENVS and n_dims == 4:
            bounds, source = cartpole_bounds(low, high), "the assignment's CartPole bounds"
        elif bounds is None and np.isfinite(low).all() and np.isfinite(high).all():
            bounds, source = tuple(zip(low.tolist(), high.tolist())), "the observation space's bounds"
        if bounds is None or bounds == "auto":
            if self.env_id is None:
                raise ValueError(
                    "hyperparameter 'bounds' must be given: \"auto\" needs an env made from the registry "
                    "(the observation space is unbounded)"
                )
            bounds = estimate_bounds(self.env_id, cfg.bounds_steps, cfg.bounds_seed, cfg.bounds_quantile)
            source = (
                f"auto: the {cfg.bounds_quantile:g} and {1 - cfg.bounds_quantile:g} quantiles of "
                f"{cfg.bounds_steps:,} observations of a uniformly random policy on {self.env_id} "
                f"(seed {cfg.bounds_seed})"
            )
        if len(bounds) != n_dims:
            raise ValueError(
                f"hyperparameter 'bounds' must have one [low, high] pair per observation dimension "
                f"({n_dims}), got {len(bounds)}"
            )
        return {"num_bins": tuple(num_bins), "bounds": tuple(bounds), "bounds_source": source}

    def _saved_hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters with the grid resolved (a loaded agent needs no env to rebuild it)."""
        values = super()._saved_hyperparameters()
        if self._grid:
            values.update(num_bins=list(self._grid["num_bins"]), bounds=[list(b) for b in self._grid["bounds"]])
        return values

    def run_info(self) -> dict[str, Any]:
        """The grid the table is over and where its bounds came from (for `run.json`)."""
        if not self._grid:
            return {"states": "the Discrete observation space's", "n_states": self.discretizer.n_states}
        return {
            "num_bins": list(self._grid["num_bins"]),
            "bounds": [list(b) for b in self._grid["bounds"]],
            "bounds_source": self._grid["bounds_source"],
            "n_states": self.discretizer.n_states,
        }

    # -- the per-step path --------------------------------------------------------------------

    def _update_schedules(self) -> None:
        """Learning and exploration rate for the current episode."""
        self._schedule_episode = self._episode_num
        self.learning_rate = log_decay(self._episode_num, self.min_learning_rate, self.decay)
        self.exploration_rate = log_decay(self._episode_num, self.exploration_final_eps, self.decay)

    def _on_episode_end(self) -> None:
        self._update_schedules()

    def _refill_uniforms(self) -> list[float]:
        """A new block of U[0, 1) draws of the agent's generator, consumed from the end."""
        self._uniforms = self.rng.random(_RANDOM_BLOCK).tolist()
        self._uniforms.reverse()
        return self._uniforms

    def _epsilon_greedy(self, state: int) -> int:
        """A random action with probability `exploration_rate`, else the greedy one (first on ties)."""
        uniforms = self._uniforms if len(self._uniforms) >= 2 else self._refill_uniforms()
        if uniforms.pop() < self.exploration_rate:
            return int(uniforms.pop() * self.n_actions)
        q = self._q
        base = state * self.n_actions
        best_action, best = 0, q[base]
        for action in range(1, self.n_actions):
            value = q[base + action]
            if value > best:
                best_action, best = action, value
        return best_action

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        if self._schedule_episode != self._episode_num:
            self._update_schedules()
        state = self._cached_state if obs is self._cached_obs else self.discretizer.index(obs[0].tolist())
        self._actions[0] = self._next_action(state, obs)
        return self._actions

    def _next_action(self, state: int, obs: np.ndarray) -> int:
        """The action to take in `state` (Q-learning: epsilon-greedy)."""
        return self._epsilon_greedy(state)

    def _bootstrap(self, next_state: int, next_obs: np.ndarray | None) -> float:
        """Q-learning's bootstrap value: max_a' Q(s', a')."""
        q = self._q
        base = next_state * self.n_actions
        best = q[base]
        for action in range(1, self.n_actions):
            value = q[base + action]
            if value > best:
                best = value
        return best

    def _on_transition(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        new_obs: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        state = self._cached_state if obs is self._cached_obs else self.discretizer.index(obs[0].tolist())
        reward = float(rewards[0])
        if dones[0]:
            info = infos[0]
            if info.get("TimeLimit.truncated", False):
                last_state = self.discretizer.index(info["terminal_observation"])
                target = reward + self._gamma * self._bootstrap(last_state, None)
            else:
                target = reward
            self._cached_obs = None
        else:
            next_state = self.discretizer.index(new_obs[0].tolist())
            target = reward + self._gamma * self._bootstrap(next_state, new_obs)
            self._cached_obs, self._cached_state = new_obs, next_state
        lr = self.learning_rate
        i = state * self.n_actions + int(actions[0])
        old = self._q[i]
        self._q[i] = (1.0 - lr) * old + lr * target
        error = target - old
        self._squared_error_sum += error * error
        self._n_updates += 1
        self._n_updates_in_rollout += 1

    def _train(self, n_steps: int) -> None:
        """Nothing to train after an episode (updates happen per step); log its TD errors, as SB3
        logs the loss of each training phase: `train/loss` is the episode's mean squared TD error."""
        if self._n_updates_in_rollout:
            self.logger.record("train/loss", self._squared_error_sum / self._n_updates_in_rollout)
            self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self._squared_error_sum = 0.0
        self._n_updates_in_rollout = 0

    # -- the rest of the surface --------------------------------------------------------------

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        states = self.discretizer.indices(obs)
        greedy = np.argmax(self.q_table[states], axis=1)
        if deterministic:
            return greedy
        explore = self.predict_rng.random(len(states)) < self.exploration_rate
        return np.where(explore, self.predict_rng.integers(0, self.n_actions, len(states)), greedy)

    def _record_logs(self) -> None:
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self.logger.record("train/learning_rate", self.learning_rate)

    def _state(self) -> dict[str, Any]:
        return {"q_table": self.q_table}

    def _load_state(self, state: dict[str, Any]) -> None:
        table = state["q_table"]
        if table.shape != self.q_table.shape:
            raise ValueError(f"saved q_table has shape {table.shape}, expected {self.q_table.shape}")
        self.q_table[...] = table
        self._update_schedules()


class _TableState:
    """The Q-table as a learned object with a state dict (`get_parameters`/`set_parameters`)."""

    def __init__(self, agent: TabularQAgent) -> None:
        self.agent = agent

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"q_table": torch.from_numpy(self.agent.q_table)}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        if strict and set(state) != {"q_table"}:
            raise RuntimeError(f"Error(s) in loading state_dict: expected the key 'q_table', got {sorted(state)}")
        if "q_table" in state:
            table = torch.as_tensor(state["q_table"]).numpy()
            if table.shape != self.agent.q_table.shape:
                raise RuntimeError(f"q_table of shape {table.shape}, expected {self.agent.q_table.shape}")
            self.agent.q_table[...] = table


class TabularSarsaAgent(TabularQAgent):
    """`TabularQAgent` with the on-policy SARSA target: everything is shared but the target.

        Q(s, a) <- (1 - lr) Q(s, a) + lr (r + gamma Q(s', a'))

    where a' is the epsilon-greedy action chosen in s' and then actually taken on the next step.
    After a time-limit truncation a' is drawn from the last observation for the bootstrap only.
    """

    def _setup_model(self) -> None:
        super()._setup_model()
        self._chosen_obs: Any = None
        self._chosen_action = 0

    def _next_action(self, state: int, obs: np.ndarray) -> int:
        if obs is self._chosen_obs:
            return self._chosen_action
        return self._epsilon_greedy(state)

    def _bootstrap(self, next_state: int, next_obs: np.ndarray | None) -> float:
        action = self._epsilon_greedy(next_state)
        self._chosen_obs, self._chosen_action = next_obs, action
        return self._q[next_state * self.n_actions + action]
