"""The agent contract, run on every built-in kind, a few library classes and the example agent.

One contract, not two: the properties the harness relies on (SB3's surface, callback order,
stock callbacks, `evaluate_policy`, exact budgets, batched predict, save/load, determinism) are
checked by `harness.contract`, the same code `harness check-agent` runs on a user's class. Add a
kind by appending `(kind, tiny hyperparameters)` to `KINDS`; every check then runs on it too.

The tests after the contract cover what is specific to the hand-written agents (`BaseAgent`
subclasses): the log keys each one writes, how it takes its env, how it refuses bad input.
"""

from __future__ import annotations

import csv
import functools
import pathlib
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from custom_agents import DQNAgent, RandomAgent, TabularQAgent, TabularSarsaAgent
from harness import agents
from harness.agents import BUILTINS, resolve_kind

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV_ID = "CartPole-v1"
BUDGET = 600
"""`total_timesteps` of the contract's longer checks: enough for a few episodes and log dumps."""
EXAMPLE = "examples/my_agents.py:ExpectedSarsaAgent"

TINY_DQN = {
    "net_arch": [8],
    "learning_starts": 20,
    "batch_size": 8,
    "buffer_size": 500,
    "target_update_interval": 50,
    "train_freq": 4,
}

KINDS: list[tuple[str, dict[str, Any]]] = [
    ("random", {}),
    ("tabular_q", {}),
    ("tabular_sarsa", {}),
    ("custom_dqn", TINY_DQN),
    (
        "sb3_dqn",
        {
            "preset": "zoo",
            "learning_starts": 50,
            "train_freq": 16,
            "gradient_steps": 4,
            "policy_kwargs": {"net_arch": [16]},
        },
    ),
    ("stable_baselines3:PPO", {"n_steps": 64, "batch_size": 32, "n_epochs": 2}),
    ("stable_baselines3:A2C", {"n_steps": 16}),
    (
        "sb3_contrib:QRDQN",
        {
            "buffer_size": 1_000,
            "learning_starts": 50,
            "batch_size": 16,
            "train_freq": 16,
            "policy_kwargs": {"net_arch": [16], "n_quantiles": 10},
        },
    ),
    (EXAMPLE, {}),
]


@pytest.fixture(scope="module", autouse=True)
def _forget_the_example():
    """The example file is imported as the module `my_agents`: forget it (and its folder on
    `sys.path`) afterwards, so that a later test may import another file of that name."""
    path = list(sys.path)
    yield
    sys.path[:] = path
    module = sys.modules.get("my_agents")
    if module is not None and pathlib.Path(module.__file__ or "").resolve() == REPO / "examples" / "my_agents.py":
        del sys.modules["my_agents"]


def test_every_builtin_kind_is_checked():
    assert set(BUILTINS) <= {kind for kind, _ in KINDS}


@functools.cache
def subject(kind: str) -> agents.Subject:
    """The contract's subject for a kind of `KINDS` (resolved once per test session)."""
    values = dict(KINDS)[kind]
    resolved = resolve_kind(kind, REPO)
    return agents.Subject(resolved, resolved.resolve(values, env_id=ENV_ID), ENV_ID, BUDGET, seed=0)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("check", list(agents.CHECKS))
@pytest.mark.parametrize("kind", [kind for kind, _ in KINDS])
def test_contract(kind, check):
    result = agents.run_check(check, subject(kind))
    assert result.name == check
    assert result.ok, result.line()


# -- what is specific to the hand-written agents -------------------------------------------------

AGENT_FACTORIES: list[tuple[str, type, dict[str, Any]]] = [
    ("random", RandomAgent, {}),
    ("tabular_q", TabularQAgent, {}),
    ("tabular_sarsa", TabularSarsaAgent, {}),
    ("custom_dqn", DQNAgent, TINY_DQN),
]

# Log keys an agent writes besides the rollout and time keys every agent writes.
AGENT_LOG_KEYS: dict[str, tuple[str, ...]] = {
    "random": ("rollout/exploration_rate",),
    "tabular_q": ("rollout/exploration_rate", "train/learning_rate", "train/loss", "train/n_updates"),
    "tabular_sarsa": ("rollout/exploration_rate", "train/learning_rate", "train/loss", "train/n_updates"),
    "custom_dqn": ("rollout/exploration_rate", "train/learning_rate", "train/loss", "train/n_updates"),
}

agent_factories = pytest.mark.parametrize(
    ("key", "cls", "hyperparameters"), AGENT_FACTORIES, ids=[key for key, _, _ in AGENT_FACTORIES]
)


def make_agent(cls: type, hyperparameters: dict[str, Any], env: Any = None, seed: int = 0) -> Any:
    return cls(gym.make(ENV_ID) if env is None else env, seed=seed, **hyperparameters)


def monitored_vec_env() -> DummyVecEnv:
    return DummyVecEnv([lambda: Monitor(gym.make(ENV_ID))])


class StepRecorder(BaseCallback):
    """Keeps what `self.locals` holds at each step."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[dict[str, Any]] = []

    def _on_step(self) -> bool:
        names = ("dones", "infos", "rewards", "new_obs", "actions", "total_timesteps")
        record = {name: self.locals[name] for name in names}
        self.steps.append({k: v.copy() if isinstance(v, np.ndarray) else v for k, v in record.items()})
        return True

    def actions(self) -> list[int]:
        return [int(np.asarray(step["actions"]).reshape(-1)[0]) for step in self.steps]


class StepCounter(gym.Wrapper):
    """Counts the env's steps."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0

    def step(self, action: Any):
        self.steps += 1
        return super().step(action)


