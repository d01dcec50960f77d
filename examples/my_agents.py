"""A student's own agent, kept outside the package: Expected SARSA on a discretized CartPole.

This is the assignment's Q-agent written on `custom_agents.BaseAgent`'s hooks, the way you would
write it in your notebook: two changes from the harness's `tabular_q`:

- the popular (1, 1, 6, 12) grid: cart position and velocity ignored, 6 bins of pole angle and
  12 of pole angular velocity;
- the Expected SARSA target: the bootstrap is the expected value of the next state under the
  epsilon-greedy policy, not its maximum (Q-learning) nor one sampled action (SARSA).

`examples/study.toml` compares it with `tabular_q`, `custom_dqn`, `sb3_dqn` and SB3's PPO:

    harness check-agent examples/my_agents.py:ExpectedSarsaAgent
    harness compare examples/study.toml
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from custom_agents import BaseAgent


@dataclass(frozen=True)
class ExpectedSarsaConfig:
    """The hyperparameters (the study's keys; a bad key or value is refused by name)."""

    num_bins: tuple[int, ...] = (1, 1, 6, 12)
    """Bins per observation dimension (1 ignores a dimension)."""
    bounds: tuple[tuple[float, float], ...] = ((-4.8, 4.8), (-0.5, 0.5), (-0.418, 0.418), (-0.873, 0.873))
    """(low, high) per dimension between which the bins are evenly spaced (CartPole's)."""
    gamma: float = 1.0
    """Discount factor."""
    min_learning_rate: float = 0.1
    """Floor of the learning-rate schedule."""
    min_epsilon: float = 0.1
    """Floor of the exploration schedule."""
    decay: float = 25.0
    """Episodes before the log10 decay of both rates starts."""

    def __post_init__(self) -> None:
        if len(self.num_bins) != len(self.bounds):
            raise ValueError(f"hyperparameter 'bounds' must have one pair per entry of num_bins, got {self.bounds}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"hyperparameter 'gamma' must be in [0, 1], got {self.gamma}")


def rate(episode: int, minimum: float, decay: float) -> float:
    """The assignment's schedule: max(minimum, min(1, 1 - log10((episode + 1) / decay)))."""
    return max(minimum, min(1.0, 1.0 - math.log10((episode + 1) / decay)))


class ExpectedSarsaAgent(BaseAgent):
    """Expected SARSA on a grid over the observation (see the module docstring)."""

    config_class = ExpectedSarsaConfig  # the hyperparameter schema
    save_suffix = ".npz"  # BaseAgent saves `_state()` arrays in an npz file

    def _setup_model(self) -> None:
        """Called once by the constructor, after the seeds: build the table."""
        cfg = self.config
        self.edges = [np.linspace(low, high, n + 1)[1:-1] for (low, high), n in zip(cfg.bounds, cfg.num_bins)]
        self.n_actions = int(self.action_space.n)
        self.q_table = np.zeros((*cfg.num_bins, self.n_actions))
        self._on_episode_end()  # the rates of episode 0

    def discretize(self, obs: np.ndarray) -> tuple[int, ...]:
        """The grid cell of one observation."""
        return tuple(int(np.digitize(x, edges)) for x, edges in zip(obs, self.edges))

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        """The behaviour policy: epsilon-greedy on the table (obs has shape (1, 4))."""
        if self.rng.random() < self.epsilon:
            return np.array([self.rng.integers(self.n_actions)])
        return np.array([int(np.argmax(self.q_table[self.discretize(obs[0])]))])

    def _on_transition(self, obs, actions, rewards, new_obs, dones, infos) -> None:
        """One env step: the Expected SARSA update."""
        state, action, reward = self.discretize(obs[0]), int(actions[0]), float(rewards[0])
        terminated = bool(dones[0]) and not infos[0].get("TimeLimit.truncated", False)
        if terminated:
            target = reward
        else:
            # After a time-limit cut the last observation is in the info; it still bootstraps.
            next_obs = infos[0]["terminal_observation"] if dones[0] else new_obs[0]
            q_next = self.q_table[self.discretize(next_obs)]
            policy = np.full(self.n_actions, self.epsilon / self.n_actions)
            policy[int(np.argmax(q_next))] += 1.0 - self.epsilon
            target = reward + self.config.gamma * float(policy @ q_next)
        self.q_table[state][action] += self.learning_rate * (target - self.q_table[state][action])

    def _on_episode_end(self) -> None:
        """The rates of the next episode (`_episode_num` counts finished episodes)."""
        cfg = self.config
        self.learning_rate = rate(self._episode_num, cfg.min_learning_rate, cfg.decay)
        self.epsilon = rate(self._episode_num, cfg.min_epsilon, cfg.decay)

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        """Actions for a batch of observations, shape (n, 4): greedy, or epsilon-greedy."""
        greedy = np.array([int(np.argmax(self.q_table[self.discretize(o)])) for o in obs])
        if deterministic:
            return greedy
        explore = self.predict_rng.random(len(obs)) < self.epsilon
        return np.where(explore, self.predict_rng.integers(0, self.n_actions, len(obs)), greedy)

    def _record_logs(self) -> None:
        self.logger.record("rollout/exploration_rate", self.epsilon)
        self.logger.record("train/learning_rate", self.learning_rate)

    def _state(self) -> dict[str, Any]:
        return {"q_table": self.q_table}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.q_table[...] = state["q_table"]
        self._on_episode_end()
