"""What every agent with SB3's algorithm surface does the same way, written once: the callback
wrapping at the start of `learn` and the log dump of SB3's rollout and time keys.

`BaseAgent` (the hand-written agents) and the harness's wrapper of the assignment's classes both
use them, so a stock callback and a log reader see the same things from either.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.logger import Logger


def wrap_callback(callback: Any, progress_bar: bool = False) -> BaseCallback:
    """SB3's `_init_callback`: a list becomes a `CallbackList`, a function (or None) a
    `ConvertCallback`, and `progress_bar` adds a `ProgressBarCallback`."""
    if isinstance(callback, list):
        callback = CallbackList(callback)
    if not isinstance(callback, BaseCallback):
        callback = ConvertCallback(callback)
    if progress_bar:
        callback = CallbackList([callback, ProgressBarCallback()])
    return callback


def record_rollout_logs(
    logger: Logger,
    *,
    num_timesteps: int,
    timesteps_at_start: int,
    start_time_ns: int,
    episodes: int,
    episode_infos: Iterable[Mapping[str, float]],
    successes: Iterable[bool],
) -> None:
    """Record SB3's keys of a log dump (`time/episodes`, `rollout/ep_rew_mean`, `rollout/ep_len_mean`,
    `rollout/success_rate`, `time/fps`, `time/time_elapsed`, `time/total_timesteps`) as SB3's
    off-policy `dump_logs` does: fps over this `learn` call's steps. The caller adds its own keys
    and dumps."""
    time_elapsed = max((time.time_ns() - start_time_ns) / 1e9, sys.float_info.epsilon)
    fps = int((num_timesteps - timesteps_at_start) / time_elapsed)
    infos = list(episode_infos)
    success = list(successes)
    logger.record("time/episodes", episodes, exclude="tensorboard")
    if infos:
        logger.record("rollout/ep_rew_mean", float(np.mean([ep["r"] for ep in infos])))
        logger.record("rollout/ep_len_mean", float(np.mean([ep["l"] for ep in infos])))
    logger.record("time/fps", fps)
    logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
    logger.record("time/total_timesteps", num_timesteps, exclude="tensorboard")
    if success:
        logger.record("rollout/success_rate", float(np.mean(success)))


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """`warnings.warn` attributed to the first caller outside `custom_agents` (the user's line
    that built the agent or called `learn`), however deep inside the agent it is raised."""
    frame, level = sys._getframe(1), 2  # stacklevel 1 is this function, 2 its caller
    while frame is not None and frame.f_globals.get("__name__", "").startswith("custom_agents"):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


__all__ = ["record_rollout_logs", "warn_caller", "wrap_callback"]
