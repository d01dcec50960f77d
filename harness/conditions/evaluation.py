"""Evaluation episodes stepped together: one batched `predict` per step for all running episodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from harness.conditions.seeding import isolated_random_state


class Predictor(Protocol):
    """Anything with SB3's `predict` (every agent of this project, and SB3's algorithms)."""

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, Any]: ...


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluation episode."""

    seed: int
    """The seed its env was reset with."""
    episode_return: float
    """Sum of rewards."""
    length: int
    """Env steps."""
    success: bool
    """A success by the env profile's rule (`info["is_success"]` of `harness.conditions.envs.SuccessInfo`;
    False for an env without one)."""


def run_episodes(
    model: Predictor,
    envs: Sequence[gym.Env],
    seeds: Sequence[int],
    deterministic: bool = True,
    on_step: Callable[[int, gym.Env], None] | None = None,
) -> list[EpisodeResult]:
    """Play one episode in each env, env i reset with `seeds[i]`, all stepped together.

    Each step calls `model.predict` once on the observations of the episodes still running
    (shape (n_running, *obs_shape)); a finished episode's env is not stepped again. A model with
    an `episode_policy()` (an agent of the assignment's shape, whose `act` sees one episode at a
    time) is asked instead for one policy per episode, called `policy(observation, reward)` with
    the reward of the step that led to the observation (0.0 after the reset). `on_step(i, env)`,
    when given, is called after env i's reset and after each of its steps (to render it).
    Returns the episodes in the order of `seeds`.
    """
    if len(envs) != len(seeds):
        raise ValueError(f"{len(envs)} envs for {len(seeds)} seeds")
    first = []
    for i, (env, seed) in enumerate(zip(envs, seeds)):
        first.append(env.reset(seed=int(seed))[0])
        if on_step is not None:
            on_step(i, env)
    obs = np.stack(first)
    policies = [model.episode_policy() for _ in envs] if hasattr(model, "episode_policy") else None
    rewards = [0.0] * len(envs)
    returns = [0.0] * len(envs)
    lengths = [0] * len(envs)
    success = [False] * len(envs)
    running = list(range(len(envs)))
    while running:
        if policies is not None:
            actions = np.array([policies[i](obs[i], rewards[i]) for i in running])
        else:
            actions, _ = model.predict(obs[running], deterministic=deterministic)
        actions = np.asarray(actions)
        if actions.ndim > 1 and actions.shape[1:] == (1,):  # a Discrete action given as [a]
            actions = actions[:, 0]
        still_running = []
        for i, action in zip(running, actions):
            ob, reward, terminated, truncated, info = envs[i].step(action)
            if on_step is not None:
                on_step(i, envs[i])
            rewards[i] = float(reward)
            returns[i] += rewards[i]
            lengths[i] += 1
            if terminated or truncated:
                success[i] = bool(info.get("is_success", False))
            else:
                obs[i] = ob
                still_running.append(i)
        running = still_running
    return [EpisodeResult(int(seed), returns[i], lengths[i], success[i]) for i, seed in enumerate(seeds)]


def play_evaluation(
    model: Predictor,
    envs: Sequence[gym.Env],
    seeds: Sequence[int],
    step: int,
    on_step: Callable[[int, gym.Env], None] | None = None,
) -> list[EpisodeResult]:
    """The evaluation of `model` after `step` env steps of training: `run_episodes` with the
    deterministic policy, whatever it draws from `random`, numpy's or torch's global generator
    coming from a stream of its own (seeded by the first reset seed plus `step`) and leaving the
    caller's where it was. The same model, seeds and step always play the same episodes: a replay
    of a run's final evaluation plays it again exactly."""
    with isolated_random_state(int(seeds[0]) + int(step)):
        return run_episodes(model, envs, seeds, deterministic=True, on_step=on_step)
