"""Env profiles (`harness.profiles`) checked against raw episodes.

Every episode here is played through `harness.envs.make_env(env_id, rules)` with a seeded policy
(uniform random, or a scripted one that reaches the goal), and the wrapper's
`info["is_success"]` is compared with the rule computed from the episode's own (terminated,
truncated, return). The key cases: a goal env's time-limit end is a failure, CartPole's is a
success, FrozenLake's goal (return 1) succeeds and its holes (terminated, return 0) fail.
Then `profile_for`, `SuccessRule` and normalisation, a study's declarations (parsed, and
followed by a real tiny run's `episodes.csv`), and CliffWalking under the profile's time limit.
"""

from __future__ import annotations

import importlib.util
import json
import math
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from helpers import read_csv, study_text

from harness.analysis import stats
from harness.conditions import PROFILES, EpisodeRules, ProfileError, SuccessRule, make_env, profile_for, time_limit
from harness.execution import PairTask, run_pair
from harness.studies import StudyError, parse_study, resolve_study

Policy = Callable[[Any, gym.Env], Any]


@dataclass(frozen=True)
class Episode:
    """One raw episode and what the wrapper said of it."""

    terminated: bool
    truncated: bool
    episode_return: float
    length: int
    is_success: bool
    info: dict[str, Any]


def play(env_id: str, policy: Policy, seed: int, rules: EpisodeRules | None = None) -> Episode:
    """One episode of `policy` through `make_env(env_id, rules)` (default: the env's profile),
    reset and action space seeded with `seed`; the raw flags and return are summed here, from
    the values `step` returned, independently of the wrapper."""
    rules = rules if rules is not None else PROFILES[env_id].episode_rules
    env = make_env(env_id, rules)
    try:
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        total, length = 0.0, 0
        while True:
            obs, reward, terminated, truncated, info = env.step(policy(obs, env))
            total += float(reward)
            length += 1
            if not (terminated or truncated):
                assert "is_success" not in info, "is_success is marked only at an episode's end"
                continue
            return Episode(bool(terminated), bool(truncated), total, length, info["is_success"], info)
    finally:
        env.close()


def random_policy(obs: Any, env: gym.Env) -> Any:
    return env.action_space.sample()


def mountain_car_pump(obs: np.ndarray, env: gym.Env) -> int:
    """Energy pumping: push in the direction of the velocity (reaches the flag in ~120 steps)."""
    return 2 if obs[1] >= 0 else 0


def acrobot_swing(obs: np.ndarray, env: gym.Env) -> int:
    """Torque in the direction of the second joint's angular velocity (swings up in < 150 steps)."""
    return 2 if obs[5] > 0 else 0


def cartpole_balance(obs: np.ndarray, env: gym.Env) -> int:
    """A linear controller on (x, x_dot, theta, theta_dot) that keeps the pole up for 500 steps."""
    return int(10 * obs[2] + obs[3] + 0.1 * obs[0] + 0.5 * obs[1] > 0)


def planned_policy(env_id: str, gamma: float = 0.99) -> Policy:
    """The optimal policy of a toy-text env by value iteration on its transition table `P`
    (FrozenLake, Taxi, CliffWalking): a policy that reaches the goal (FrozenLake: as often as
    its slippery ice allows)."""
    env = gym.make(env_id)
    table = env.unwrapped.P
    n_states, n_actions = env.observation_space.n, env.action_space.n
    env.close()
    values = np.zeros(n_states)
    for _ in range(10_000):
        q = np.array(
            [
                [
                    sum(p * (r + gamma * values[s2] * (not done)) for p, s2, r, done in table[s][a])
                    for a in range(n_actions)
                ]
                for s in range(n_states)
            ]
        )
        new = q.max(axis=1)
        if np.max(np.abs(new - values)) < 1e-9:
            break
        values = new
    best = q.argmax(axis=1)
    return lambda obs, env: int(best[int(obs)])


def assert_marked_by_rule(episode: Episode, rule: SuccessRule) -> None:
    """The wrapper's marks equal the rule applied to the raw episode."""
    assert episode.is_success == rule(episode.terminated, episode.truncated, episode.episode_return)
    assert episode.info["terminated"] == episode.terminated
    assert episode.info["truncated"] == episode.truncated


