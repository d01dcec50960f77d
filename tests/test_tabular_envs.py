"""The tabular agents beyond CartPole, and the DQN presets per env.

- `bounds = "auto"` (`estimate_bounds`): the same for a seed, other for another seed, covering
  the random policy's observations;
- the default grid by observation dimension (CartPole: the assignment's; Acrobot: 6 per
  dimension over the space's bounds; MountainCar: 20 x 20);
- Discrete observations used as the table's rows: tabular Q-learning learns FrozenLake-v1 (its
  greedy policy beats the random agent on the same evaluation episodes), Taxi-v4 runs;
- a saved auto-bounds agent loads and predicts the same without an env;
- `preset = "zoo"` per env for both DQNs, refused where the Zoo has no entry; DQNAgent refuses
  Discrete observations;
- `run.json` records the tabular agent's grid and where its bounds came from (`agent_info`).
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from helpers import study_text

from custom_agents.discretize import (
    ASSIGNMENT_NUM_BINS,
    DiscreteStates,
    Discretizer,
    cartpole_bounds,
    default_num_bins,
    estimate_bounds,
)
from custom_agents.dqn import DQNAgent
from custom_agents.tabular import TabularQAgent
from harness.agents import KindError, build_model, resolve_kind
from harness.conditions import PROFILES, make_eval_envs, make_training_env, run_episodes
from harness.execution import PairTask, run_pair
from harness.studies import StudyError, parse_study, resolve_study

# ----------------------------------------------------------------------------------------------
# Auto bounds


def random_rollout(env_id: str, n_steps: int, seed: int) -> np.ndarray:
    """The observations of a uniformly random policy, as `estimate_bounds` collects them (first
    reset and action space seeded with `seed`), shape (n_steps, n_dims)."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    observations = []
    for _ in range(n_steps):
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.array(observations, dtype=np.float64)


