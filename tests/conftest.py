"""Small fixtures shared by the test files, and the order in which xdist hands out the modules.

`make test` hands out whole modules (`--dist loadfile`: a module's studies, set up once per module,
are not made again on another worker) in the order of collection (`--no-loadscope-reorder`), which
puts the modules that run studies or start processes first (see `heaviest_modules_first`).
"""

from __future__ import annotations

import pathlib
from collections import Counter
from collections.abc import Iterator

import gymnasium as gym
import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: its order is the order modules are handed out in
        heaviest_modules_first(items)


def heaviest_modules_first(items: list[pytest.Item]) -> None:
    """Sort the items (stably: a module's stay together, in order) by their module's weight, the
    heaviest first: 10 for each test marked `slow`, 1 for each other test marked `e2e`. Whole modules
    handed out longest first, the many short ones last, even out the workers' ends."""
    weight: Counter[pathlib.Path] = Counter()
    for item in items:
        if item.get_closest_marker("slow") is not None:
            weight[item.path] += 10
        elif item.get_closest_marker("e2e") is not None:
            weight[item.path] += 1
    items.sort(key=lambda item: -weight[item.path])


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
