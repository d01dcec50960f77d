"""Named hyperparameter sets for the DQNs, as data (SB3's names; no torch needed to read them).

- `zoo`: the RL Zoo's tuned DQN hyperparameters for the env (rl-baselines3-zoo,
  `hyperparams/dqn.yml`): CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3 (which the Zoo
  tunes as Acrobot-v1). `ZOO_BUDGETS` holds the Zoo's training budget for each.
- `assignment`: the course assignment's DQN choices (see `custom_agents.dqn.DQNAgent`), on any env.

`custom_dqn` reads them as they are (`dqn_preset`); the harness gives `sb3_dqn` the `zoo` set in
SB3's constructor arguments (`sb3_kwargs`).
"""

from __future__ import annotations

import math
from typing import Any

_ACROBOT = {
    "learning_rate": 6.3e-4,
    "batch_size": 128,
    "buffer_size": 50_000,
    "learning_starts": 0,
    "gamma": 0.99,
    "target_update_interval": 250,
    "train_freq": 4,
    "gradient_steps": -1,
    "exploration_fraction": 0.12,
    "exploration_final_eps": 0.1,
    "net_arch": (256, 256),
}

ZOO_DQN: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
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
    "Acrobot-v1": _ACROBOT,
    "MountainCar-v0": {
        "learning_rate": 4e-3,
        "batch_size": 128,
        "buffer_size": 10_000,
        "learning_starts": 1_000,
        "gamma": 0.98,
        "target_update_interval": 600,
        "train_freq": 16,
        "gradient_steps": 8,
        "exploration_fraction": 0.2,
        "exploration_final_eps": 0.07,
        "net_arch": (256, 256),
    },
    "LunarLander-v3": _ACROBOT,
}
"""Env id -> the RL Zoo's DQN hyperparameters for it."""

ZOO_BUDGETS: dict[str, int] = {
    "CartPole-v1": 50_000,
    "Acrobot-v1": 100_000,
    "MountainCar-v0": 120_000,
    "LunarLander-v3": 100_000,
}
"""Env id -> the RL Zoo's DQN training budget (env steps)."""

ASSIGNMENT_DQN: dict[str, Any] = {
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
}
"""The course assignment's DQN (env-independent)."""

PRESET_NAMES = ("zoo", "assignment")

DQN_PRESETS: dict[str, dict[str, Any]] = {"zoo": ZOO_DQN["CartPole-v1"], "assignment": ASSIGNMENT_DQN}
"""Preset name -> hyperparameters on CartPole-v1 (the project's first env)."""

SB3_ONLY_POLICY_KEYS = ("net_arch",)
"""Keys that SB3's DQN takes inside `policy_kwargs` rather than as constructor arguments."""


def dqn_preset(name: str, env_id: str | None) -> dict[str, Any]:
    """The hyperparameters of preset `name` for `env_id`; `ValueError` naming the preset when
    there is none (an unknown name, or an env the RL Zoo has no DQN settings for)."""
    if name == "assignment":
        return dict(ASSIGNMENT_DQN)
    if name != "zoo":
        raise ValueError(f"hyperparameter 'preset' must be one of {', '.join(map(repr, PRESET_NAMES))}, got {name!r}")
    if env_id not in ZOO_DQN:
        where = f"for {env_id!r}" if env_id else "without knowing the env"
        raise ValueError(
            f"hyperparameter 'preset': the RL Zoo has no DQN settings {where}; it has them for "
            f"{', '.join(ZOO_DQN)} (give the hyperparameters instead)"
        )
    return dict(ZOO_DQN[env_id])


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