def within(observations: np.ndarray, bounds: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Per dimension, the share of observations inside [low, high]."""
    box = np.array(bounds)
    return ((observations >= box[:, 0]) & (observations <= box[:, 1])).mean(axis=0)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0"])
def test_auto_bounds_are_deterministic_for_a_seed(env_id: str) -> None:
    first = estimate_bounds(env_id, 2_000, 0, 0.01)
    assert estimate_bounds(env_id, 2_000, 0, 0.01) == first
    other = estimate_bounds(env_id, 2_000, 1, 0.01)
    assert other != first
    assert len(first) == gym.make(env_id).observation_space.shape[0]
    assert all(low < high for low, high in first)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0"])
def test_auto_bounds_cover_the_estimation_rollout(env_id: str) -> None:
    n_steps = 5_000
    observations = random_rollout(env_id, n_steps, 0)
    bounds = estimate_bounds(env_id, n_steps, 0, 0.01)
    # the 0.01 and 0.99 quantiles: at least 98% of the rollout they came from lies between them
    assert np.all(within(observations, bounds) >= 0.98 - 2 / n_steps)
    widest = estimate_bounds(env_id, n_steps, 0, 0.0)
    assert np.all(within(observations, widest) == 1.0)
    assert [low for low, _ in widest] == pytest.approx(observations.min(axis=0).tolist())
    assert [high for _, high in widest] == pytest.approx(observations.max(axis=0).tolist())


def test_auto_bounds_cover_a_fresh_random_rollout() -> None:
    # Another seed's rollout: ~98% expected per dimension, measured 97.1%-98.7% on CartPole-v1
    # (the quantiles of 10,000 correlated observations are themselves noisy), so the test asks
    # for 96%: it catches bounds that miss the bulk of the observations, not sampling noise.
    bounds = estimate_bounds("CartPole-v1", 10_000, 0, 0.01)
    for seed in (1, 2):
        coverage = within(random_rollout("CartPole-v1", 10_000, seed), bounds)
        assert np.all(coverage >= 0.96), coverage
        assert np.all(coverage < 1.0)  # the 1% tails are outside


def test_a_constant_dimension_gets_a_unit_wide_interval() -> None:
    # A Discretizer needs low < high: a dimension that does not vary gets value -+ 0.5.
    bounds = estimate_bounds("CartPole-v1", 1, 0, 0.01)  # one observation: every dimension constant
    start = random_rollout("CartPole-v1", 1, 0)[0]
    assert [(low + high) / 2 for low, high in bounds] == pytest.approx(start.tolist())
    for low, high in bounds:
        assert high - low == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------
# The default grid by dimension


def tabular_on(env_id: str, seed: int = 0, **values: Any) -> TabularQAgent:
    kind = resolve_kind("tabular_q")
    _, agent = build_model(kind, env_id, seed, kind.resolve(values, env_id), PROFILES[env_id].episode_rules)
    return agent


def test_default_num_bins_by_dimension() -> None:
    assert default_num_bins("CartPole-v1", 4) == ASSIGNMENT_NUM_BINS == (3, 3, 6, 6)
    assert default_num_bins("Acrobot-v1", 6) == (6,) * 6
    assert default_num_bins("MountainCar-v0", 2) == (20, 20)
    assert default_num_bins("LunarLander-v3", 8) == (4,) * 8
    assert default_num_bins("Pendulum-v1", 3) == (10, 10, 10)
    assert default_num_bins("CartPole-v1", 3) == (10, 10, 10)  # not CartPole's shape: by dimension


def test_cartpole_keeps_the_assignments_grid() -> None:
    agent = tabular_on("CartPole-v1")
    space = gym.make("CartPole-v1").observation_space
    info = agent.run_info()
    assert info["num_bins"] == [3, 3, 6, 6]
    assert info["bounds"] == [list(b) for b in cartpole_bounds(space.low, space.high)]
    assert info["bounds"][1] == [-0.5, 0.5]
    assert info["bounds"][3] == pytest.approx([-math.radians(50), math.radians(50)])
    assert info["bounds_source"] == "the assignment's CartPole bounds"
    assert info["n_states"] == 3 * 3 * 6 * 6
    assert agent.q_table.shape == (324, 2)


@pytest.mark.parametrize(("env_id", "bins"), [("Acrobot-v1", (6,) * 6), ("MountainCar-v0", (20, 20))])
def test_other_envs_get_bins_by_dimension_over_the_spaces_bounds(env_id: str, bins: tuple[int, ...]) -> None:
    agent = tabular_on(env_id)
    space = gym.make(env_id).observation_space
    info = agent.run_info()
    assert tuple(info["num_bins"]) == bins
    assert info["bounds"] == [list(b) for b in zip(space.low.tolist(), space.high.tolist())]
    assert info["bounds_source"] == "the observation space's bounds"
    assert agent.q_table.shape == (math.prod(bins), gym.make(env_id).action_space.n)
    assert isinstance(agent.discretizer, Discretizer)


def test_auto_bounds_on_an_agent_say_where_they_came_from() -> None:
    agent = tabular_on("CartPole-v1", bounds="auto", bounds_steps=1_000, bounds_seed=3)
    info = agent.run_info()
    assert info["bounds"] == [list(b) for b in estimate_bounds("CartPole-v1", 1_000, 3, 0.01)]
    assert info["bounds_source"].startswith("auto: the 0.01 and 0.99 quantiles of 1,000 observations")
    assert "CartPole-v1 (seed 3)" in info["bounds_source"]
    assert info["num_bins"] == [3, 3, 6, 6]


# ----------------------------------------------------------------------------------------------
# Discrete observations

FROZEN_LAKE = {"gamma": 0.99, "decay": 200.0}
"""Discounting (so a shorter path to the goal is worth more than an endless one) and a decay over
~2,000 short episodes rather than the assignment's 25."""


def success_rate(model: Any, env_id: str, n: int = 100) -> float:
    envs = make_eval_envs(env_id, n, PROFILES[env_id].episode_rules)
    results = run_episodes(model, envs, list(range(5_000, 5_000 + n)))
    for env in envs:
        env.close()
    return float(np.mean([r.success for r in results]))


@pytest.mark.parametrize("seed", [0, 1])
def test_tabular_q_learns_frozen_lake(seed: int) -> None:
    agent = tabular_on("FrozenLake-v1", seed, **FROZEN_LAKE)
    assert isinstance(agent.discretizer, DiscreteStates)
    assert agent.q_table.shape == (16, 4)
    agent.learn(30_000)
    random_kind = resolve_kind("random")
    _, random_agent = build_model(random_kind, "FrozenLake-v1", seed, {}, PROFILES["FrozenLake-v1"].episode_rules)
    learned, chance = success_rate(agent, "FrozenLake-v1"), success_rate(random_agent, "FrozenLake-v1")
    # measured: 0.66-0.67 (the slippery lake's optimum is ~0.74) against 0.00-0.01
    assert learned > chance
    assert learned >= 0.4


def test_taxi_runs_on_its_discrete_observation() -> None:
    agent = tabular_on("Taxi-v4")
    assert agent.run_info() == {"states": "the Discrete observation space's", "n_states": 500}
    assert agent.q_table.shape == (500, 6)
    agent.learn(2_000)
    assert np.abs(agent.q_table).sum() > 0
    action, _ = agent.predict(np.int64(328), deterministic=True)
    assert 0 <= int(action) < 6
    actions, _ = agent.predict(np.array([0, 328, 499]), deterministic=True)
    assert actions.shape == (3,)
    assert 0.0 <= success_rate(agent, "Taxi-v4", n=3) <= 1.0


def test_a_grid_is_refused_for_a_discrete_observation() -> None:
    kind = resolve_kind("tabular_q")
    values = kind.resolve({"num_bins": [5]}, "Taxi-v4")
    with pytest.raises(KindError, match="'num_bins' must be left out for a Discrete observation space"):
        kind.check_on_env("Taxi-v4", values, PROFILES["Taxi-v4"].episode_rules)


# ----------------------------------------------------------------------------------------------
# Save and load


def test_a_saved_auto_bounds_agent_loads_and_predicts_the_same_without_an_env(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = tabular_on("CartPole-v1", bounds="auto", bounds_steps=2_000, num_bins=[4, 4, 8, 8])
    agent.learn(3_000)
    agent.save(tmp_path / "model")
    observations = random_rollout("CartPole-v1", 500, 9).astype(np.float32)
    expected, _ = agent.predict(observations, deterministic=True)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("loading must not make an env or estimate bounds")

    monkeypatch.setattr("custom_agents.tabular.estimate_bounds", refuse)
    monkeypatch.setattr(gym, "make", refuse)
    loaded = resolve_kind("tabular_q").load(tmp_path / "model.zip")
    assert loaded.env is None
    assert loaded.run_info()["bounds"] == agent.run_info()["bounds"]
    assert loaded.run_info()["num_bins"] == [4, 4, 8, 8]
    np.testing.assert_array_equal(loaded.q_table, agent.q_table)
    actions, _ = loaded.predict(observations, deterministic=True)
    np.testing.assert_array_equal(actions, expected)
    assert len(set(expected.tolist())) == 2  # a learned table, not one action everywhere


# ----------------------------------------------------------------------------------------------
# DQN presets per env


@pytest.mark.parametrize("kind_name", ["custom_dqn", "sb3_dqn"])
def test_zoo_preset_on_acrobot_is_the_zoos(kind_name: str) -> None:
    values = resolve_kind(kind_name).resolve({"preset": "zoo"}, "Acrobot-v1")
    assert values["learning_rate"] == 6.3e-4
    assert values["target_update_interval"] == 250
    assert values["batch_size"] == 128
    assert values["buffer_size"] == 50_000
    assert values["gamma"] == 0.99
    assert values["preset"] == "zoo"
    net_arch = values["net_arch"] if kind_name == "custom_dqn" else values["policy_kwargs"]["net_arch"]
    assert list(net_arch) == [256, 256]
    cartpole = resolve_kind(kind_name).resolve({"preset": "zoo"}, "CartPole-v1")
    assert (cartpole["learning_rate"], cartpole["target_update_interval"]) == (2.3e-3, 10)


@pytest.mark.parametrize("kind_name", ["custom_dqn", "sb3_dqn"])
@pytest.mark.parametrize("env_id", ["Pendulum-v1", "FrozenLake-v1"])
def test_zoo_preset_is_refused_where_the_zoo_has_no_entry(kind_name: str, env_id: str) -> None:
    with pytest.raises(ValueError) as refused:
        resolve_kind(kind_name).resolve({"preset": "zoo"}, env_id)
    message = str(refused.value)
    assert "\n" not in message
    assert "'preset'" in message and repr(env_id) in message
    assert "CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3" in message


def test_a_study_with_the_zoo_preset_on_frozen_lake_is_refused_naming_the_key() -> None:
    text = "\n".join(
        [
            "[study]",
            'name = "lake"',
            'env_id = "FrozenLake-v1"',
            "seeds = [0]",
            "total_timesteps = 1000",
            "eval_freq = 500",
            "",
            "[agents.dqn]",
            'kind = "sb3_dqn"',
            'preset = "zoo"',
        ]
    )
    with pytest.raises(StudyError, match=r"^lake\.toml: agents\.dqn\.preset: .*'FrozenLake-v1'"):
        resolve_study(parse_study(text, "lake.toml"))


def test_dqn_agent_one_hot_encodes_discrete_observations() -> None:
    """As SB3's DQN: a Discrete state goes into the network one-hot (16 inputs), and is stored as
    its index in the replay memory."""
    env = make_training_env("FrozenLake-v1", 0, PROFILES["FrozenLake-v1"].episode_rules)
    agent = DQNAgent(env, seed=0, preset="assignment", net_arch=[8]).learn(200)
    assert agent.q_net.layers[0].in_features == 16
    assert agent.replay_buffer.observations.shape[-1] == 1
    assert set(np.unique(agent.replay_buffer.observations[: agent.replay_buffer.pos])) <= set(range(16))
    env.close()
    kind = resolve_kind("custom_dqn")
    kind.check_on_env("FrozenLake-v1", kind.resolve({"preset": "assignment"}, "FrozenLake-v1"))  # no refusal


# ----------------------------------------------------------------------------------------------
# run.json


def tabular_run(tmp_path: pathlib.Path, env_id: str, *hyperparameters: str) -> dict[str, Any]:
    table = "\n".join(['kind = "tabular_q"', *hyperparameters])
    text = study_text(
        "tab", env_id=env_id, seeds=(0,), total_timesteps=600, eval_freq=300, n_eval_episodes=2,
        agents={"tabular_q": table},
    )  # fmt: skip
    study = resolve_study(parse_study(text, "tab.toml"))
    record = run_pair(PairTask(study, "tabular_q", 0), tmp_path / env_id).to_dict()
    assert record["status"] == "complete", record.get("error")
    on_disk = json.loads((tmp_path / env_id / "run.json").read_text())
    assert on_disk["agent_info"] == record["agent_info"]
    return on_disk


def test_run_json_records_auto_bounds_and_their_source(tmp_path: pathlib.Path) -> None:
    record = tabular_run(tmp_path, "CartPole-v1", 'bounds = "auto"', "bounds_steps = 2000")
    info = record["agent_info"]
    assert info["bounds"] == [list(b) for b in estimate_bounds("CartPole-v1", 2_000, 0, 0.01)]
    assert info["bounds_source"].startswith("auto: ")
    assert "2,000 observations" in info["bounds_source"]
    assert (info["num_bins"], info["n_states"]) == ([3, 3, 6, 6], 324)
    assert record["hyperparameters"]["bounds"] == "auto"  # as the study gave it; agent_info says what ran


def test_run_json_of_a_discrete_env_says_its_states(tmp_path: pathlib.Path) -> None:
    record = tabular_run(tmp_path, "FrozenLake-v1")
    assert record["agent_info"] == {"states": "the Discrete observation space's", "n_states": 16}
    assert record["profile"] == {"success": "return >= 1", "max_episode_steps": None}
