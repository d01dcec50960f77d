"""The agent kinds a study can name, each built from plain hyperparameters the same way.

| kind            | class                                   |
|-----------------|-----------------------------------------|
| `random`        | `custom_agents.RandomAgent`             |
| `tabular_q`     | `custom_agents.TabularQAgent`           |
| `tabular_sarsa` | `custom_agents.TabularSarsaAgent`       |
| `custom_dqn`    | `custom_agents.DQNAgent`                |
| `sb3_dqn`       | `stable_baselines3.DQN`, unpatched      |

`custom_dqn` and `sb3_dqn` take the same hyperparameter names and presets (`DQNConfig`); an
option SB3's DQN has no counterpart for (`target_update_unit = "update"`, `exploration_decay`,
`loss = "mse"`) is refused for `sb3_dqn` rather than silently ignored.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from stable_baselines3 import DQN
from stable_baselines3.common.vec_env import VecEnv

from custom_agents import DQNAgent, RandomAgent, TabularQAgent, TabularSarsaAgent
from custom_agents.base import BaseAgent
from custom_agents.config import to_plain
from custom_agents.dqn import dqn_config


@dataclass(frozen=True)
class AgentKind:
    """How the harness builds, saves and loads one kind of agent."""

    name: str
    description: str
    resolve: Callable[[Mapping[str, Any]], dict[str, Any]]
    """Checked, complete hyperparameters (defaults filled, preset applied) as plain values."""
    build: Callable[[VecEnv, int, Mapping[str, Any]], Any]
    """A new model on `env` with `seed` and resolved hyperparameters."""
    load: Callable[[pathlib.Path], Any]
    """A model saved by `model.save(path)`."""
    model_suffix: str
    """What `model.save("model")` appends."""
    uses_gpu: bool = False
    """Whether a run can use a GPU (with `device = "cuda"`): Ray's `--gpus-per-run` goes to these."""
    check: Callable[[Any, Any, Mapping[str, Any]], None] | None = None
    """Raises `ValueError` when resolved hyperparameters cannot work on an env's (observation,
    action) spaces."""


def _hand_written(name: str, cls: type[BaseAgent], description: str, uses_gpu: bool = False) -> AgentKind:
    def check(observation_space: Any, action_space: Any, values: Mapping[str, Any]) -> None:
        # Building the agent without an env runs every check that needs the spaces.
        cls(None, observation_space=observation_space, action_space=action_space, **values)

    return AgentKind(
        name=name,
        description=description,
        resolve=lambda values: to_plain(cls.make_config(values)),
        build=lambda env, seed, values: cls(env, seed=seed, **values),
        # A model trained on a GPU is looked at (play, the report's episodes) on the CPU.
        load=(lambda path: cls.load(path, device="cpu")) if uses_gpu else cls.load,
        model_suffix=cls.save_suffix,
        uses_gpu=uses_gpu,
        check=check,
    )


_SB3_UNSUPPORTED = {
    "target_update_unit": ("step", "SB3's DQN counts target_update_interval in env steps only"),
    "exploration_decay": (None, "SB3's DQN has only the linear exploration schedule"),
    "loss": ("huber", "SB3's DQN uses the Huber loss only"),
}


def _sb3_resolve(values: Mapping[str, Any]) -> dict[str, Any]:
    config = dqn_config(values)
    for key, (supported, why) in _SB3_UNSUPPORTED.items():
        if getattr(config, key) != supported:
            raise ValueError(f"hyperparameter {key!r} must be {supported!r} for sb3_dqn ({why})")
    return to_plain(config)


def _sb3_check(observation_space: Any, action_space: Any, values: Mapping[str, Any]) -> None:
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"sb3_dqn needs a Discrete action space, the env has {action_space}")


def _sb3_build(env: VecEnv, seed: int, values: Mapping[str, Any]) -> DQN:
    kwargs = {k: v for k, v in values.items() if k not in (*_SB3_UNSUPPORTED, "preset", "net_arch", "device")}
    kwargs["train_freq"] = tuple(kwargs["train_freq"])
    return DQN(
        "MlpPolicy",
        env,
        seed=seed,
        device=values["device"],
        policy_kwargs={"net_arch": list(values["net_arch"])},
        **kwargs,
    )


KINDS: dict[str, AgentKind] = {
    "random": _hand_written("random", RandomAgent, "uniform random policy (the floor)"),
    "tabular_q": _hand_written("tabular_q", TabularQAgent, "hand-written tabular Q-learning"),
    "tabular_sarsa": _hand_written("tabular_sarsa", TabularSarsaAgent, "hand-written tabular SARSA"),
    "custom_dqn": _hand_written("custom_dqn", DQNAgent, "hand-written PyTorch DQN", uses_gpu=True),
    "sb3_dqn": AgentKind(
        name="sb3_dqn",
        description="Stable-Baselines3's DQN",
        resolve=_sb3_resolve,
        build=_sb3_build,
        load=lambda path: DQN.load(path, device="cpu"),
        model_suffix=".zip",
        uses_gpu=True,
        check=_sb3_check,
    ),
}


def resolve_hyperparameters(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Checked, complete hyperparameters of `kind`; `ValueError` naming a bad one."""
    return KINDS[kind].resolve(values)


@functools.cache
def _spaces(env_id: str) -> tuple[Any, Any]:
    env = gym.make(env_id)
    env.close()
    return env.observation_space, env.action_space


def check_against_env(kind: str, values: Mapping[str, Any], env_id: str) -> None:
    """`ValueError` when resolved hyperparameters of `kind` cannot work on `env_id`'s spaces
    (e.g. `num_bins` with a length other than the observation's)."""
    check = KINDS[kind].check
    if check is not None:
        check(*_spaces(env_id), values)