def _needs_box2d(env_id: str) -> list[Any]:
    if env_id.startswith("LunarLander") and importlib.util.find_spec("Box2D") is None:
        return [pytest.mark.skip(reason="Box2D is not installed (gymnasium[box2d])")]
    return []


# ----------------------------------------------------------------------------------------------
# The success invariant on raw episodes


@pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date")
@pytest.mark.parametrize("env_id", [pytest.param(e, marks=_needs_box2d(e)) for e in PROFILES])
def test_random_episodes_are_marked_by_the_profiles_rule(env_id: str) -> None:
    profile = PROFILES[env_id]
    limit = time_limit(env_id, profile.episode_rules)
    for seed in range(4):
        episode = play(env_id, random_policy, seed)
        assert_marked_by_rule(episode, profile.rule)
        assert episode.length <= limit
        if episode.truncated:
            assert episode.length == limit


def test_mountain_car_time_limit_end_fails_and_reaching_the_flag_succeeds() -> None:
    for seed in range(3):
        limit = play("MountainCar-v0", random_policy, seed)
        assert (limit.terminated, limit.truncated, limit.length, limit.episode_return) == (False, True, 200, -200.0)
        assert limit.is_success is False
        goal = play("MountainCar-v0", mountain_car_pump, seed)
        assert goal.terminated and not goal.truncated and goal.length < 200
        assert goal.is_success is True
        assert_marked_by_rule(goal, PROFILES["MountainCar-v0"].rule)


def test_acrobot_time_limit_end_fails_and_swinging_up_succeeds() -> None:
    for seed in range(2):
        limit = play("Acrobot-v1", random_policy, seed)
        assert (limit.terminated, limit.truncated, limit.length, limit.episode_return) == (False, True, 500, -500.0)
        assert limit.is_success is False
        goal = play("Acrobot-v1", acrobot_swing, seed)
        assert goal.terminated and not goal.truncated and goal.length < 500
        assert goal.is_success is True


def test_cartpole_time_limit_end_succeeds_and_a_fall_fails() -> None:
    for seed in range(2):
        fall = play("CartPole-v1", random_policy, seed)
        assert fall.terminated and not fall.truncated and fall.length < 500
        assert fall.is_success is False
        survived = play("CartPole-v1", cartpole_balance, seed)
        assert (survived.terminated, survived.truncated, survived.length) == (False, True, 500)
        assert survived.episode_return == 500.0
        assert survived.is_success is True


def test_cartpole_under_a_declared_shorter_time_limit_succeeds_at_that_limit() -> None:
    rules = EpisodeRules("truncated", max_episode_steps=10)
    episode = play("CartPole-v1", cartpole_balance, 0, rules)
    assert (episode.truncated, episode.length, episode.is_success) == (True, 10, True)


def test_frozen_lake_goal_succeeds_and_a_hole_fails() -> None:
    policy = planned_policy("FrozenLake-v1")
    episodes = [play("FrozenLake-v1", policy, seed) for seed in range(30)]
    episodes += [play("FrozenLake-v1", random_policy, seed) for seed in range(10)]
    for episode in episodes:
        assert_marked_by_rule(episode, PROFILES["FrozenLake-v1"].rule)
    goals = [e for e in episodes if e.episode_return == 1.0]
    holes = [e for e in episodes if e.terminated and e.episode_return == 0.0]
    assert goals and holes
    assert all(e.terminated and e.is_success for e in goals)
    assert not any(e.is_success for e in holes)  # terminated, yet a failure: success is the goal's reward
    for episode in episodes:
        if episode.truncated:
            assert episode.length == 100 and episode.is_success is False


@pytest.mark.parametrize(("env_id", "limit"), [("Taxi-v4", 200), ("CliffWalking-v1", 100)])
def test_toy_text_goal_succeeds_and_time_limit_end_fails(env_id: str, limit: int) -> None:
    rule = PROFILES[env_id].rule
    goal = play(env_id, planned_policy(env_id), 0)
    assert goal.terminated and not goal.truncated and goal.is_success is True
    assert_marked_by_rule(goal, rule)
    if env_id == "CliffWalking-v1":
        assert (goal.length, goal.episode_return) == (13, -13.0)  # the profile's best return
    for seed in range(2):
        lost = play(env_id, random_policy, seed)
        assert (lost.terminated, lost.truncated, lost.length) == (False, True, limit)
        assert lost.is_success is False


