"""A pytest plugin: Stable-Baselines3's own test files, with a hand-written agent in `DQN`'s place.

Loaded with `-p agent_in_dqns_place` into a pytest run of SB3's `tests/` (from its source
distribution, `make install` caches it), before SB3's test modules are imported. It does two
things only:

- the name swap: `stable_baselines3.DQN` (and `stable_baselines3.dqn.DQN`) becomes `DQN` below,
  so every `from stable_baselines3 import DQN` in SB3's tests, and every parametrization over it,
  gets the hand-written agent;
- the constructor shim: SB3 builds `DQN(policy, env, **kwargs)`, the agents `Agent(env, **kwargs)`;
  the policy must be SB3's `"MlpPolicy"` (the only one an agent of a 1-D state has).

Which agent: `SB3_SUITE_AGENT` = `DQNAgent` (default), `TabularQAgent` or `TabularSarsaAgent`. A
tabular agent has no network, replay memory or optimizer: the shim passes it the arguments it
shares with SB3's DQN (`gamma`, `exploration_final_eps`, `seed`, `verbose`, ...) and drops the
DQN-only ones (`DQN_ONLY_KEYS`), which have no meaning for a table.

Only SB3's DQN cases are collected: a test parametrized with `DQN` (as `model_class`, or `algo` in
`test_deterministic` and `test_logger`), and the test
functions written for DQN alone (`DQN_ONLY`); the rest are deselected.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import stable_baselines3
import stable_baselines3.dqn

import custom_agents

AGENT_NAME = os.environ.get("SB3_SUITE_AGENT", "DQNAgent")
AGENT = getattr(custom_agents, AGENT_NAME)

DQN_ONLY = frozenset(
    {
        "test_dqn_epsilon_greedy",
        "test_dqn_target_update_interval",
        "test_dqn",
        "test_warn_dqn_multi_env",
        "test_dqn_train_with_batch_norm",
        "test_dqn_custom_policy",
    }
)
"""SB3's test functions that build a `DQN` and no other algorithm, in the files run."""

DQN_ONLY_KEYS = frozenset(
    {
        "learning_rate",
        "buffer_size",
        "learning_starts",
        "batch_size",
        "tau",
        "train_freq",
        "gradient_steps",
        "replay_buffer_class",
        "replay_buffer_kwargs",
        "optimize_memory_usage",
        "n_steps",
        "target_update_interval",
        "exploration_fraction",
        "exploration_initial_eps",
        "max_grad_norm",
        "policy_kwargs",
        "device",
    }
)
"""SB3 DQN arguments without a meaning for a table (its learning rate is a schedule of its own,
it learns per step, has no network, replay memory or device); the shim drops them."""


class DQN(AGENT):  # type: ignore[misc, valid-type]
    """`AGENT` built the way SB3 builds its `DQN`: `DQN(policy, env, **kwargs)`."""

    def __init__(self, policy: Any = "MlpPolicy", env: Any = None, **kwargs: Any) -> None:
        if policy != "MlpPolicy":
            raise ValueError(f"{AGENT_NAME} has only SB3's 'MlpPolicy', got {policy!r}")
        if AGENT_NAME != "DQNAgent":
            kwargs = {key: value for key, value in kwargs.items() if key not in DQN_ONLY_KEYS}
        super().__init__(env, **kwargs)


DQN.__name__ = DQN.__qualname__ = "DQN"
stable_baselines3.DQN = DQN
stable_baselines3.dqn.DQN = DQN


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep SB3's DQN cases only."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        is_dqn = any(value is DQN for value in params.values()) or getattr(item, "originalname", item.name) in DQN_ONLY
        (kept if is_dqn else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept
