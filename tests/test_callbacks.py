"""The callbacks every run gets: RunGuard, EpisodeRecorder, Evaluator, on real short runs."""

from __future__ import annotations

import itertools
import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from harness.agents import build_model, resolve_kind
from harness.conditions import (
    EVAL_SEED_BASE,
    PROFILES,
    EpisodeRecorder,
    Evaluator,
    NonFiniteLossError,
    RunGuard,
    single_thread,
)

SHORT_ENV_ID = "HarnessTestShortCartPole-v0"
"""CartPole cut at 25 steps, so that a short random run ends episodes both ways."""

if SHORT_ENV_ID not in gym.registry:
    gym.register(
        SHORT_ENV_ID,
        entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
        max_episode_steps=25,
    )

CARTPOLE = PROFILES["CartPole-v1"].episode_rules
"""CartPole's episode rules: success is lasting to the time limit (truncated, not terminated)."""

# DQN hyperparameters that collect rollouts of 64 steps and never train (cheap), so that an
# unguarded learn() overshoots any budget that is not a multiple of 64.
_NO_TRAINING = {"train_freq": 64, "learning_starts": 100_000, "buffer_size": 2_000}
DQN_NO_TRAINING = {
    "custom_dqn": {**_NO_TRAINING, "net_arch": [8]},
    "sb3_dqn": {**_NO_TRAINING, "policy_kwargs": {"net_arch": [8]}},  # SB3's DQN takes net_arch in policy_kwargs
}


def build(kind: str, seed: int = 0, env_id: str = "CartPole-v1", **hyperparameters: Any) -> Any:
    """A model of `kind` built the harness's way (one torch thread, as `run_pair`), its training
    env marked with CartPole's success rule."""
    single_thread()
    resolved = resolve_kind(kind)
    return build_model(resolved, env_id, seed, resolved.resolve(hyperparameters, env_id=env_id), CARTPOLE)[1]


class RecordLoss(BaseCallback):
    """Records `value` as `train/loss` in the model's logger at env step `at`."""

    def __init__(self, at: int, value: float) -> None:
        super().__init__()
        self.at = at
        self.value = value

    def _on_step(self) -> bool:
        if self.num_timesteps == self.at:
            self.model.logger.record("train/loss", self.value)
        return True


# -- RunGuard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sb3_dqn", "custom_dqn"])
def test_run_guard_stops_at_exactly_the_budget_where_train_freq_would_overshoot(kind: str):
    budget = 1_000  # not a multiple of train_freq = 64
    unguarded = build(kind, **DQN_NO_TRAINING[kind])
    unguarded.learn(budget)
    assert unguarded.num_timesteps == 1_024  # the rollout runs to its end: the overshoot to guard against

    guarded = build(kind, **DQN_NO_TRAINING[kind])
    guarded.learn(budget, callback=RunGuard(budget))
    assert guarded.num_timesteps == budget


def test_run_guard_reports_progress_and_the_final_count():
    reports: list[int] = []
    model = build("random")
    model.learn(700, callback=RunGuard(700, progress=reports.append, report_every=0.0))
    assert reports, "progress was never reported"
    assert reports[-1] == 700
    assert reports == sorted(reports)
    assert all(0 < n <= 700 for n in reports)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_run_guard_fails_the_run_on_a_non_finite_loss(value: float):
    model = build("random")
    with pytest.raises(NonFiniteLossError, match=r"train/loss is .* at env step 40"):
        model.learn(500, callback=CallbackList([RecordLoss(40, value), RunGuard(500)]))
    assert model.num_timesteps == 40


def test_run_guard_lets_a_finite_loss_pass():
    model = build("random")
    model.learn(300, callback=CallbackList([RecordLoss(40, 1e30), RunGuard(300)]))
    assert model.num_timesteps == 300


# -- EpisodeRecorder --------------------------------------------------------------------------


class DoneCounter(BaseCallback):
    """Counts the env steps that ended an episode, and keeps their infos."""

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[dict[str, Any]] = []

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if done:
                self.infos.append(dict(info))
        return True


