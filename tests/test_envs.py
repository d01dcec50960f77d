"""The harness's env factory and evaluation episodes."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from harness.conditions import (
    EVAL_SEED_BASE,
    PROFILES,
    EpisodeRules,
    SuccessInfo,
    SuccessRule,
    check_env_id,
    evaluation_seeds,
    make_env,
    make_eval_envs,
    make_training_env,
    run_episodes,
)

CARTPOLE = PROFILES["CartPole-v1"].episode_rules


class ScriptedEnv(gym.Env):
    """Returns the (terminated, truncated) pairs of `script`, one per step."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, script: list[tuple[bool, bool]]) -> None:
        self.script = script
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: Any):
        terminated, truncated = self.script[self.t]
        self.t += 1
        return np.zeros(1, dtype=np.float32), 1.0, terminated, truncated, {}


@pytest.mark.parametrize(
    ("last", "success"),
    [((False, True), True), ((True, False), False), ((True, True), False)],
)
def test_is_success_is_set_at_episode_end_only(last, success):
    env = SuccessInfo(ScriptedEnv([(False, False)] * 3 + [last]), SuccessRule("truncated"))
    env.reset()
    for _ in range(3):
        info = env.step(0)[4]
        assert "is_success" not in info
    info = env.step(0)[4]
    assert info["is_success"] is success


def balancing_action(obs: np.ndarray) -> int:
    """Push toward the side the pole falls to: keeps CartPole up for a long while."""
    return int(obs[2] + 0.5 * obs[3] > 0)


def test_is_success_on_cartpole_time_limit_and_termination():
    env = SuccessInfo(gym.make("CartPole-v1", max_episode_steps=20), PROFILES["CartPole-v1"].rule)
    obs, _ = env.reset(seed=0)
    for t in range(20):
        obs, _, terminated, truncated, info = env.step(balancing_action(obs))
        if t < 19:
            assert not (terminated or truncated)
            assert "is_success" not in info
    assert truncated and not terminated
    assert info["is_success"] is True

    env.reset(seed=0)
    for _ in range(100):
        _, _, terminated, truncated, info = env.step(1)  # always push right: the pole falls
        if terminated or truncated:
            break
        assert "is_success" not in info
    assert terminated and not truncated
    assert info["is_success"] is False


def test_make_env_is_cartpole_with_the_success_marker():
    env = make_env("CartPole-v1", CARTPOLE)
    assert isinstance(env, SuccessInfo)
    assert env.spec is not None and env.spec.max_episode_steps == 500
    env.reset(seed=0)
    for _ in range(100):
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            break
    assert info["is_success"] is False


def test_make_env_without_rules_is_gymnasiums_own_env():
    env = make_env("CartPole-v1")
    assert not isinstance(env, SuccessInfo)
    assert env.spec is not None and env.spec.max_episode_steps == 500
    env.reset(seed=0)
    for _ in range(100):
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            break
    assert "is_success" not in info


def test_rules_set_the_time_limit_and_the_success_rule():
    env = make_env("Acrobot-v1", EpisodeRules("terminated", max_episode_steps=7))
    assert isinstance(env, SuccessInfo)
    env.reset(seed=0)
    for _ in range(7):
        _, _, terminated, truncated, info = env.step(0)
    assert truncated and not terminated
    assert info["is_success"] is False  # a goal env: reaching the time limit fails


def test_unknown_env_id_is_refused_by_name():
    with pytest.raises(ValueError, match="NoSuchEnv-v0"):
        check_env_id("NoSuchEnv-v0")


@pytest.mark.parametrize(
    "factory",
    [
        make_env,
        lambda name: make_env(name, CARTPOLE),
        lambda name: make_training_env(name, 0),
        lambda name: make_eval_envs(name, 2),
    ],
)
def test_unknown_env_id_is_refused_by_gymnasium(factory):
    with pytest.raises(gym.error.Error, match="NoSuchEnv"):
        factory("NoSuchEnv-v0")


def training_start_states(seed: int, policy: str, n_episodes: int = 12) -> np.ndarray:
    """The first `n_episodes` start states of `make_training_env(seed)` under `policy`:
    the first obs after reset and every new_obs after a done. Shape (n_episodes, 4)."""
    venv = make_training_env("CartPole-v1", seed)
    rng = np.random.default_rng(1000 + seed)
    starts = [venv.reset()[0].copy()]
    while len(starts) < n_episodes:
        action = int(rng.integers(2)) if policy == "random" else int(policy)
        new_obs, _, dones, _ = venv.step(np.array([action]))
        if dones[0]:
            starts.append(new_obs[0].copy())
    venv.close()
    return np.array(starts)


def test_training_envs_are_wrapped_as_sb3_expects():
    venv = make_training_env("CartPole-v1", 0, CARTPOLE)
    assert isinstance(venv, DummyVecEnv)
    assert venv.num_envs == 1
    assert isinstance(venv.envs[0], Monitor)
    assert isinstance(venv.envs[0].env, SuccessInfo)
    plain = make_training_env("CartPole-v1", 0)
    assert isinstance(plain.envs[0], Monitor)
    assert not isinstance(plain.envs[0].env, SuccessInfo)


