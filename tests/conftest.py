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


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a test module (as the harness runs every pair), restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