def test_make_env_without_rules_is_unmarked() -> None:
    env = make_env("CartPole-v1")
    env.reset(seed=0)
    info: dict[str, Any] = {}
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
    env.close()
    assert "is_success" not in info


# ----------------------------------------------------------------------------------------------
# profile_for, SuccessRule, normalisation


def test_a_declared_rule_goes_over_the_profile() -> None:
    base = PROFILES["CartPole-v1"]
    profile = profile_for("CartPole-v1", {"success": "return >= 200"})
    assert profile.success == "return >= 200"
    assert profile.rule(terminated=True, truncated=False, episode_return=250.0) is True
    assert profile.rule(terminated=False, truncated=True, episode_return=150.0) is False
    assert (profile.task, profile.return_range, profile.threshold) == (base.task, base.return_range, base.threshold)
    assert "200" in profile.success_words
    declared = profile_for("Acrobot-v1", {"return_range": [-400, 0], "threshold": -80, "max_episode_steps": 300})
    assert declared.return_range == (-400.0, 0.0)
    assert declared.range_source == "declared by the study"
    assert (declared.threshold, declared.max_episode_steps, declared.success) == (-80.0, 300, "terminated")


def test_declaring_the_profiles_own_values_is_the_profile() -> None:
    base = PROFILES["Acrobot-v1"]
    same = profile_for("Acrobot-v1", {"success": "terminated", "return_range": (-500, 0), "threshold": -100})
    assert same is base
    assert profile_for("Acrobot-v1", None) is base
    assert profile_for("Acrobot-v1", {"success": None}) is base


def test_an_env_without_a_profile_is_refused_naming_what_to_declare() -> None:
    assert "Pendulum-v1" not in PROFILES
    with pytest.raises(ProfileError) as refused:
        profile_for("Pendulum-v1")
    message = str(refused.value)
    assert "\n" not in message
    assert "'Pendulum-v1'" in message
    assert "declare success and return_range" in message
    with pytest.raises(ProfileError, match=r"declare return_range for it") as half:
        profile_for("Pendulum-v1", {"success": "return >= -200"})
    assert "success and" not in str(half.value)


def test_a_declared_profile_is_accepted_for_an_env_without_one() -> None:
    profile = profile_for("Pendulum-v1", {"success": "return >= -200", "return_range": [-1700, 0]})
    assert (profile.task, profile.success, profile.return_range) == ("declared", "return >= -200", (-1700.0, 0.0))
    assert profile.threshold == -200.0  # the rule's X when no threshold is declared
    assert profile.range_source == "declared by the study"
    survival = profile_for("Pendulum-v1", {"success": "truncated", "return_range": [-1700, 0], "threshold": -300})
    assert (survival.threshold, survival.max_episode_steps) == (-300.0, None)
    goal = profile_for("Pendulum-v1", {"success": "terminated", "return_range": [-1700, -100]})
    assert goal.threshold == -100.0  # no X: the top of the range


@pytest.mark.parametrize(
    ("declared", "match"),
    [
        ({"success": "sometimes"}, "success must be one of"),
        ({"success": "return > 5"}, "success must be one of"),
        ({"success": "return >= x"}, "success must be one of"),
        ({"return_range": [1, 1]}, "lo < hi"),
        ({"return_range": [2, 1]}, "lo < hi"),
        ({"return_range": [0, math.inf]}, "finite"),
        ({"return_range": [0]}, "two numbers"),
        ({"return_range": ["a", "b"]}, "two numbers"),
        ({"return_range": 5}, "two numbers"),
    ],
)
def test_bad_declarations_are_refused(declared: dict[str, Any], match: str) -> None:
    values = {"success": "terminated", "return_range": [0, 1], **declared}
    with pytest.raises(ProfileError, match=match):
        profile_for("Pendulum-v1", values)
    with pytest.raises(ProfileError, match=match):
        profile_for("CartPole-v1", declared)  # over a profile too


