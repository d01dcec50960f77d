"""Agents in a file beside their study, for tests/test_identity.py: their code identity must stay
what it was when `runs/` was made (before agent-code identity moved to harness/agents/)."""

import numpy as np
from stable_baselines3 import DQN


class Greedy:
    """An agent of the assignment's shape: push towards the pole's lean."""

    def __init__(self, gain=1.0):
        self.gain = gain
        self.env = None

    def act(self, observation, reward, done):
        return int(self.gain * (observation[2] + observation[3]) > 0)

    def train(self):
        observation, _ = self.env.reset()
        for _ in range(100):
            observation, _, terminated, truncated, _ = self.env.step(self.act(observation, 0.0, False))
            if terminated or truncated:
                observation, _ = self.env.reset()
        np.random.random()


class SmallDQN(DQN):
    """An SB3 subclass in a user's file."""
