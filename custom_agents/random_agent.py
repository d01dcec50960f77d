"""The floor: a uniform random policy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from custom_agents.base import BaseAgent


@dataclass(frozen=True)
class RandomConfig:
    """`RandomAgent` has no hyperparameters."""


class RandomAgent(BaseAgent):
    """Uniform random actions from the seeded action space, whatever the observation.

    It learns nothing; `learn` only steps the env (so callbacks, logs and episode records work
    as for any agent) and `predict` ignores `deterministic`. `predict` draws from the agent's own
    generator, so evaluating it does not change the actions it takes in training.
    """

    config_class = RandomConfig
    save_suffix = ".zip"

    def _setup_model(self) -> None:
        pass

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        return np.array([self.action_space.sample()])

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.predict_rng.integers(0, self.action_space.n, size=len(obs))

    def _record_logs(self) -> None:
        self.logger.record("rollout/exploration_rate", 1.0)