def test_success_rule_parsing() -> None:
    rule = SuccessRule("return >= -100.5")
    assert rule.min_return == -100.5
    assert rule(False, True, -100.5) is True
    assert rule(True, False, -100.5000001) is False
    assert "-100.5" in rule.describe()
    assert SuccessRule("return>=1e2").min_return == 100.0
    assert SuccessRule("  return >= +.5 ").min_return == 0.5
    assert SuccessRule("truncated").min_return is None
    truncated, terminated = SuccessRule("truncated"), SuccessRule("terminated")
    assert [truncated(*flags, 0.0) for flags in ((False, True), (True, False), (True, True), (False, False))] == [
        True,
        False,
        False,
        False,
    ]
    assert [terminated(*flags, 0.0) for flags in ((False, True), (True, False), (True, True))] == [False, True, True]
    for bad in ("sometimes", "Truncated", "return >= ", "return => 1", "return >= 1 2", ""):
        with pytest.raises(ProfileError, match=r'"truncated", "terminated", "return >= X"'):
            SuccessRule(bad)


@pytest.mark.parametrize("env_id", list(PROFILES))
def test_normalisation_is_clipped_to_the_unit_interval(env_id: str) -> None:
    profile = PROFILES[env_id]
    lo, hi = profile.return_range
    assert float(stats.normalise(lo, lo, hi)) == 0.0
    assert float(stats.normalise(hi, lo, hi)) == 1.0
    assert float(stats.normalise((lo + hi) / 2, lo, hi)) == pytest.approx(0.5)
    assert float(stats.normalise(lo - 1_000.0, lo, hi)) == 0.0
    assert float(stats.normalise(hi + 1_000.0, lo, hi)) == 1.0
    returns = np.linspace(lo - (hi - lo), hi + (hi - lo), 301)
    normalised = stats.normalise(returns, lo, hi)
    assert normalised.shape == returns.shape
    assert normalised.min() == 0.0 and normalised.max() == 1.0
    assert np.all(np.diff(normalised) >= 0)


# ----------------------------------------------------------------------------------------------
# Studies


def one_env_study(env_id: str, *extra: str, name: str = "profiles", agent: str = 'kind = "random"') -> str:
    """One agent `random` on `env_id`, seed 0, 600 steps; `extra` lines in `[study]`."""
    return study_text(
        name, env_id=env_id, seeds=(0,), total_timesteps=600, eval_freq=300, n_eval_episodes=2, extra=extra,
        agents={"random": agent},
    )  # fmt: skip


def test_a_study_on_an_env_without_a_profile_is_refused_in_one_line() -> None:
    with pytest.raises(StudyError) as refused:
        parse_study(one_env_study("Pendulum-v1"), "pendulum.toml")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("pendulum.toml: study: ")
    assert "success" in message and "return_range" in message


def test_a_study_across_envs_names_the_env_table_to_declare_in() -> None:
    text = "\n".join(
        [
            "[study]",
            'name = "x"',
            'env_ids = ["CartPole-v1", "Pendulum-v1"]',
            "seeds = [0]",
            "total_timesteps = 600",
            "eval_freq = 300",
            "",
            "[agents.random]",
            'kind = "random"',
        ]
    )
    with pytest.raises(StudyError, match=r'envs\."Pendulum-v1": .*declare success and return_range'):
        parse_study(text, "x.toml")
    declared = text.replace(
        "\n\n[agents", '\n\n[envs."Pendulum-v1"]\nsuccess = "return >= -200"\nreturn_range = [-1700, 0]\n\n[agents'
    )
    study = parse_study(declared, "x.toml")
    assert [view.profile.task for view in study.split()] == ["survival", "declared"]


def test_a_study_across_envs_declares_per_env_not_in_study() -> None:
    text = "\n".join(
        [
            "[study]",
            'name = "x"',
            'env_ids = ["CartPole-v1", "Acrobot-v1"]',
            'success = "truncated"',
            "seeds = [0]",
            "total_timesteps = 600",
            "eval_freq = 300",
            "",
            "[agents.random]",
            'kind = "random"',
        ]
    )
    with pytest.raises(
        StudyError, match=r'study\.success: a study across envs declares it per env, in \[envs\."<env id>"\]'
    ):
        parse_study(text, "x.toml")