@agent_factories
def test_logger_writes_sb3_keys_and_the_agents_own(key, cls, hyperparameters, tmp_path):
    agent = make_agent(cls, hyperparameters)
    logger = configure(str(tmp_path), ["csv"])
    agent.set_logger(logger)
    agent.learn(300, log_interval=1)
    assert agent.logger is logger
    logger.close()
    with open(tmp_path / "progress.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows
    expected = {"rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps", "time/total_timesteps", "time/episodes"}
    expected |= set(AGENT_LOG_KEYS[key])
    written = {name for row in rows for name, value in row.items() if value not in ("", None)}
    assert expected <= written, sorted(written)
    for row in rows:
        assert float(row["rollout/ep_rew_mean"]) == float(row["rollout/ep_len_mean"]) > 0  # CartPole: 1 per step
    steps = [int(row["time/total_timesteps"]) for row in rows]
    assert steps == sorted(steps)
    assert steps[-1] <= agent.num_timesteps


@agent_factories
def test_step_locals_hold_the_values_stock_callbacks_read(key, cls, hyperparameters):
    recorder = StepRecorder()
    agent = make_agent(cls, hyperparameters)
    agent.learn(150, callback=recorder)
    assert len(recorder.steps) == agent.num_timesteps >= 150
    for step in recorder.steps:
        assert step["total_timesteps"] == 150
        assert step["rewards"][0] == 1.0
    ends = [step for step in recorder.steps if step["dones"][0]]
    assert ends, "no episode ended in 150 steps"
    for step in ends:
        info = step["infos"][0]
        assert info["terminal_observation"].shape == (4,)
        assert info["episode"]["l"] > 0


@agent_factories
def test_num_timesteps_counts_env_steps_and_continues(key, cls, hyperparameters):
    counter = StepCounter(gym.make(ENV_ID))
    agent = make_agent(cls, hyperparameters, env=counter)
    agent.learn(137)
    assert agent.num_timesteps == counter.steps >= 137
    before = agent.num_timesteps
    agent.learn(50, reset_num_timesteps=False)
    assert agent.num_timesteps == counter.steps >= before + 50
    counted = counter.steps
    agent.learn(30)
    assert agent.num_timesteps == counter.steps - counted >= 30


@agent_factories
def test_another_seed_gives_other_actions(key, cls, hyperparameters):
    def actions(seed: int) -> list[int]:
        recorder = StepRecorder()
        make_agent(cls, hyperparameters, env=monitored_vec_env(), seed=seed).learn(200, callback=recorder)
        return recorder.actions()

    assert actions(3) == actions(3)
    assert actions(3) != actions(4)


@agent_factories
def test_construction_with_a_gymnasium_env(key, cls, hyperparameters):
    agent = make_agent(cls, hyperparameters, env=gym.make(ENV_ID))
    env = agent.get_env()
    assert isinstance(env, VecEnv)
    assert env.num_envs == 1
    assert agent.get_vec_normalize_env() is None
    agent.learn(100)
    assert len(agent.ep_info_buffer) > 0  # the env was wrapped in a Monitor


@agent_factories
def test_construction_with_a_dummy_vec_env(key, cls, hyperparameters):
    venv = monitored_vec_env()
    agent = make_agent(cls, hyperparameters, env=venv)
    assert agent.get_env() is venv
    assert agent.get_vec_normalize_env() is None
    agent.learn(50)
    assert agent.num_timesteps >= 50


@agent_factories
def test_vec_env_with_two_envs_is_refused_unless_the_agent_takes_several(key, cls, hyperparameters):
    venv = DummyVecEnv([lambda: Monitor(gym.make(ENV_ID)), lambda: Monitor(gym.make(ENV_ID))])
    if not cls.multi_env:
        with pytest.raises(ValueError, match="one env"):
            make_agent(cls, hyperparameters, env=venv)
        return
    agent = make_agent(cls, hyperparameters, env=venv)  # as SB3's DQN: n transitions per vector step
    agent.learn(64)  # rollouts of train_freq steps of 2 envs
    assert agent.n_envs == 2 and agent.num_timesteps == 64
    assert agent._episode_num == len(agent.ep_info_buffer) > 0


@agent_factories
def test_unknown_hyperparameter_is_refused_by_name(key, cls, hyperparameters):
    with pytest.raises(ValueError, match="no_such_option"):
        make_agent(cls, {**hyperparameters, "no_such_option": 1})


@agent_factories
def test_predict_shapes_and_errors(key, cls, hyperparameters):
    agent = make_agent(cls, hyperparameters)
    action, state = agent.predict(np.zeros(4, dtype=np.float32), deterministic=True)
    assert state is None
    assert np.asarray(action).shape == ()
    actions, _ = agent.predict(np.zeros((5, 4), dtype=np.float32), deterministic=True)
    assert actions.shape == (5,)
    for bad in (np.zeros((5, 3)), np.zeros(3), np.zeros((2, 5, 4))):
        with pytest.raises(ValueError, match="does not fit the observation space"):
            agent.predict(bad.astype(np.float32))
