"""The one env factory every agent trains and is evaluated on.

Training:   gym.make(env_id) -> SuccessInfo(rule) -> Monitor -> DummyVecEnv (one env),
            first reset seeded with the run's seed, action space seeded with it too.
Evaluation: gym.make(env_id) -> SuccessInfo(rule), one env per evaluation episode, each reset
            with its own fixed seed (`harness.conditions.seeding.evaluation_seeds`).

(`EpisodeRules`: the env profile's success rule and the time limit it sets, if any.)

`SuccessInfo` marks each episode's end with the env profile's success rule (`harness.conditions.profiles`),
so `episodes.csv`, `evals.csv` and TensorBoard's `rollout/success_rate` all say what success
means on that env. An env id may be `"module:EnvId-v0"` (gymnasium's form): the module, found in
the study's code folder or on `sys.path`, registers the env when imported.

CartPole draws from its generator only at reset, so for a given seed the sequence of training
episode start states is the same whatever actions an agent takes.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym

from harness import imports
from harness.conditions.profiles import EpisodeRules, SuccessRule

if TYPE_CHECKING:  # type only: SB3 (and torch) are imported where a training env is made
    from stable_baselines3.common.vec_env import DummyVecEnv


class SuccessInfo(gym.Wrapper):
    """Marks the end of an episode in its info: `is_success` by the env profile's rule (SB3 reads
    this key into `rollout/success_rate`); `terminated` and `truncated` keep gymnasium's two
    flags, which a `VecEnv` folds into one `done`. Overrides `reset` and `step` only.

    :param rule: the profile's success rule (it may need the episode's return, kept here).
    """

    def __init__(self, env: gym.Env, rule: SuccessRule) -> None:
        super().__init__(env)
        self.rule = rule
        self._return = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._return = 0.0
        return super().reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        self._return += float(reward)
        if terminated or truncated:
            info["is_success"] = self.rule(bool(terminated), bool(truncated), self._return)
            info["terminated"] = bool(terminated)
            info["truncated"] = bool(truncated)
        return obs, reward, terminated, truncated, info


def check_env_id(env_id: str, code_dir: pathlib.Path | None = None) -> None:
    """Raise `ValueError` naming `env_id` when gymnasium does not know it; an id
    `"module:EnvId"` imports its module first (from `code_dir` or `sys.path`)."""
    name = register_from(env_id, code_dir)
    if name not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; e.g. CartPole-v1, Acrobot-v1, MountainCar-v0")


def register_from(env_id: str, code_dir: pathlib.Path | None = None) -> str:
    """For an id `"module:EnvId"`, import the module (which registers the env); return the bare
    id. `ValueError` (one line) when the module does not import."""
    if ":" not in env_id:
        return env_id
    module, name = env_id.rsplit(":", 1)
    try:
        imports.import_module(module, code_dir)
    except imports.ImportPathError as error:
        raise ValueError(f"env id {env_id!r}: {error}") from None
    return name


def time_limit(env_id: str, rules: EpisodeRules | None) -> int | None:
    """The time limit episodes of `env_id` run under: the rules', else the env's own."""
    if rules is not None and rules.max_episode_steps is not None:
        return rules.max_episode_steps
    return gym.spec(env_id.rsplit(":", 1)[-1]).max_episode_steps


def make_env(env_id: str, rules: EpisodeRules | None = None, render_mode: str | None = None) -> gym.Env:
    """`gym.make(env_id)` (under the rules' time limit, when they set one) with the profile's
    success marker: the base of every training and evaluation env. Without rules (the agent
    contract, benchmarks) the env is gymnasium's own, unmarked."""
    name = env_id.rsplit(":", 1)[-1]
    kwargs: dict[str, Any] = {"render_mode": render_mode}
    if rules is not None and rules.max_episode_steps is not None:
        kwargs["max_episode_steps"] = rules.max_episode_steps
    env = gym.make(name, **kwargs)
    return SuccessInfo(env, rules.rule) if rules is not None else env


def make_training_env(env_id: str, seed: int, rules: EpisodeRules | None = None) -> DummyVecEnv:
    """A one-env `DummyVecEnv` over `Monitor(make_env(env_id, rules))`, seeded as SB3 seeds it:
    the first reset uses `seed`, and the action space is seeded with `seed`."""
    # SB3 (and torch) only where a training env is made: reading a study checks env ids here
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: Monitor(make_env(env_id, rules))])
    venv.seed(seed)
    venv.action_space.seed(seed)
    return venv


def make_eval_envs(
    env_id: str, n_envs: int, rules: EpisodeRules | None = None, render_mode: str | None = None
) -> list[gym.Env]:
    """`n_envs` evaluation envs, one per evaluation episode (reset them with their own seeds)."""
    return [make_env(env_id, rules, render_mode=render_mode) for _ in range(n_envs)]