@pytest.mark.parametrize("kind", ["random", "tabular_q"])
def test_episode_recorder_rows_on_a_real_run(kind: str):
    budget = 1_500
    model = build(kind, env_id=SHORT_ENV_ID)
    recorder, counter = EpisodeRecorder(), DoneCounter()
    model.learn(budget, callback=CallbackList([recorder, counter, RunGuard(budget)]))
    rows = recorder.rows

    assert len(rows) == len(counter.infos) > 10
    assert [r.episode for r in rows] == list(range(len(rows)))
    assert rows[0].start_step == 0
    for previous, row in itertools.pairwise(rows):
        assert row.start_step == previous.end_step
        assert row.wall_time_s >= previous.wall_time_s
    for row, info in zip(rows, counter.infos):
        assert row.length == row.end_step - row.start_step == info["episode"]["l"]
        assert row.episode_return == float(row.length)  # CartPole: reward 1 per step
        assert row.terminated or row.truncated
        assert row.truncated == (row.length == 25)  # the time limit
        assert row.success == (row.truncated and not row.terminated)  # a fall on the last step is no success
    assert rows[-1].end_step <= budget
    assert budget - rows[-1].end_step < 25  # the unfinished last episode is not a row
    assert any(r.success for r in rows) and any(not r.success for r in rows)


def test_episode_recorder_refuses_an_env_without_monitor():
    from stable_baselines3.common.vec_env import DummyVecEnv

    from custom_agents import RandomAgent

    env = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    agent = RandomAgent(env, seed=0)
    with pytest.raises(RuntimeError, match="Monitor"):
        agent.learn(200, callback=EpisodeRecorder())


def test_episode_recorder_marks_no_success_without_the_success_marker():
    single_thread()
    resolved = resolve_kind("random")
    model = build_model(resolved, SHORT_ENV_ID, 0, resolved.resolve({}))[1]  # no rules: a plain env
    recorder = EpisodeRecorder()
    model.learn(500, callback=CallbackList([recorder, RunGuard(500)]))
    assert any(r.truncated and not r.terminated for r in recorder.rows)  # would be a success by CartPole's rule
    assert not any(r.success for r in recorder.rows)


# -- Evaluator --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "budget", "eval_freq", "points"),
    [
        ("random", 1_100, 500, [0, 500, 1_000, 1_100]),  # the end is not a multiple of eval_freq
        ("random", 1_000, 500, [0, 500, 1_000]),  # the end is: evaluated once, not twice
        ("sb3_dqn", 1_000, 300, [0, 300, 600, 900, 1_000]),
        ("custom_dqn", 1_000, 300, [0, 300, 600, 900, 1_000]),
    ],
)
def test_evaluator_evaluates_at_zero_every_eval_freq_and_at_the_end_once_each(
    kind: str, budget: int, eval_freq: int, points: list[int]
):
    n_episodes = 3
    hyperparameters = DQN_NO_TRAINING.get(kind, {})
    model = build(kind, **hyperparameters)
    evaluator = Evaluator("CartPole-v1", eval_freq, n_episodes, EVAL_SEED_BASE, CARTPOLE)
    try:
        model.learn(budget, callback=CallbackList([evaluator, RunGuard(budget)]))
    finally:
        evaluator.close()
    steps = [r.eval_step for r in evaluator.rows]
    assert sorted(set(steps)) == points
    assert steps == sorted(steps)
    for point in points:
        rows = [r for r in evaluator.rows if r.eval_step == point]
        assert [r.episode for r in rows] == list(range(n_episodes))
        assert [r.eval_seed for r in rows] == [EVAL_SEED_BASE + i for i in range(n_episodes)]
        for r in rows:
            assert 1 <= r.length <= 500
            assert r.episode_return == float(r.length)
            assert r.success == (r.length == 500)
    assert evaluator.eval_time_s > 0


def test_evaluator_episodes_start_from_the_seeded_states():
    """Evaluation episode i starts from `reset(seed=eval_seed + i)` at every evaluation point."""
    starts: list[np.ndarray] = []

    class ResetRecorder(gym.Wrapper):
        def reset(self, **kwargs: Any):
            obs, info = super().reset(**kwargs)
            starts.append(obs.copy())
            return obs, info

    model = build("random")
    evaluator = Evaluator("CartPole-v1", 250, 4, 123)
    evaluator.envs = [ResetRecorder(env) for env in evaluator.envs]
    try:
        model.learn(500, callback=CallbackList([evaluator, RunGuard(500)]))
    finally:
        evaluator.close()
    reference = gym.make("CartPole-v1")
    expected = [reference.reset(seed=123 + i)[0] for i in range(4)]
    assert len(starts) == 3 * 4  # steps 0, 250, 500
    for i, obs in enumerate(starts):
        np.testing.assert_array_equal(obs, expected[i % 4])
    assert not np.array_equal(expected[0], expected[1])
