"""Small fixtures shared by the test files."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import pytest


@pytest.fixture
def cartpole() -> Iterator[gym.Env]:
    """A plain `CartPole-v1` env (no harness wrappers), closed after the test."""
    env = gym.make("CartPole-v1")
    yield env
    env.close()
