"""Small fixtures shared by the test files; which tests of the session run (`--serial`), and in
which order xdist hands out the modules.

Tests marked `serial` must not run beside other tests (a Ctrl-C sent after a fixed delay: which
phase of the command it lands in must not depend on the load of other tests). `make test` runs the
suite in two sessions: every other test in parallel (`--serial exclude`), then these alone
(`--serial only`).

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--serial",
        choices=("include", "exclude", "only"),
        default="include",
        help="the tests marked serial: run them with the others (include, the default), leave them out "
        "(exclude: a parallel session), or run only them (only)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    choice = config.getoption("--serial")
    if choice != "include":
        keep = choice == "only"
        selected = [item for item in items if (item.get_closest_marker("serial") is not None) == keep]
        deselected = [item for item in items if (item.get_closest_marker("serial") is not None) != keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
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