def test_a_study_with_a_declaration_parses_and_writes_the_profile_out() -> None:
    study = parse_study(
        one_env_study("Pendulum-v1", 'success = "return >= -200"', "return_range = [-1700, 0]"), "pendulum.toml"
    )
    assert study.profile.task == "declared"
    assert study.episode_rules == EpisodeRules("return >= -200", None)
    assert (study.settings.success, study.settings.return_range, study.settings.threshold) == (
        "return >= -200",
        (-1700.0, 0.0),
        -200.0,
    )
    profiled = parse_study(one_env_study("MountainCar-v0"), "mc.toml")
    assert (profiled.settings.success, profiled.settings.return_range) == ("terminated", (-200.0, 0.0))


@pytest.fixture
def unlimited_env() -> str:
    """An env registered without a time limit (and without a profile)."""
    env_id = "UnlimitedPendulum-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv")
    return env_id


def test_an_env_without_a_time_limit_needs_max_episode_steps(unlimited_env: str) -> None:
    declared = ('success = "truncated"', "return_range = [-1700, 0]")
    with pytest.raises(StudyError, match=r"no time limit.*declare max_episode_steps"):
        parse_study(one_env_study(unlimited_env, *declared), "u.toml")
    study = parse_study(one_env_study(unlimited_env, *declared, "max_episode_steps = 25"), "u.toml")
    assert study.episode_rules == EpisodeRules("truncated", 25)
    episode = play(unlimited_env, random_policy, 0, study.episode_rules)
    assert (episode.truncated, episode.length, episode.is_success) == (True, 25, True)


def run_one(text: str, tmp_path: pathlib.Path) -> tuple[dict[str, Any], list[dict[str, str]], list[dict[str, str]]]:
    """A real tiny run of the study's `random` agent, seed 0: (run.json, episodes.csv, evals.csv rows)."""
    study = resolve_study(parse_study(text, "test.toml"))
    out = tmp_path / "run"
    record = run_pair(PairTask(study, "random", 0), out).to_dict()
    assert record["status"] == "complete", record.get("error")
    return json.loads((out / "run.json").read_text()), read_csv(out / "episodes.csv"), read_csv(out / "evals.csv")


def test_a_studys_declaration_overrides_the_profile_in_a_real_run(tmp_path: pathlib.Path) -> None:
    # Random CartPole episodes last ~20 steps: none reaches the time limit (the profile's success),
    # while some reach a return of 20 (the declared one).
    study = parse_study(one_env_study("CartPole-v1", 'success = "return >= 20"'), "test.toml")
    assert study.profile.success == "return >= 20"
    assert study.profile.return_range == PROFILES["CartPole-v1"].return_range  # the rest is the profile's
    record, episodes, evals = run_one(one_env_study("CartPole-v1", 'success = "return >= 20"'), tmp_path)
    assert record["profile"] == {"success": "return >= 20", "max_episode_steps": None}
    assert episodes
    for row in episodes + evals:
        assert row["success"] == ("true" if float(row["return"]) >= 20 else "false")
    assert not any(row["truncated"] == "true" for row in episodes)
    assert any(row["success"] == "true" for row in episodes)
    assert any(row["success"] == "false" for row in episodes)


def test_cliff_walking_episodes_never_exceed_the_profiles_time_limit(tmp_path: pathlib.Path) -> None:
    assert gym.spec("CliffWalking-v1").max_episode_steps is None
    assert PROFILES["CliffWalking-v1"].max_episode_steps == 100
    study = parse_study(one_env_study("CliffWalking-v1"), "cliff.toml")
    assert study.settings.max_episode_steps == 100
    record, episodes, evals = run_one(one_env_study("CliffWalking-v1"), tmp_path)
    assert record["profile"] == {"success": "terminated", "max_episode_steps": 100}
    assert len(episodes) >= 5
    for row in episodes:
        length = int(row["length"])
        assert length <= 100
        assert (row["truncated"] == "true") == (length == 100)  # TimeLimit truncates at its 100th step
        assert row["success"] == row["terminated"]
    for row in evals:
        assert int(row["length"]) <= 100
        assert row["success"] == ("true" if int(row["length"]) < 100 else "false")