@pytest.mark.parametrize("seed", [0, 7])
def test_training_start_states_do_not_depend_on_the_actions(seed):
    always_left = training_start_states(seed, "0")
    always_right = training_start_states(seed, "1")
    random_actions = training_start_states(seed, "random")
    np.testing.assert_array_equal(always_left, always_right)
    np.testing.assert_array_equal(always_left, random_actions)
    assert len(np.unique(always_left, axis=0)) == len(always_left)  # every episode starts afresh


def test_training_start_states_differ_across_seeds():
    first, second = training_start_states(0, "random"), training_start_states(1, "random")
    assert not np.any(np.all(first == second, axis=1))


def test_training_env_matches_a_plain_reset_with_the_seed():
    first = make_training_env("CartPole-v1", 3).reset()[0]
    plain, _ = gym.make("CartPole-v1").reset(seed=3)
    np.testing.assert_array_equal(first, plain)


class RecordingModel:
    """A `predict`-only model recording each batch it is given. Rules: "0" or "1" (a constant
    action), "balance" (`balancing_action`), "angle" (push toward the pole's side only)."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.batches: list[np.ndarray] = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.batches.append(observation.copy())
        if self.rule == "balance":
            return np.array([balancing_action(obs) for obs in observation]), None
        if self.rule == "angle":  # a poor controller: episodes of varied lengths
            return (observation[:, 2] > 0).astype(np.int64), None
        return np.full(len(observation), int(self.rule)), None


class StepGuard(gym.Wrapper):
    """Counts steps and fails the test if a finished episode is stepped again."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0
        self.finished = False

    def reset(self, **kwargs):
        self.finished = False
        return super().reset(**kwargs)

    def step(self, action):
        assert not self.finished, "a finished episode's env was stepped again"
        self.steps += 1
        result = super().step(action)
        self.finished = result[2] or result[3]
        return result


def guarded_eval_envs(n: int) -> list[StepGuard]:
    return [StepGuard(env) for env in make_eval_envs("CartPole-v1", n)]


def test_evaluation_seeds():
    assert evaluation_seeds(3) == [EVAL_SEED_BASE, EVAL_SEED_BASE + 1, EVAL_SEED_BASE + 2]
    assert evaluation_seeds(2, base=10) == [10, 11]
    assert evaluation_seeds(0) == []


def test_evaluation_start_states_do_not_depend_on_the_model():
    seeds = evaluation_seeds(6)
    expected = np.array([gym.make("CartPole-v1").reset(seed=s)[0] for s in seeds])
    for rule in ("0", "1", "balance"):
        model = RecordingModel(rule)
        run_episodes(model, make_eval_envs("CartPole-v1", 6), seeds)
        np.testing.assert_array_equal(model.batches[0], expected)


def test_evaluation_results_follow_the_seed_order():
    seeds = [11, 3, 42, 7, 25]
    alone = {s: run_episodes(RecordingModel("angle"), make_eval_envs("CartPole-v1", 1), [s])[0] for s in seeds}
    together = run_episodes(RecordingModel("angle"), make_eval_envs("CartPole-v1", 5), seeds)
    assert [r.seed for r in together] == seeds
    assert together == [alone[s] for s in seeds]
    reversed_run = run_episodes(RecordingModel("angle"), make_eval_envs("CartPole-v1", 5), seeds[::-1])
    assert reversed_run == together[::-1]
    assert len({r.length for r in together}) > 1  # the episodes really differ


def test_finished_episodes_are_not_stepped_again():
    envs = guarded_eval_envs(8)
    model = RecordingModel("angle")
    results = run_episodes(model, envs, evaluation_seeds(8))
    assert [env.steps for env in envs] == [r.length for r in results]
    assert len({r.length for r in results}) > 1  # some episodes end while others run
    sizes = [len(b) for b in model.batches]
    assert sizes[0] == 8
    assert sizes == sorted(sizes, reverse=True)
    assert len(sizes) == max(r.length for r in results)
    assert sum(sizes) == sum(r.length for r in results)


def test_evaluation_results_record_return_length_and_success():
    rule = PROFILES["CartPole-v1"].rule
    envs = [SuccessInfo(gym.make("CartPole-v1", max_episode_steps=30), rule) for _ in range(3)]
    balanced = run_episodes(RecordingModel("balance"), envs, [0, 1, 2])
    assert [(r.episode_return, r.length, r.success) for r in balanced] == [(30.0, 30, True)] * 3
    fallen = run_episodes(RecordingModel("1"), envs, [0, 1, 2])
    assert all(r.length < 30 and r.episode_return == r.length and not r.success for r in fallen)


def test_evaluation_without_the_success_marker_records_no_success():
    envs = [gym.make("CartPole-v1", max_episode_steps=30) for _ in range(2)]
    balanced = run_episodes(RecordingModel("balance"), envs, [0, 1])
    assert [(r.length, r.success) for r in balanced] == [(30, False)] * 2


def test_run_episodes_refuses_mismatched_seeds():
    with pytest.raises(ValueError):
        run_episodes(RecordingModel("0"), make_eval_envs("CartPole-v1", 2), [1, 2, 3])
