"""Tabular Q-learning and SARSA: the update, the schedule, determinism, learning, save/load."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback, StopTrainingOnMaxEpisodes

from custom_agents import RandomAgent, TabularQAgent, TabularSarsaAgent
from custom_agents.tabular import log_decay
from harness.conditions import evaluation_seeds, make_eval_envs, make_training_env, run_episodes

TABULAR_AGENTS = [TabularQAgent, TabularSarsaAgent]

# Three CartPole observations and their state indices under the default grid (3, 3, 6, 6):
# strides (108, 36, 6, 1); position and velocity 0 are in the middle bin (1) of 3; pole angle
# 0 is on the middle edge of 6 bins, so bin 3; 0.2 rad is bin 4 (edges at 0.140 and 0.279);
# -0.2 rad is bin 1 (edges at -0.279 and -0.140); angular velocity 0 is bin 3.
S = [0.0, 0.0, 0.0, 0.0]
S_NEXT = [0.0, 0.0, 0.2, 0.0]
S_RESET = [0.0, 0.0, -0.2, 0.0]
STATE = 108 + 36 + 3 * 6 + 3  # 165
STATE_NEXT = 108 + 36 + 4 * 6 + 3  # 171
STATE_RESET = 108 + 36 + 1 * 6 + 3  # 153

# learning rate 0.5 and exploration `eps` from the first episode: with decay 0.01 the log term
# is 1 - log10(1 / 0.01) = -1, so both schedules sit at their floors.
FIXED_RATES = {"min_learning_rate": 0.5, "decay": 0.01, "gamma": 0.5}


def make_agent(cls: type[TabularQAgent], eps: float = 0.0, **hyperparameters: Any) -> TabularQAgent:
    """An agent on a plain CartPole with learning rate 0.5, gamma 0.5 and exploration `eps`."""
    values = {**FIXED_RATES, "exploration_final_eps": eps, **hyperparameters}
    agent = cls(gym.make("CartPole-v1"), seed=0, **values)
    assert agent.discretizer.index(S) == STATE
    assert agent.discretizer.index(S_NEXT) == STATE_NEXT
    assert agent.discretizer.index(S_RESET) == STATE_RESET
    agent.q_table[STATE] = [2.0, -7.0]
    agent.q_table[STATE_NEXT] = [3.0, 5.0]
    agent.q_table[STATE_RESET] = [100.0, 100.0]
    return agent


def batch(row: list[float]) -> np.ndarray:
    return np.array([row], dtype=np.float32)


def step(agent: TabularQAgent, end: str) -> np.ndarray:
    """Feed the agent one transition S --0--> S_NEXT with reward 1, ending as `end`:
    "none" (an ordinary step), "terminated", or "truncated" (the time limit). On an episode end
    the VecEnv has already reset: new_obs is S_RESET and S_NEXT is the terminal observation.
    Returns the new_obs array that was handed over."""
    done = end != "none"
    new_obs = batch(S_RESET if done else S_NEXT)
    info: dict[str, Any] = {"TimeLimit.truncated": end == "truncated"}
    if done:
        info["terminal_observation"] = np.array(S_NEXT, dtype=np.float32)
    agent._on_transition(batch(S), np.array([0]), np.array([1.0], dtype=np.float32), new_obs, np.array([done]), [info])
    return new_obs


# Q(S, 0) = 2, Q(S_NEXT) = [3, 5], lr = 0.5, gamma = 0.5, r = 1:
#   bootstrap:    0.5 * 2 + 0.5 * (1 + 0.5 * max(3, 5)) = 2.75
#   terminated:   0.5 * 2 + 0.5 * 1                     = 1.5
# (bootstrapping from new_obs after a reset would give 0.5 * 2 + 0.5 * (1 + 0.5 * 100) = 26.5)
@pytest.mark.parametrize("cls", TABULAR_AGENTS)
@pytest.mark.parametrize(("end", "expected"), [("none", 2.75), ("terminated", 1.5), ("truncated", 2.75)])
def test_one_update_matches_the_hand_computed_value(cls, end, expected):
    agent = make_agent(cls, eps=0.0)
    assert agent.learning_rate == 0.5
    assert agent.exploration_rate == 0.0
    before = agent.q_table.copy()
    step(agent, end)
    assert agent.q_table[STATE, 0] == expected
    before[STATE, 0] = expected
    np.testing.assert_array_equal(agent.q_table, before)  # nothing else changed


def test_q_learning_bootstraps_from_the_max_even_while_exploring():
    agent = make_agent(TabularQAgent, eps=1.0)
    for _ in range(20):
        agent.q_table[STATE, 0] = 2.0
        step(agent, "none")
        assert agent.q_table[STATE, 0] == 2.75


@pytest.mark.parametrize("end", ["none", "truncated"])
def test_sarsa_bootstraps_from_the_action_it_chose(end):
    """With eps = 1 the next action is random; the update must use Q(S_NEXT, a') for the a'
    that is then taken (3 -> 2.25, 5 -> 2.75), not the max."""
    agent = make_agent(TabularSarsaAgent, eps=1.0)
    seen = set()
    for _ in range(40):
        agent.q_table[STATE, 0] = 2.0
        new_obs = step(agent, end)
        value = agent.q_table[STATE, 0]
        assert value in (2.25, 2.75)
        chosen = 0 if value == 2.25 else 1
        if end == "none":
            assert agent._sample_actions(new_obs)[0] == chosen  # a' is the action actually taken
        seen.add(chosen)
    assert seen == {0, 1}


def test_log_decay_values():
    expected = {
        0: 1.0,
        24: 1.0,
        25: 1.0 - math.log10(26 / 25),
        100: 1.0 - math.log10(101 / 25),
        299: 0.1,
    }
    for episode, value in expected.items():
        assert log_decay(episode, 0.1, 25.0) == pytest.approx(value, rel=1e-12, abs=0.0), episode
    assert log_decay(25, 0.1, 25.0) < 1.0
    assert log_decay(299, 0.1, 25.0) == 0.1


class EpisodeRecorder(BaseCallback):
    """Records each finished episode's return and, per step, (episode, exploration, learning rate)."""

    def __init__(self) -> None:
        super().__init__()
        self.returns: list[float] = []
        self.rates: list[tuple[int, float, float]] = []

    def _on_step(self) -> bool:
        model = self.model
        self.rates.append((len(self.returns), model.exploration_rate, model.learning_rate))
        if self.locals["dones"][0]:
            self.returns.append(float(self.locals["infos"][0]["episode"]["r"]))
        return True


@pytest.mark.parametrize("cls", TABULAR_AGENTS)
def test_schedules_follow_log_decay_per_episode(cls):
    hyperparameters = {"exploration_final_eps": 0.05, "min_learning_rate": 0.2, "decay": 5.0}
    agent = cls(make_training_env("CartPole-v1", 3), seed=3, **hyperparameters)
    recorder = EpisodeRecorder()
    agent.learn(1_000_000, callback=[recorder, StopTrainingOnMaxEpisodes(60)])
    assert len(recorder.returns) == 60
    for episode, exploration, learning_rate in recorder.rates:
        assert exploration == log_decay(episode, 0.05, 5.0)
        assert learning_rate == log_decay(episode, 0.2, 5.0)
    assert recorder.rates[0][1:] == (1.0, 1.0)
    assert recorder.rates[-1][1:] == (0.05, 0.2)  # both floors reached by episode 59


def train(cls: type[TabularQAgent], seed: int, episodes: int) -> tuple[TabularQAgent, list[float]]:
    """Train on the harness's training env for exactly `episodes` episodes."""
    agent = cls(make_training_env("CartPole-v1", seed), seed=seed)
    recorder = EpisodeRecorder()
    agent.learn(10_000_000, callback=[recorder, StopTrainingOnMaxEpisodes(episodes)])
    assert len(recorder.returns) == episodes
    return agent, recorder.returns


@pytest.mark.parametrize("cls", TABULAR_AGENTS)
def test_same_seed_gives_identical_runs(cls):
    first, first_returns = train(cls, seed=5, episodes=80)
    second, second_returns = train(cls, seed=5, episodes=80)
    assert first_returns == second_returns
    assert np.array_equal(first.q_table, second.q_table)
    assert first.q_table.tobytes() == second.q_table.tobytes()
    assert first.num_timesteps == second.num_timesteps


@pytest.mark.parametrize("cls", TABULAR_AGENTS)
def test_different_seeds_give_different_runs(cls):
    first, first_returns = train(cls, seed=5, episodes=40)
    second, second_returns = train(cls, seed=6, episodes=40)
    assert first_returns != second_returns
    assert not np.array_equal(first.q_table, second.q_table)


def greedy_mean_return(agent: Any, n_episodes: int = 20) -> float:
    """Mean return of the deterministic policy on the harness's evaluation episodes."""
    envs = make_eval_envs("CartPole-v1", n_episodes)
    results = run_episodes(agent, envs, evaluation_seeds(n_episodes), deterministic=True)
    return float(np.mean([r.episode_return for r in results]))


# Measured (seeds 0-4, 300 episodes, default hyperparameters, 20 evaluation episodes):
#   tabular_q      500.0 on every seed (mean 500.0)
#   tabular_sarsa  500.0, 500.0, 159.4, 487.2, 160.9 (mean 361.5)
#   random         28.0, 21.8, 20.8, 19.7, 20.4 (mean 22.1)
# The thresholds leave wide slack below that.
MIN_MEAN_RETURN = {TabularQAgent: 250.0, TabularSarsaAgent: 150.0}
MIN_SEED_RETURN = {TabularQAgent: 100.0, TabularSarsaAgent: 60.0}
SEEDS = range(5)


@pytest.fixture(scope="module")
def random_mean_return() -> float:
    means = [greedy_mean_return(RandomAgent(make_training_env("CartPole-v1", seed), seed=seed)) for seed in SEEDS]
    return float(np.mean(means))


@pytest.mark.slow
@pytest.mark.parametrize("cls", TABULAR_AGENTS)
def test_learns_cartpole_in_300_episodes(cls, random_mean_return):
    assert 15.0 < random_mean_return < 35.0
    means = [greedy_mean_return(train(cls, seed, episodes=300)[0]) for seed in SEEDS]
    assert min(means) >= MIN_SEED_RETURN[cls], means
    assert np.mean(means) >= MIN_MEAN_RETURN[cls], means
    assert np.mean(means) >= 5 * random_mean_return, (means, random_mean_return)


@pytest.mark.parametrize("cls", TABULAR_AGENTS)
@pytest.mark.parametrize("filename", ["agent", "agent.npz", "ckpt_1000_steps.zip"])
def test_save_load_round_trip(cls, tmp_path, filename):
    hyperparameters = {"num_bins": (1, 3, 6, 8), "gamma": 0.99, "decay": 10.0, "min_learning_rate": 0.2}
    agent = cls(make_training_env("CartPole-v1", 1), seed=1, **hyperparameters)
    agent.learn(10_000_000, callback=StopTrainingOnMaxEpisodes(30))
    assert agent.q_table.any()
    agent.save(tmp_path / filename)
    written = list(tmp_path.iterdir())
    expected_name = filename if "." in filename else filename + ".zip"  # as SB3's
    assert [p.name for p in written] == [expected_name]

    loaded = cls.load(tmp_path / filename)
    assert type(loaded) is cls
    assert loaded.q_table.tobytes() == agent.q_table.tobytes()
    assert np.array_equal(loaded.q_table, agent.q_table)
    # the saved config holds the resolved grid (the original left bounds to the env's default)
    assert agent.config.bounds is None
    assert loaded.config == dataclasses.replace(agent.config, bounds=agent.discretizer.bounds)
    assert loaded.config.num_bins == (1, 3, 6, 8)
    assert loaded.discretizer.num_bins == agent.discretizer.num_bins == (1, 3, 6, 8)
    assert loaded.discretizer.bounds == agent.discretizer.bounds
    assert {k: v for k, v in loaded.run_info().items() if k != "bounds_source"} == {
        k: v for k, v in agent.run_info().items() if k != "bounds_source"
    }
    assert loaded.num_timesteps == agent.num_timesteps
    assert loaded._episode_num == agent._episode_num
    assert loaded.observation_space == agent.observation_space
    assert loaded.action_space == agent.action_space
    observations = np.random.default_rng(0).normal(0.0, 0.3, size=(64, 4)).astype(np.float32)
    actions, _ = agent.predict(observations, deterministic=True)
    loaded_actions, _ = loaded.predict(observations, deterministic=True)
    np.testing.assert_array_equal(loaded_actions, actions)
    assert len(set(actions.tolist())) == 2  # the batch is not trivially one action


def test_loaded_agent_keeps_training_on_a_given_env(tmp_path):
    agent = TabularQAgent(make_training_env("CartPole-v1", 1), seed=1)
    agent.learn(200)
    agent.save(tmp_path / "agent")
    alone = TabularQAgent.load(tmp_path / "agent")
    assert alone.get_env() is None
    with pytest.raises(ValueError):
        alone.learn(10)
    loaded = TabularQAgent.load(tmp_path / "agent", env=make_training_env("CartPole-v1", 2))
    loaded.learn(300)
    assert loaded.num_timesteps >= 300
    assert not np.array_equal(loaded.q_table, agent.q_table)


def test_load_refuses_another_agents_file(tmp_path):
    TabularQAgent(gym.make("CartPole-v1"), seed=0).save(tmp_path / "agent")
    with pytest.raises(ValueError, match="TabularQAgent"):
        TabularSarsaAgent.load(tmp_path / "agent")


@pytest.mark.parametrize("cls", TABULAR_AGENTS)
@pytest.mark.parametrize(
    ("hyperparameters", "field"),
    [
        ({"num_bins": [3, 3, 6]}, "num_bins"),
        ({"num_bins": [3, 3, 6, 6, 2]}, "num_bins"),
        ({"num_bins": [3, 0, 6, 6]}, "num_bins"),
        ({"gamma": -0.1}, "gamma"),
        ({"gamma": 1.01}, "gamma"),
        ({"epsilon": 0.1}, "epsilon"),
        ({"bounds": [[-1, 1], [-1, 1], [0.5, 0.5], [-1, 1]]}, "bounds"),
        ({"bounds": [[-1, 1], [1, -1], [-1, 1], [-1, 1]]}, "bounds"),
        ({"bounds": [[-1, 1], [-1, 1], [-1, 1]]}, "bounds"),
        ({"decay": 0}, "decay"),
        ({"decay": -25}, "decay"),
        ({"min_learning_rate": 0.0}, "min_learning_rate"),
        ({"exploration_final_eps": 1.5}, "exploration_final_eps"),
        ({"gamma": "0.9"}, "gamma"),
    ],
)
def test_bad_hyperparameters_are_refused_naming_the_field(cls, hyperparameters, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        cls(gym.make("CartPole-v1"), **hyperparameters)


def test_a_non_cartpole_env_gets_default_bins_and_the_spaces_bounds():
    env = gym.make("Acrobot-v1")  # 6 dimensions, a bounded observation space
    agent = TabularQAgent(env, seed=0)
    assert agent.config.num_bins is None and agent.config.bounds is None
    assert agent.discretizer.num_bins == (6,) * 6
    space = env.observation_space
    assert agent.discretizer.bounds == tuple(zip(space.low.tolist(), space.high.tolist()))
    assert agent.q_table.shape == (6**6, 3)
    info = agent.run_info()
    assert info["num_bins"] == [6] * 6
    assert info["bounds_source"] == "the observation space's bounds"
    assert info["n_states"] == 6**6

    given = TabularQAgent(env, num_bins=[2] * 6, bounds=[[-1, 1]] * 6)
    assert given.q_table.shape == (64, 3)
    assert given.discretizer.bounds == ((-1.0, 1.0),) * 6
    with pytest.raises(ValueError, match="'num_bins'"):
        TabularQAgent(env, num_bins=[3, 3, 6, 6])  # CartPole's grid has the wrong dimension


@pytest.mark.parametrize("cls", TABULAR_AGENTS)
def test_predict_shapes_and_greedy_actions(cls):
    agent = make_agent(cls)
    agent.q_table[STATE] = [0.0, 1.0]
    agent.q_table[STATE_NEXT] = [1.0, 0.0]
    action, state = agent.predict(np.array(S, dtype=np.float32), deterministic=True)
    assert state is None
    assert np.asarray(action).shape == ()
    assert action == 1
    actions, _ = agent.predict(np.array([S, S_NEXT, S, S_NEXT], dtype=np.float32), deterministic=True)
    assert actions.shape == (4,)
    np.testing.assert_array_equal(actions, [1, 0, 1, 0])
    many, _ = agent.predict(np.zeros((7, 4), dtype=np.float32), deterministic=False)
    assert many.shape == (7,)
    assert all(agent.action_space.contains(int(a)) for a in many)


@pytest.mark.parametrize("cls", TABULAR_AGENTS)
@pytest.mark.parametrize("shape", [(), (3,), (5,), (2, 3), (1, 1, 4), (4, 1)])
def test_predict_refuses_a_wrong_shape(cls, shape):
    agent = cls(gym.make("CartPole-v1"), seed=0)
    with pytest.raises(ValueError):
        agent.predict(np.zeros(shape, dtype=np.float32))
