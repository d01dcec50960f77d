"""The one env factory every agent trains and is evaluated on.

Training:   gym.make(env_id) -> SuccessInfo -> Monitor -> DummyVecEnv (one env),
            first reset seeded with the run's seed, action space seeded with it too.
Evaluation: gym.make(env_id) -> SuccessInfo, one env per evaluation episode, each reset with its
            own fixed seed (`harness.seeding.evaluation_seeds`).

CartPole draws from its generator only at reset, so for a given seed the sequence of training
episode start states is the same whatever actions an agent takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import DummyVecEnv


class SuccessInfo(gym.Wrapper):
    """Marks the end of an episode in its info: `is_success` is True when the time limit cut it
    (truncated and not terminated), False when it terminated (SB3 reads this key into
    `rollout/success_rate`); `terminated` and `truncated` keep gymnasium's two flags, which a
    `VecEnv` folds into one `done`."""

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            info["is_success"] = bool(truncated and not terminated)
            info["terminated"] = bool(terminated)
            info["truncated"] = bool(truncated)
        return obs, reward, terminated, truncated, info


def check_env_id(env_id: str) -> None:
    """Raise `ValueError` naming `env_id` when gymnasium does not know it."""
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; e.g. CartPole-v1, Acrobot-v1, MountainCar-v0")


def make_env(env_id: str, render_mode: str | None = None) -> gym.Env:
    """`gym.make(env_id)` with the success marker: the base of every training and evaluation env."""
    check_env_id(env_id)
    return SuccessInfo(gym.make(env_id, render_mode=render_mode))


def make_training_env(env_id: str, seed: int) -> DummyVecEnv:
    """A one-env `DummyVecEnv` over `Monitor(make_env(env_id))`, seeded as SB3 seeds it: the
    first reset uses `seed`, and the action space is seeded with `seed`."""
    from stable_baselines3.common.monitor import Monitor  # SB3 (and torch) only where an env is made
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: Monitor(make_env(env_id))])
    venv.seed(seed)
    venv.action_space.seed(seed)
    return venv


def make_eval_envs(env_id: str, n_envs: int, render_mode: str | None = None) -> list[gym.Env]:
    """`n_envs` evaluation envs, one per evaluation episode (reset them with their own seeds)."""
    return [make_env(env_id, render_mode=render_mode) for _ in range(n_envs)]
