"""Named hyperparameter sets for the DQNs, as data (SB3's names; no torch needed to read them).

- `zoo`: the RL Zoo's tuned DQN hyperparameters for CartPole-v1 (rl-baselines3-zoo,
  `hyperparams/dqn.yml`).
- `assignment`: the course assignment's DQN choices (see `custom_agents.dqn.DQNAgent`).

`custom_dqn` reads them as they are; the harness gives `sb3_dqn` the `zoo` set in SB3's
constructor arguments (`sb3_kwargs`).
"""

from __future__ import annotations

import math
from typing import Any

DQN_PRESETS: dict[str, dict[str, Any]] = {
    "zoo": {
        "learning_rate": 2.3e-3,
        "batch_size": 64,
        "buffer_size": 100_000,
        "learning_starts": 1_000,
        "gamma": 0.99,
        "target_update_interval": 10,
        "train_freq": 256,
        "gradient_steps": 128,
        "exploration_fraction": 0.16,
        "exploration_final_eps": 0.04,
        "net_arch": (256, 256),
    },
    "assignment": {
        "learning_rate": 1e-3,
        "batch_size": 64,
        "buffer_size": 10_000,
        "learning_starts": 64,
        "gamma": 0.9,
        "train_freq": (1, "episode"),
        "gradient_steps": 1,
        "target_update_interval": 10,
        "target_update_unit": "update",
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.1,
        "exploration_decay": 0.1 ** (1 / 500),
        "loss": "mse",
        "max_grad_norm": math.inf,
        "net_arch": (256, 256, 256),
    },
}
"""Preset name -> hyperparameters of `custom_agents.DQNAgent`."""

SB3_ONLY_POLICY_KEYS = ("net_arch",)
"""Keys that SB3's DQN takes inside `policy_kwargs` rather than as constructor arguments."""


def sb3_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """A DQN preset as SB3 `DQN` constructor arguments: `net_arch` moves into `policy_kwargs`,
    tuples become lists (as TOML gives them)."""
    kwargs: dict[str, Any] = {}
    policy_kwargs: dict[str, Any] = {}
    for key, value in values.items():
        plain = list(value) if isinstance(value, tuple) else value
        if key in SB3_ONLY_POLICY_KEYS:
            policy_kwargs[key] = plain
        else:
            kwargs[key] = plain
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs
