"""The SB3 algorithm surface, checked on every hand-written agent with stock SB3 callbacks.

Add an agent by appending `(key, class, tiny hyperparameters)` to `AGENT_FACTORIES`; every test
below then runs on it too.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    ProgressBarCallback,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from custom_agents import DQNAgent, RandomAgent, TabularQAgent, TabularSarsaAgent

AGENT_FACTORIES: list[tuple[str, type, dict[str, Any]]] = [
    ("random", RandomAgent, {}),
    ("tabular_q", TabularQAgent, {}),
    ("tabular_sarsa", TabularSarsaAgent, {}),
    (
        "custom_dqn",
        DQNAgent,
        {
            "net_arch": [8],
            "learning_starts": 20,
            "batch_size": 8,
            "buffer_size": 500,
            "target_update_interval": 50,
            "train_freq": 4,
        },
    ),
]

# Log keys an agent writes besides the rollout and time keys every agent writes.
AGENT_LOG_KEYS: dict[str, tuple[str, ...]] = {
    "tabular_q": ("rollout/exploration_rate", "train/learning_rate"),
    "tabular_sarsa": ("rollout/exploration_rate", "train/learning_rate"),
    "custom_dqn": ("rollout/exploration_rate", "train/learning_rate", "train/loss", "train/n_updates"),
}

ENV_ID = "CartPole-v1"

agent_factories = pytest.mark.parametrize(
    ("key", "cls", "hyperparameters"), AGENT_FACTORIES, ids=[key for key, _, _ in AGENT_FACTORIES]
)


def make_agent(cls: type, hyperparameters: dict[str, Any], env: Any = None, seed: int = 0) -> Any:
    return cls(gym.make(ENV_ID) if env is None else env, seed=seed, **hyperparameters)


def monitored_vec_env() -> DummyVecEnv:
    return DummyVecEnv([lambda: Monitor(gym.make(ENV_ID))])


class HookRecorder(BaseCallback):
    """Records the hooks called, one letter each (I init, T training start, R rollout start,
    S step, E rollout end, X training end), and what `self.locals` holds at each step."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.steps: list[dict[str, Any]] = []

    def _init_callback(self) -> None:
        self.calls.append("I")

    def _on_training_start(self) -> None:
        self.calls.append("T")

    def _on_rollout_start(self) -> None:
        self.calls.append("R")

    def _on_step(self) -> bool:
        self.calls.append("S")
        names = ("dones", "infos", "rewards", "new_obs", "actions", "total_timesteps")
        record = {name: self.locals[name] for name in names}
        record = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in record.items()}
        record["num_timesteps"] = self.num_timesteps
        record["model_num_timesteps"] = self.model.num_timesteps
        self.steps.append(record)
        return True

    def _on_rollout_end(self) -> None:
        self.calls.append("E")

    def _on_training_end(self) -> None:
        self.calls.append("X")

    @property
    def order(self) -> str:
        return "".join(self.calls)


class StepCounter(gym.Wrapper):
    """Counts the env's steps."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0

    def step(self, action: Any):
        self.steps += 1
        return super().step(action)


@agent_factories
def test_eval_callback_with_reward_threshold_stops_training(key, cls, hyperparameters, tmp_path):
    agent = make_agent(cls, hyperparameters)
    stop = StopTrainingOnRewardThreshold(reward_threshold=5, verbose=0)
    eval_callback = EvalCallback(
        Monitor(gym.make(ENV_ID)),
        callback_on_new_best=stop,
        eval_freq=50,
        n_eval_episodes=2,
        log_path=str(tmp_path / "eval"),
        best_model_save_path=str(tmp_path / "best"),
        verbose=0,
    )
    agent.learn(total_timesteps=5_000, callback=eval_callback)
    assert agent.num_timesteps == 50  # stopped at the first evaluation, far below 5,000
    assert eval_callback.best_mean_reward >= 5
    assert eval_callback.evaluations_timesteps == [50]
    assert (tmp_path / "eval" / "evaluations.npz").exists()
    best = list((tmp_path / "best").iterdir())
    assert len(best) == 1 and best[0].name.startswith("best_model")
    assert type(cls.load(best[0])) is cls


@agent_factories
def test_checkpoint_callback_writes_loadable_files(key, cls, hyperparameters, tmp_path):
    agent = make_agent(cls, hyperparameters)
    agent.learn(60, callback=CheckpointCallback(save_freq=20, save_path=str(tmp_path), name_prefix="agent"))
    names = {path.name for path in tmp_path.iterdir()}
    assert {"agent_20_steps.zip", "agent_40_steps.zip", "agent_60_steps.zip"} <= names
    loaded = cls.load(tmp_path / "agent_40_steps.zip")
    assert loaded.num_timesteps == 40
    action, _ = loaded.predict(np.zeros(4, dtype=np.float32), deterministic=True)
    assert agent.action_space.contains(int(action))


@agent_factories
def test_callback_list_and_plain_list_call_every_callback(key, cls, hyperparameters):
    for wrap in (CallbackList, list):
        first, second = HookRecorder(), HookRecorder()
        agent = make_agent(cls, hyperparameters)
        agent.learn(40, callback=wrap([first, second]))
        assert first.order == second.order
        assert first.order.count("S") == agent.num_timesteps


@agent_factories
def test_function_callback_gets_locals_and_globals_and_can_stop(key, cls, hyperparameters):
    calls: list[tuple[dict, dict]] = []

    def callback(locals_: dict[str, Any], globals_: dict[str, Any]) -> bool:
        calls.append((locals_, globals_))
        return len(calls) < 10

    agent = make_agent(cls, hyperparameters)
    agent.learn(1_000, callback=callback)
    assert agent.num_timesteps == 10
    assert len(calls) == 10
    locals_, globals_ = calls[-1]
    assert {"dones", "infos", "rewards", "new_obs", "actions"} <= set(locals_)
    assert isinstance(globals_, dict)


@pytest.mark.filterwarnings("ignore:rich is experimental")
@agent_factories
def test_progress_bar_callback_and_progress_bar_flag(key, cls, hyperparameters):
    agent = make_agent(cls, hyperparameters)
    progress = ProgressBarCallback()
    agent.learn(64, callback=progress)
    assert progress.pbar.n == agent.num_timesteps
    agent = make_agent(cls, hyperparameters)
    agent.learn(64, progress_bar=True)
    assert agent.num_timesteps >= 64


@agent_factories
def test_evaluate_policy_works(key, cls, hyperparameters):
    agent = make_agent(cls, hyperparameters)
    agent.learn(100)
    env = Monitor(gym.make(ENV_ID))
    mean, std = evaluate_policy(agent, env, n_eval_episodes=3, deterministic=True)
    assert 1 <= mean <= 500
    assert std >= 0
    rewards, lengths = evaluate_policy(agent, env, n_eval_episodes=4, return_episode_rewards=True)
    assert len(rewards) == len(lengths) == 4
    assert [float(r) for r in rewards] == [float(n) for n in lengths]  # CartPole: 1 per step


@agent_factories
def test_callback_hooks_are_called_in_sb3_order(key, cls, hyperparameters):
    recorder = HookRecorder()
    agent = make_agent(cls, hyperparameters)
    agent.learn(150, callback=recorder)
    assert re.fullmatch(r"IT(RS+E)+X", recorder.order), recorder.order
    assert recorder.order.count("S") == agent.num_timesteps


@agent_factories
def test_step_locals_hold_what_stock_callbacks_read(key, cls, hyperparameters):
    recorder = HookRecorder()
    agent = make_agent(cls, hyperparameters)
    agent.learn(150, callback=recorder)
    for n, step in enumerate(recorder.steps, start=1):
        assert step["num_timesteps"] == step["model_num_timesteps"] == n
        assert step["total_timesteps"] == 150
        assert step["dones"].shape == (1,)
        assert step["rewards"].shape == (1,)
        assert step["new_obs"].shape == (1, 4)
        assert np.asarray(step["actions"]).reshape(-1).shape == (1,)
        assert isinstance(step["infos"], list) and len(step["infos"]) == 1
        assert step["rewards"][0] == 1.0
    ends = [step for step in recorder.steps if step["dones"][0]]
    assert ends, "no episode ended in 150 steps"
    for step in ends:
        info = step["infos"][0]
        assert "terminal_observation" in info
        assert info["episode"]["l"] > 0


@agent_factories
def test_logger_writes_sb3_keys_to_csv(key, cls, hyperparameters, tmp_path):
    agent = make_agent(cls, hyperparameters)
    logger = configure(str(tmp_path), ["csv"])
    agent.set_logger(logger)
    agent.learn(300, log_interval=1)
    assert agent.logger is logger
    logger.close()
    with open(tmp_path / "progress.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows
    expected = {"rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps", "time/total_timesteps"}
    expected |= set(AGENT_LOG_KEYS.get(key, ()))
    assert expected <= set(rows[-1]), sorted(rows[-1])
    for row in rows:
        assert float(row["rollout/ep_rew_mean"]) == float(row["rollout/ep_len_mean"]) > 0
    steps = [int(row["time/total_timesteps"]) for row in rows]
    assert steps == sorted(steps)
    assert steps[-1] <= agent.num_timesteps


@agent_factories
def test_num_timesteps_counts_env_steps(key, cls, hyperparameters):
    counter = StepCounter(gym.make(ENV_ID))
    agent = make_agent(cls, hyperparameters, env=counter)
    recorder = HookRecorder()
    agent.learn(137, callback=recorder)
    assert agent.num_timesteps == counter.steps == len(recorder.steps)
    assert agent.num_timesteps >= 137
    before = agent.num_timesteps
    agent.learn(50, reset_num_timesteps=False)
    assert agent.num_timesteps == counter.steps >= before + 50
    counted = counter.steps
    agent.learn(30)
    assert agent.num_timesteps == counter.steps - counted >= 30


@agent_factories
def test_same_seed_gives_the_same_actions(key, cls, hyperparameters):
    def actions(seed: int) -> list[int]:
        recorder = HookRecorder()
        env = DummyVecEnv([lambda: Monitor(gym.make(ENV_ID))])
        make_agent(cls, hyperparameters, env=env, seed=seed).learn(200, callback=recorder)
        return [int(np.asarray(step["actions"]).reshape(-1)[0]) for step in recorder.steps]

    assert actions(3) == actions(3)
    assert actions(3) != actions(4)


@agent_factories
def test_evaluation_during_training_does_not_change_training(key, cls, hyperparameters):
    def actions(with_eval: bool) -> list[int]:
        recorder = HookRecorder()
        callbacks: list[BaseCallback] = [recorder]
        if with_eval:
            callbacks.append(EvalCallback(Monitor(gym.make(ENV_ID)), eval_freq=50, n_eval_episodes=2, verbose=0))
        env = DummyVecEnv([lambda: Monitor(gym.make(ENV_ID))])
        make_agent(cls, hyperparameters, env=env, seed=3).learn(300, callback=callbacks)
        return [int(np.asarray(step["actions"]).reshape(-1)[0]) for step in recorder.steps]

    assert actions(with_eval=True) == actions(with_eval=False)


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
def test_vec_env_with_two_envs_is_refused(key, cls, hyperparameters):
    venv = DummyVecEnv([lambda: gym.make(ENV_ID), lambda: gym.make(ENV_ID)])
    with pytest.raises(ValueError):
        make_agent(cls, hyperparameters, env=venv)


@agent_factories
def test_unknown_hyperparameter_is_refused_by_name(key, cls, hyperparameters):
    with pytest.raises(ValueError, match="no_such_option"):
        make_agent(cls, {**hyperparameters, "no_such_option": 1})


@agent_factories
def test_predict_shapes(key, cls, hyperparameters):
    agent = make_agent(cls, hyperparameters)
    action, state = agent.predict(np.zeros(4, dtype=np.float32), deterministic=True)
    assert state is None
    assert np.asarray(action).shape == ()
    actions, _ = agent.predict(np.zeros((5, 4), dtype=np.float32), deterministic=True)
    assert actions.shape == (5,)
    with pytest.raises(ValueError):
        agent.predict(np.zeros((5, 3), dtype=np.float32))
